"""The checklist report: one view-model built from a ``diag.checklist.Checklist``, rendered as
text, Markdown, an HTML page fragment, a standalone HTML file with inline CSS, or JSON, in nb
or en. Titles and next steps come from ``reports.catalog_checklist``; values are escaped by the
Environment (the SVG pictures too).
"""

from __future__ import annotations

import datetime as dt
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from diag.checklist import Checklist, ChecklistItem, jsonable
from reports.catalog_checklist import CHECKLIST_CATALOG, CONJUNCTION
from reports.environment import LANGUAGES, render
from reports.svg import TimelineEvent, spf_tree_svg, timeline_svg

FORMATS = ("text", "markdown", "html", "page", "json")
_TEMPLATES = {
    "text": "checklist.txt.j2",
    "markdown": "checklist.md.j2",
    "html": "checklist.html.j2",
    "page": "checklist.page.html.j2",
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


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def phrase(key: str, lang: str, **values: Any) -> str:
    """The catalog text for ``key`` in ``lang`` with ``values`` filled in (missing ones blank).

    Raises KeyError for a key the catalog does not have, ValueError for an unknown language.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    return string.Formatter().vformat(CHECKLIST_CATALOG[lang][key], (), _Blank(values))


def join_senders(senders: Sequence[str], lang: str) -> str:
    """``a``, ``a og b``, ``a, b og c`` (nb) / ``a and b`` (en)."""
    names = [str(s) for s in senders]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {CONJUNCTION[lang]} {names[-1]}"


@dataclass(frozen=True)
class ItemView:
    """One item as shown: title, status label, next step, evidence lines and pictures."""

    key: str
    status: str
    status_label: str
    title: str
    next_step: str
    evidence: Mapping[str, Any]
    facts: tuple[tuple[str, str], ...] = ()
    allowlist: tuple[str, ...] = ()
    transcript: tuple[str, ...] = ()
    findings: tuple[Mapping[str, Any], ...] = ()
    pictures: tuple[Markup, ...] = ()


@dataclass(frozen=True)
class ChecklistView:
    """Everything a checklist report shows, in one language."""

    address: str
    audience: str
    provider: str
    lang: str
    items: tuple[ItemView, ...]
    findings: tuple[Mapping[str, Any], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    timeline: Markup | None = None

    @property
    def has_problems(self) -> bool:
        return any(i.status == "problem" for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "audience": self.audience,
            "provider": self.provider,
            "lang": self.lang,
            "items": [
                {
                    "key": i.key,
                    "status": i.status,
                    "title": i.title,
                    "evidence": jsonable(i.evidence),
                    "next_step": i.next_step,
                    "findings": [dict(f) for f in i.findings],
                }
                for i in self.items
            ],
            "findings": [dict(f) for f in self.findings],
        }


def _reply(evidence: Mapping[str, Any], item: ChecklistItem) -> str:
    if evidence.get("reply"):
        return str(evidence["reply"])
    probe = evidence.get("probe") or {}
    if probe.get("reply"):
        return str(probe["reply"])
    return next((str(f.evidence["reply"]) for f in item.findings if f.evidence.get("reply")), "")


def _values(
    item: ChecklistItem, senders: Sequence[str], provider: str, lang: str
) -> dict[str, Any]:
    evidence = item.evidence
    return {
        **{k: v for k, v in evidence.items() if isinstance(v, str | int | float)},
        "address": evidence.get("email", ""),
        "senders": join_senders(senders, lang),
        "provider": phrase(f"provider.{provider}", lang),
        "reply": _reply(evidence, item),
        "expires_at": evidence.get("token_expires_at") or "",
    }


def _facts(evidence: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    facts: list[tuple[str, str]] = []
    for key, value in evidence.items():
        if key in _SKIP or value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        facts.append((str(key), str(value)))
    for host in evidence.get("hosts") or ():
        addresses = ", ".join(host.get("addresses", ()))
        facts.append(("mx", f"{host.get('preference')} {host.get('name')} ({addresses})"))
    for identity in evidence.get("identities") or ():
        codes = ", ".join(identity.get("codes", ()))
        facts.append((str(identity.get("address")), f"{identity.get('status')} {codes}".strip()))
    for send in evidence.get("test_sends") or ():
        facts.append(
            (
                "test_send",
                f"{send.get('identity')}: {send.get('folder')} "
                f"spf={send.get('spf')} dkim={send.get('dkim')} "
                f"dmarc={send.get('dmarc')}",
            )
        )
    return tuple(facts)


def _transcript(evidence: Mapping[str, Any]) -> tuple[str, ...]:
    probe = evidence.get("probe") or next(iter(evidence.get("probes") or ()), None) or {}
    return tuple(str(line) for line in probe.get("transcript", ()))


def _pictures(evidence: Mapping[str, Any], lang: str) -> tuple[Markup, ...]:
    trees = [i["spf_tree"] for i in evidence.get("identities") or () if i.get("spf_tree")]
    return tuple(Markup(spf_tree_svg(tree, lang=lang)) for tree in trees)  # noqa: S704


def _item_view(item: ChecklistItem, senders: Sequence[str], provider: str, lang: str) -> ItemView:
    values = _values(item, senders, provider, lang)
    steps = (item.evidence.get("allowlist") or {}).get("steps") or ()
    allow_senders = (item.evidence.get("allowlist") or {}).get("senders") or senders
    allow_values = {**values, "senders": join_senders(allow_senders, lang)}
    return ItemView(
        key=item.key,
        status=item.status,
        status_label=phrase(f"status.{item.status}", lang),
        title=phrase(f"title.{item.key}", lang),
        next_step=phrase(f"{item.key}.{item.status}", lang, **values)
        if f"{item.key}.{item.status}" in CHECKLIST_CATALOG[lang]
        else "",
        evidence=item.evidence,
        facts=_facts(item.evidence),
        allowlist=tuple(phrase(f"allowlist.{s}", lang, **allow_values) for s in steps),
        transcript=_transcript(item.evidence),
        findings=tuple(f.to_dict() for f in item.findings),
        pictures=_pictures(item.evidence, lang),
    )


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def timeline_events(checklist: Checklist, *, lang: str = "en") -> list[TimelineEvent]:
    """The reset request, each delivery attempt, the pasted headers' Received hops and the
    link's use, from the items' evidence, labelled in ``lang``."""
    events: list[TimelineEvent] = []
    requested = checklist.item("reset.requested")
    if requested is not None and (at := _parse_time(requested.evidence.get("requested_at"))):
        events.append(TimelineEvent(at, phrase("timeline.reset_requested", lang)))
    sent = checklist.item("delivery.sent")
    for attempt in (sent.evidence.get("attempts") or ()) if sent is not None else ():
        at = _parse_time(attempt.get("at"))
        code = attempt.get("code") or 0
        status = (
            "problem"
            if code >= 500 or attempt.get("bounced")
            else "warning"
            if code >= 400
            else "ok"
        )
        reply = " ".join(
            str(p) for p in (code or "", attempt.get("enhanced_status"), attempt.get("text")) if p
        )
        label = f"{attempt.get('relay', '')} {reply}".strip()
        if attempt.get("interrupted"):
            label, status = phrase("timeline.attempt_interrupted", lang), "warning"
        if at is not None:
            events.append(TimelineEvent(at, label, status))
    spam = checklist.item("spam.folder")
    for hop in ((spam.evidence.get("details") or {}).get("hops") or ()) if spam is not None else ():
        if at := _parse_time(hop.get("at")):
            label = f"{hop.get('from') or '?'} -> {hop.get('by') or '?'}"
            events.append(TimelineEvent(at, label))
    link = checklist.item("link.valid")
    if link is not None and (at := _parse_time(link.evidence.get("token_used_at"))):
        events.append(TimelineEvent(at, phrase("timeline.link_used", lang), "warning"))
    return events


def checklist_view(checklist: Checklist, *, lang: str) -> ChecklistView:
    """The view of ``checklist`` in ``lang``. Raises ValueError for an unknown language."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    blocks = checklist.item("recipient.blocks_sender")
    senders = list(
        ((blocks.evidence.get("allowlist") or {}).get("senders") or ()) if blocks else ()
    )
    if not senders:
        spam = checklist.item("spam.folder")
        senders = list(spam.evidence.get("senders") or ()) if spam else []
    provider = (
        checklist.provider
        if f"provider.{checklist.provider}" in CHECKLIST_CATALOG[lang]
        else "unknown"
    )
    items = tuple(_item_view(i, senders, provider, lang) for i in checklist.items)
    events = timeline_events(checklist, lang=lang)
    labels = {
        k.removeprefix("ui."): v for k, v in CHECKLIST_CATALOG[lang].items() if k.startswith("ui.")
    }
    labels["audience_name"] = phrase(f"audience.{checklist.audience}", lang)
    labels["provider_name"] = phrase(f"provider.{provider}", lang)
    return ChecklistView(
        address=checklist.address,
        audience=checklist.audience,
        provider=provider,
        lang=lang,
        items=items,
        findings=tuple(f.to_dict() for f in checklist.findings),
        labels=labels,
        timeline=Markup(timeline_svg(events, lang=lang)) if events else None,  # noqa: S704
    )


def checklist_json(checklist: Checklist, *, lang: str) -> dict[str, Any]:
    """The checklist JSON: ``{address, audience, provider, items: [{key, status, title,
    evidence, next_step, findings}], findings}``."""
    data = checklist_view(checklist, lang=lang).to_dict()
    data.pop("lang")
    return data


def render_checklist(view: ChecklistView, *, fmt: str) -> str:
    """``view`` as text, markdown, html (a standalone file), page (a fragment) or json.

    Raises ValueError for an unknown format.
    """
    if fmt == "json":
        return json.dumps(view.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if fmt not in _TEMPLATES:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return render(_TEMPLATES[fmt], {"view": view, "labels": view.labels}, lang=view.lang)


__all__ = [
    "FORMATS",
    "ChecklistView",
    "ItemView",
    "checklist_json",
    "checklist_view",
    "join_senders",
    "phrase",
    "render_checklist",
    "timeline_events",
]
