"""The checklist's wording of evidence, in nb or en: catalog phrases, times as people read
them, vocabularies in words, the labelled facts an item shows (only the keys the catalog names,
so internal keys never reach a reader) and each finding's sentence."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping, Sequence

from diag.findings import Finding
from reports.catalog_auth import finding_text as auth_finding_text
from reports.catalog_checklist import CHECKLIST_CATALOG, CONJUNCTION
from reports.catalog_recipient import finding_text as recipient_finding_text
from reports.vocabulary import Language, language

Evidence = Mapping[str, object]  # an item's evidence, read with care: diag leaves it untyped


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


def mapping_of(value: object) -> Evidence:
    return value if isinstance(value, Mapping) else {}


def items_of(value: object) -> tuple[object, ...]:
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


def parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def text_of(value: object) -> str:
    return value if isinstance(value, str) else ""


def format_time(value: object, lang: str) -> str:
    """An ISO 8601 time from the evidence as people read it in ``lang``, in UTC
    (``07.12.2026 kl. 16:01 UTC`` / ``2026-12-07 16:01 UTC``); other values unchanged."""
    moment = parse_time(value)
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


def word(kind: str, value: object, lang: Language) -> str:
    """``value`` of a vocabulary (``kind.value`` in the catalog) in words; else as given."""
    key = f"{kind}.{value}"
    return phrase(key, lang) if key in CHECKLIST_CATALOG[lang] else str(value)


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
        return word(_FACT_WORDS[key], value, lang)
    return _listed(value)


def facts(evidence: Evidence, lang: Language) -> tuple[tuple[str, str], ...]:
    """The evidence that a reader can use, labelled in ``lang``: only the keys the catalog
    names (``fact.<key>``), so internal keys and codes never reach the page."""
    catalog = CHECKLIST_CATALOG[lang]
    shown = [
        (catalog[f"fact.{key}"], _fact_value(str(key), value, lang))
        for key, value in evidence.items()
        if f"fact.{key}" in catalog and value is not None and value != ""
    ]
    for host in map(mapping_of, items_of(evidence.get("hosts"))):
        addresses = ", ".join(str(a) for a in items_of(host.get("addresses")))
        shown.append(
            (catalog["fact.mx"], f"{host.get('preference')} {host.get('name')} ({addresses})")
        )
    for identity in map(mapping_of, items_of(evidence.get("identities"))):
        codes = ", ".join(str(c) for c in items_of(identity.get("codes")))
        status = word("identity_status", identity.get("status"), lang)
        shown.append((str(identity.get("address")), f"{status} {codes}".strip()))
    shown += _transport_facts(mapping_of(evidence.get("transport")), lang)
    for send in map(mapping_of, items_of(evidence.get("test_sends"))):
        folder = word("folder", send.get("folder"), lang)
        shown.append(
            (
                catalog["fact.test_send"],
                f"{send.get('identity')}: {folder}, "
                f"spf={send.get('spf')} dkim={send.get('dkim')} "
                f"dmarc={send.get('dmarc')}",
            )
        )
    for report in map(mapping_of, items_of(evidence.get("receiver_reports"))):
        shown.append((catalog["fact.receiver_report"], receiver_report_line(report, lang)))
    return tuple(shown)


def receiver_report_line(report: Evidence, lang: Language) -> str:
    """``outlook.com reported 12 messages from 198.51.100.10 (our sending IP) with DKIM fail,
    SPF pass; disposition quarantine``, in ``lang``."""
    results = ", ".join(
        phrase(
            "receiver_report.result",
            lang,
            check=check.upper(),
            result=word("receiver_result", report.get(check), lang),
        )
        for check in ("dkim", "spf")
    )
    return phrase(
        "receiver_report.line",
        lang,
        reporter=report.get("reporter"),
        messages=report.get("messages"),
        ip=report.get("source_ip"),
        whose=phrase(
            "receiver_report.ours" if report.get("ours") else "receiver_report.not_ours", lang
        ),
        results=results,
        disposition=word("disposition", report.get("disposition"), lang),
    )


def _transport_facts(transport: Evidence, lang: Language) -> list[tuple[str, str]]:
    """The recipient's MTA-STS and TLS-RPT records and its MX hosts with TLSA records."""
    if not transport:
        return []
    catalog = CHECKLIST_CATALOG[lang]
    none = catalog["value.not_published"]
    mode = text_of(transport.get("mta_sts_mode"))
    mta = text_of(transport.get("mta_sts")) or none
    return [
        (catalog["fact.mta_sts"], f"{mta} (mode={mode})" if mode else mta),
        (catalog["fact.tlsrpt"], text_of(transport.get("tlsrpt")) or none),
        (catalog["fact.dane"], _listed(items_of(transport.get("dane"))) or none),
        *_starttls_fact(mapping_of(transport.get("starttls")), lang),
    ]


def _starttls_fact(tls: Evidence, lang: Language) -> list[tuple[str, str]]:
    """The probe's STARTTLS: version and cipher, the certificate's names and expiry, and its
    problems; nothing when there was no probe."""
    if not tls:
        return []
    catalog = CHECKLIST_CATALOG[lang]
    if not tls.get("established"):
        problems = _listed(items_of(tls.get("problems"))) or catalog["value.no"]
        return [(catalog["fact.starttls"], problems)]
    names = _listed(items_of(tls.get("names")))
    shown = f"{text_of(tls.get('version'))} {text_of(tls.get('cipher'))}; {names}"
    if tls.get("not_after"):
        shown += f" ({format_time(tls.get('not_after'), lang)})"
    problems = _listed(items_of(tls.get("problems")))
    return [(catalog["fact.starttls"], f"{shown}; {problems}" if problems else shown)]


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


__all__ = [
    "Evidence",
    "facts",
    "finding_note",
    "format_time",
    "items_of",
    "join_senders",
    "mapping_of",
    "parse_time",
    "phrase",
    "receiver_report_line",
    "text_of",
    "word",
]
