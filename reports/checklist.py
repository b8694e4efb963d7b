"""The checklist report: one view-model built from a ``diag.checklist.Checklist``, rendered as
text, Markdown, an HTML page fragment, a standalone HTML file with inline CSS, or JSON, in nb
or en. Titles and next steps come from ``reports.catalog_checklist``; values are escaped by the
Environment (the SVG pictures too, drawn in place by their own templates).
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from diag.checklist import Checklist, ChecklistItem, jsonable, reply_line
from diag.findings import Finding
from reports.catalog_auth import finding_text as auth_finding_text
from reports.catalog_checklist import CHECKLIST_CATALOG, CONJUNCTION
from reports.catalog_recipient import finding_text as recipient_finding_text
from reports.environment import render_report
from reports.svg import Picture, TimelineEvent, spf_tree_picture, timeline_picture
from reports.vocabulary import (
    FORMATS,
    Audience,
    Format,
    ItemKey,
    JsonObject,
    Language,
    ReportKind,
    Status,
    is_audience,
    is_item_key,
    is_status,
    language,
)

CHECKLIST_FORMATS = FORMATS[ReportKind.CHECKLIST]
_TEMPLATES = {
    Format.TEXT: "checklist.txt.j2",
    Format.MARKDOWN: "checklist.md.j2",
    Format.HTML: "checklist.html.j2",
    Format.PAGE: "checklist.page.html.j2",
}
_SKIP = frozenset(
    {
        "transcript",
        "attempts",
        "hosts",
        "allowlist",
        "identities",
        "test_sends",
        "probes",
        "probe",
        "attempt",
        "details",
        "senders",
        "spf_tree",
    }
)
_Evidence = Mapping[str, object]  # an item's evidence, read with care: diag leaves it untyped


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


def _mapping(value: object) -> _Evidence:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> tuple[object, ...]:
    return tuple(value) if isinstance(value, list | tuple) else ()


def phrase(key: str, lang: str, **values: object) -> str:
    """The catalog text for ``key`` in ``lang`` with ``values`` filled in (missing ones blank).

    Raises KeyError for a key the catalog does not have, ValueError for an unknown language.
    """
    text = CHECKLIST_CATALOG[language(lang)][key]
    return string.Formatter().vformat(text, (), _Blank(values))


def join_senders(senders: Sequence[object], lang: str) -> str:
    """``a``, ``a og b``, ``a, b og c`` (nb) / ``a and b`` (en)."""
    names = [str(s) for s in senders]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {CONJUNCTION[lang]} {names[-1]}"


@dataclass(frozen=True)
class ItemView:
    """One item as shown: title, status label, next step, evidence lines and pictures."""

    key: ItemKey
    status: Status
    status_label: str
    title: str
    next_step: str
    evidence: _Evidence
    facts: tuple[tuple[str, str], ...] = ()
    allowlist: tuple[str, ...] = ()
    transcript: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    pictures: tuple[Picture, ...] = ()
    notes: tuple[tuple[Finding, str, str], ...] = ()  # each finding, its severity, its sentence


@dataclass(frozen=True)
class ChecklistView:
    """Everything a checklist report shows, in one language."""

    address: str
    audience: Audience
    provider: str
    lang: Language
    items: tuple[ItemView, ...]
    findings: tuple[Finding, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    timeline: Picture | None = None

    @property
    def has_problems(self) -> bool:
        return any(i.status == "problem" for i in self.items)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def summary_status(self) -> str:
        """The worst status among the items that say something: problem, warning, todo, ok."""
        for status in ("problem", "warning", "todo", "not_checked"):
            if self.count(status):
                return status
        return "ok"

    @property
    def summary(self) -> str:
        """One sentence that agrees with the items: it counts problems and warnings, points at
        the checks left to the reader, and says "no problems" only when every item is OK."""
        worst = self.summary_status
        counts = {s: self.count(s) for s in ("problem", "warning", "todo", "not_checked")}
        return phrase(f"summary.{worst}", self.lang, **{f"{k}s": v for k, v in counts.items()})


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _reply(evidence: _Evidence, item: ChecklistItem) -> str:
    """The reply line an item cites: its own, its probe's, or a finding's (never a mapping)."""
    found = [_text(evidence.get("reply")), _text(_mapping(evidence.get("probe")).get("reply"))]
    found += [_text(f.evidence.get("reply")) for f in item.findings]
    return next((reply for reply in found if reply), "")


def format_time(value: object, lang: str) -> str:
    """An ISO 8601 time from the evidence as people read it in ``lang``, in UTC
    (``07.12.2026 kl. 16:01 UTC`` / ``2026-12-07 16:01 UTC``); other values unchanged."""
    moment = _parse_time(value)
    if moment is None:
        return "" if value is None else str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    parts = {
        "year": f"{moment.year:04d}",
        "month": f"{moment.month:02d}",
        "day": f"{moment.day:02d}",
        "hour": f"{moment.hour:02d}",
        "minute": f"{moment.minute:02d}",
    }
    return phrase("time.format", lang, **parts)


def _word(kind: str, value: object, lang: Language) -> str:
    """``value`` of a vocabulary (``kind.value`` in the catalog) in words; else as given."""
    key = f"{kind}.{value}"
    return phrase(key, lang) if key in CHECKLIST_CATALOG[lang] else str(value)


def _values(
    item: ChecklistItem, senders: Sequence[object], provider: str, lang: Language, address: str
) -> dict[str, object]:
    evidence: _Evidence = item.evidence
    values: dict[str, object] = {
        k: v for k, v in evidence.items() if isinstance(v, str | int | float)
    }
    for key in [k for k in values if k.endswith("_at")]:
        values[key] = format_time(values[key], lang)
    return {
        **values,
        "status": _word("outbox_status", evidence.get("status", ""), lang),
        "address": evidence.get("email") or address,
        "folder": _word("folder", evidence.get("folder", ""), lang),
        "senders": join_senders(senders, lang),
        "provider": phrase(f"provider.{provider}", lang),
        "reply": _reply(evidence, item),
        "expires_at": format_time(evidence.get("token_expires_at") or "", lang),
    }


def _listed(value: object) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


# How an evidence value reads: a vocabulary of the catalog, a time, yes/no, or as it is.
_FACT_WORDS = {
    "status": "outbox_status",
    "source": "source",
    "state": "link_state",
    "folder": "folder",
}


def _fact_value(key: str, value: object, lang: Language) -> str:
    if isinstance(value, bool):
        return phrase("value.yes" if value else "value.no", lang)
    if key.endswith("_at"):
        return format_time(value, lang)
    if key in _FACT_WORDS:
        return _word(_FACT_WORDS[key], value, lang)
    return _listed(value)


def _facts(evidence: _Evidence, lang: Language) -> tuple[tuple[str, str], ...]:
    """The evidence that a reader can use, labelled in ``lang``: only the keys the catalog
    names (``fact.<key>``), so internal keys and codes never reach the page."""
    catalog = CHECKLIST_CATALOG[lang]
    facts = [
        (catalog[f"fact.{key}"], _fact_value(str(key), value, lang))
        for key, value in evidence.items()
        if f"fact.{key}" in catalog and value is not None and value != ""
    ]
    for host in map(_mapping, _items(evidence.get("hosts"))):
        addresses = ", ".join(str(a) for a in _items(host.get("addresses")))
        facts.append(
            (catalog["fact.mx"], f"{host.get('preference')} {host.get('name')} ({addresses})")
        )
    for identity in map(_mapping, _items(evidence.get("identities"))):
        codes = ", ".join(str(c) for c in _items(identity.get("codes")))
        status = _word("identity_status", identity.get("status"), lang)
        facts.append((str(identity.get("address")), f"{status} {codes}".strip()))
    for send in map(_mapping, _items(evidence.get("test_sends"))):
        folder = _word("folder", send.get("folder"), lang)
        facts.append(
            (
                catalog["fact.test_send"],
                f"{send.get('identity')}: {folder}, "
                f"spf={send.get('spf')} dkim={send.get('dkim')} "
                f"dmarc={send.get('dmarc')}",
            )
        )
    return tuple(facts)


def _transcript(evidence: _Evidence) -> tuple[str, ...]:
    probe = evidence.get("probe") or next(iter(_items(evidence.get("probes"))), None)
    return tuple(str(line) for line in _items(_mapping(probe).get("transcript")))


def _pictures(evidence: _Evidence) -> tuple[Picture, ...]:
    identities = map(_mapping, _items(evidence.get("identities")))
    trees = [identity["spf_tree"] for identity in identities if identity.get("spf_tree")]
    return tuple(spf_tree_picture(tree) for tree in map(_mapping, trees))


_NEEDS_ACTION = ("problem", "warning", "todo")  # allowlisting steps only where there is work


def _step(item: ChecklistItem, lang: Language, audience: str) -> str:
    """The catalog key of the item's next step: the most specific of ``<key>.<status>``
    followed by the evidence's outcome (e.g. accepted, then bounced) or by the audience."""
    base = f"{item.key}.{item.status}"
    catalog = CHECKLIST_CATALOG[lang]
    for candidate in (f"{base}.{item.evidence.get('outcome')}", f"{base}.{audience}", base):
        if candidate in catalog:
            return candidate
    return ""


def _with_conflict(step: str, item: ChecklistItem, lang: Language) -> str:
    """The next step, and why a test send made just now disagrees with it, when one does."""
    code = item.evidence.get("conflict")
    if not code:
        return step
    return f"{step} {phrase(f'conflict.{code}', lang)}".strip()


def finding_note(finding: Finding, lang: Language) -> tuple[Finding, str, str]:
    """A finding as the checklist shows it in ``lang``: its severity and its sentence (the
    checklist's own wording, else the recipient or sender reports'; only a finding none of
    the catalogs words keeps its summary)."""
    catalog = CHECKLIST_CATALOG[lang]
    severity = catalog.get(f"checklist_severity.{finding.severity}", str(finding.severity))
    text = catalog.get(f"checklist_finding.{finding.code}")
    if text is None:
        text = recipient_finding_text(finding, lang)
    if text == finding.summary:
        text = auth_finding_text(finding, lang)
    return finding, severity, text


def _item_view(
    item: ChecklistItem,
    senders: Sequence[object],
    provider: str,
    lang: Language,
    checklist: Checklist,
) -> ItemView:
    key, status = item.key, item.status
    if not is_item_key(key) or not is_status(status):
        raise ValueError(f"unknown checklist item {key!r} or status {status!r}")
    values = _values(item, senders, provider, lang, checklist.address)
    allowlist = _mapping(item.evidence.get("allowlist"))
    allow_senders = _items(allowlist.get("senders")) or senders
    allow_values = {**values, "senders": join_senders(allow_senders, lang)}
    step = _step(item, lang, checklist.audience)
    return ItemView(
        key=key,
        status=status,
        status_label=phrase(f"status.{status}", lang),
        title=phrase(f"title.{key}", lang),
        next_step=_with_conflict(phrase(step, lang, **values) if step else "", item, lang),
        evidence=item.evidence,
        facts=_facts(item.evidence, lang),
        allowlist=tuple(
            phrase(f"allowlist.{s}", lang, **allow_values) for s in _items(allowlist.get("steps"))
        )
        if status in _NEEDS_ACTION
        else (),
        transcript=_transcript(item.evidence),
        findings=item.findings,
        pictures=_pictures(item.evidence),
        notes=tuple(finding_note(f, lang) for f in item.findings),
    )


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _attempt_event(attempt: _Evidence, lang: str) -> TimelineEvent | None:
    at = _parse_time(attempt.get("at"))
    found = attempt.get("code")
    code = found if isinstance(found, int) else 0
    status = (
        "problem" if code >= 500 or attempt.get("bounced") else "warning" if code >= 400 else "ok"
    )
    reply = reply_line(
        code or None, _text(attempt.get("enhanced_status")), _text(attempt.get("text"))
    )
    label = f"{attempt.get('relay', '')} {reply}".strip()
    if attempt.get("interrupted"):
        label, status = phrase("timeline.attempt_interrupted", lang), "warning"
    return TimelineEvent(at, label, status) if at is not None else None


def _evidence(checklist: Checklist, key: str) -> _Evidence:
    item = checklist.item(key)
    return item.evidence if item is not None else {}


def timeline_events(checklist: Checklist, *, lang: str = "en") -> list[TimelineEvent]:
    """The reset request, each delivery attempt, the pasted headers' Received hops and the
    link's use, from the items' evidence, labelled in ``lang``."""
    events: list[TimelineEvent] = []
    if at := _parse_time(_evidence(checklist, "reset.requested").get("requested_at")):
        events.append(TimelineEvent(at, phrase("timeline.reset_requested", lang)))
    for attempt in map(_mapping, _items(_evidence(checklist, "delivery.sent").get("attempts"))):
        if (event := _attempt_event(attempt, lang)) is not None:
            events.append(event)
    details = _mapping(_evidence(checklist, "spam.folder").get("details"))
    for hop in map(_mapping, _items(details.get("hops"))):
        if at := _parse_time(hop.get("at")):
            label = f"{hop.get('from') or '?'} -> {hop.get('by') or '?'}"
            events.append(TimelineEvent(at, label))
    if at := _parse_time(_evidence(checklist, "link.valid").get("token_used_at")):
        events.append(TimelineEvent(at, phrase("timeline.link_used", lang), "warning"))
    return events


def _senders(checklist: Checklist) -> tuple[object, ...]:
    blocks = _mapping(_evidence(checklist, "recipient.blocks_sender").get("allowlist"))
    found = _items(blocks.get("senders"))
    return found or _items(_evidence(checklist, "spam.folder").get("senders"))


def checklist_view(checklist: Checklist, *, lang: str) -> ChecklistView:
    """The view of ``checklist`` in ``lang``.

    Raises ValueError for an unknown language, audience, item key or status.
    """
    chosen = language(lang)
    audience = checklist.audience
    if not is_audience(audience):
        raise ValueError(f"unknown audience {audience!r}")
    catalog = CHECKLIST_CATALOG[chosen]
    provider = checklist.provider if f"provider.{checklist.provider}" in catalog else "unknown"
    senders = _senders(checklist)
    items = tuple(_item_view(i, senders, provider, chosen, checklist) for i in checklist.items)
    events = timeline_events(checklist, lang=chosen)
    labels = {k.removeprefix("ui."): v for k, v in catalog.items() if k.startswith("ui.")}
    labels["audience_name"] = phrase(f"audience.{audience}", chosen)
    labels["provider_name"] = phrase(f"provider.{provider}", chosen)
    return ChecklistView(
        address=checklist.address,
        audience=audience,
        provider=provider,
        lang=chosen,
        items=items,
        findings=checklist.findings,
        labels=labels,
        timeline=timeline_picture(events, lang=chosen) if events else None,
    )


def checklist_json(view: ChecklistView) -> JsonObject:
    """The checklist JSON of DESIGN.md: ``{address, audience, provider, items: [{key, status,
    title, evidence, next_step, findings}], findings}``."""
    return {
        "address": view.address,
        "audience": view.audience,
        "provider": view.provider,
        "items": [
            {
                "key": i.key,
                "status": i.status,
                "title": i.title,
                "evidence": jsonable(i.evidence),
                "next_step": i.next_step,
                "findings": [f.to_dict() for f in i.findings],
            }
            for i in view.items
        ],
        "findings": [f.to_dict() for f in view.findings],
    }


def render_checklist(view: ChecklistView, *, fmt: str) -> str:
    """``view`` as text, markdown, html (a standalone file), page (a fragment) or json.

    Raises ValueError for an unknown format.
    """
    return render_report(
        ReportKind.CHECKLIST,
        fmt,
        _TEMPLATES,
        lambda: checklist_json(view),
        view=view,
        labels=view.labels,
    )


__all__ = [
    "CHECKLIST_FORMATS",
    "ChecklistView",
    "ItemView",
    "checklist_json",
    "checklist_view",
    "format_time",
    "join_senders",
    "phrase",
    "render_checklist",
    "timeline_events",
]
