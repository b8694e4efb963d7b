"""The checklist report: one view-model built from a ``diag.checklist.Checklist``, rendered as
text, Markdown, an HTML page fragment, a standalone HTML file with inline CSS, or JSON, in nb
or en. Titles and next steps come from ``reports.catalog_checklist``; values are escaped by the
Environment (the SVG pictures too, drawn in place by their own templates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from diag.checklist import Checklist, ChecklistItem, jsonable, reply_line
from diag.findings import Finding
from reports.catalog_checklist import CHECKLIST_CATALOG
from reports.checklist_words import (
    Evidence,
    facts,
    finding_note,
    format_time,
    items_of,
    join_senders,
    mapping_of,
    parse_time,
    phrase,
    text_of,
    word,
)
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


@dataclass(frozen=True)
class ItemView:
    """One item as shown: title, status label, next step, evidence lines and pictures."""

    key: ItemKey
    status: Status
    status_label: str
    title: str
    next_step: str
    evidence: Evidence
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


def _reply(evidence: Evidence, item: ChecklistItem) -> str:
    """The reply line an item cites: its own, its probe's, or a finding's (never a mapping)."""
    found = [
        text_of(evidence.get("reply")),
        text_of(mapping_of(evidence.get("probe")).get("reply")),
    ]
    found += [text_of(f.evidence.get("reply")) for f in item.findings]
    return next((reply for reply in found if reply), "")


def _values(
    item: ChecklistItem, senders: Sequence[object], provider: str, lang: Language, address: str
) -> dict[str, object]:
    evidence: Evidence = item.evidence
    values: dict[str, object] = {
        k: v for k, v in evidence.items() if isinstance(v, str | int | float)
    }
    for key in [k for k in values if k.endswith("_at")]:
        values[key] = format_time(values[key], lang)
    return {
        **values,
        "status": word("outbox_status", evidence.get("status", ""), lang),
        "address": evidence.get("email") or address,
        "folder": word("folder", evidence.get("folder", ""), lang),
        "senders": join_senders(senders, lang),
        "provider": phrase(f"provider.{provider}", lang),
        "reply": _reply(evidence, item),
        "expires_at": format_time(evidence.get("token_expires_at") or "", lang),
    }


def _transcript(evidence: Evidence) -> tuple[str, ...]:
    probe = evidence.get("probe") or next(iter(items_of(evidence.get("probes"))), None)
    return tuple(str(line) for line in items_of(mapping_of(probe).get("transcript")))


def _pictures(evidence: Evidence) -> tuple[Picture, ...]:
    identities = map(mapping_of, items_of(evidence.get("identities")))
    trees = [identity["spf_tree"] for identity in identities if identity.get("spf_tree")]
    return tuple(spf_tree_picture(tree) for tree in map(mapping_of, trees))


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
    allowlist = mapping_of(item.evidence.get("allowlist"))
    allow_senders = items_of(allowlist.get("senders")) or senders
    allow_values = {**values, "senders": join_senders(allow_senders, lang)}
    step = _step(item, lang, checklist.audience)
    return ItemView(
        key=key,
        status=status,
        status_label=phrase(f"status.{status}", lang),
        title=phrase(f"title.{key}", lang),
        next_step=_with_conflict(phrase(step, lang, **values) if step else "", item, lang),
        evidence=item.evidence,
        facts=facts(item.evidence, lang),
        allowlist=tuple(
            phrase(f"allowlist.{s}", lang, **allow_values) for s in items_of(allowlist.get("steps"))
        )
        if status in _NEEDS_ACTION
        else (),
        transcript=_transcript(item.evidence),
        findings=item.findings,
        pictures=_pictures(item.evidence),
        notes=tuple(finding_note(f, lang) for f in item.findings),
    )


def _attempt_event(attempt: Evidence, lang: str) -> TimelineEvent | None:
    at = parse_time(attempt.get("at"))
    found = attempt.get("code")
    code = found if isinstance(found, int) else 0
    status = (
        "problem" if code >= 500 or attempt.get("bounced") else "warning" if code >= 400 else "ok"
    )
    reply = reply_line(
        code or None, text_of(attempt.get("enhanced_status")), text_of(attempt.get("text"))
    )
    label = f"{attempt.get('relay', '')} {reply}".strip()
    if attempt.get("interrupted"):
        label, status = phrase("timeline.attempt_interrupted", lang), "warning"
    return TimelineEvent(at, label, status) if at is not None else None


def _evidence(checklist: Checklist, key: str) -> Evidence:
    item = checklist.item(key)
    return item.evidence if item is not None else {}


def timeline_events(checklist: Checklist, *, lang: str = "en") -> list[TimelineEvent]:
    """The reset request, each delivery attempt, the pasted headers' Received hops and the
    link's use, from the items' evidence, labelled in ``lang``."""
    events: list[TimelineEvent] = []
    if at := parse_time(_evidence(checklist, "reset.requested").get("requested_at")):
        events.append(TimelineEvent(at, phrase("timeline.reset_requested", lang)))
    for attempt in map(mapping_of, items_of(_evidence(checklist, "delivery.sent").get("attempts"))):
        if (event := _attempt_event(attempt, lang)) is not None:
            events.append(event)
    details = mapping_of(_evidence(checklist, "spam.folder").get("details"))
    for hop in map(mapping_of, items_of(details.get("hops"))):
        if at := parse_time(hop.get("at")):
            label = f"{hop.get('from') or '?'} -> {hop.get('by') or '?'}"
            events.append(TimelineEvent(at, label))
    if at := parse_time(_evidence(checklist, "link.valid").get("token_used_at")):
        events.append(TimelineEvent(at, phrase("timeline.link_used", lang), "warning"))
    return events


def _senders(checklist: Checklist) -> tuple[object, ...]:
    blocks = mapping_of(_evidence(checklist, "recipient.blocks_sender").get("allowlist"))
    found = items_of(blocks.get("senders"))
    return found or items_of(_evidence(checklist, "spam.folder").get("senders"))


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
