"""The bulk scan's summary: how many domains, by status, by mail provider (named, not by id)
and by problem, with a bar chart of the providers as inline SVG (no script; a title and a
description for screen readers). Built from plain counts, so a scan of any size is
summarized without its rows; rendered as text, Markdown, HTML (a document or a page's
fragment) or JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reports.environment import render_report
from reports.i18n import translate
from reports.vocabulary import FORMATS, Format, JsonObject, Language, ReportKind, language
from reports.wording import Worded

SCAN_FORMATS = FORMATS[ReportKind.SCAN]
_TEMPLATES = {
    Format.TEXT: "scan.txt.j2",
    Format.MARKDOWN: "scan.md.j2",
    Format.HTML: "scan.html.j2",
    Format.PAGE: "scan.page.html.j2",
}
STATUSES = ("ok", "warning", "problem")
CHART_WIDTH = 320  # pixels for the longest bar
CHART_ROW = 24  # pixels per bar
CHART_LABEL = 180  # pixels left of the bars for their names
MAX_ROWS = 30  # providers or problems listed; the rest are summed as "other"


@dataclass(frozen=True)
class ScanCounts:
    """What the summary is made of: the scan (id and source, when recorded), its size and
    how many of its domains have been scanned, and their counts."""

    domains: int
    entries: int
    statuses: Mapping[str, int]
    providers: Mapping[str, int]
    problems: Mapping[str, int]
    total: int | None = None
    scan_id: int | None = None
    source: str = ""


@dataclass(frozen=True)
class CountRow:
    """One line of a table or bar of the chart: its key, its words, its count and share."""

    key: str
    label: str
    count: int
    percent: str
    y: int = 0
    width: int = 0


@dataclass(frozen=True)
class ScanView(Worded):
    """The summary in ``lang``: the counts, their rows, and the chart's size."""

    lang: Language
    counts: ScanCounts
    statuses: tuple[CountRow, ...]
    providers: tuple[CountRow, ...]
    problems: tuple[CountRow, ...]
    chart_width: int
    chart_height: int
    chart_label: int

    @property
    def complete(self) -> bool:
        return self.counts.total is None or self.counts.domains >= self.counts.total


def _percent(count: int, whole: int) -> str:
    return f"{100 * count / whole:.1f} %" if whole else "0.0 %"


def _rows(
    counts: Mapping[str, int], whole: int, label: dict[str, str], other: str
) -> tuple[CountRow, ...]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ordered[:MAX_ROWS]
    rest = sum(n for _, n in ordered[MAX_ROWS:])
    if rest:
        shown.append(("other", rest))
    top = max((n for _, n in shown), default=0)
    return tuple(
        CountRow(
            key,
            other if key == "other" and rest else label.get(key, key),
            n,
            _percent(n, whole),
            y=index * CHART_ROW,
            width=max(1, CHART_WIDTH * n // top) if top else 0,
        )
        for index, (key, n) in enumerate(shown)
    )


def scan_view(counts: ScanCounts, *, lang: str) -> ScanView:
    """The summary of ``counts`` in ``lang``. Raises ValueError for an unknown language."""
    chosen = language(lang)

    def words(prefix: str, keys: Mapping[str, int]) -> dict[str, str]:
        """Each key's words; a key without any (a new finding code) stands for itself."""
        texts = {key: translate(f"{prefix}{key}", chosen) for key in keys}
        return {key: key if text == f"{prefix}{key}" else text for key, text in texts.items()}

    other = translate("scan.other", chosen)
    statuses = {s: counts.statuses.get(s, 0) for s in STATUSES}
    status_rows = _rows(statuses, counts.domains, words("scan.status.", statuses), other)
    names = words("provider.", counts.providers)
    if "unknown" in names:  # no MX host at all: not "another provider"
        names["unknown"] = translate("scan.no_provider", chosen)
    providers = _rows(counts.providers, counts.domains, names, other)
    problems = _rows(
        counts.problems, counts.domains, words("scan.problem.", counts.problems), other
    )
    return ScanView(
        chosen,
        counts,
        tuple(sorted(status_rows, key=lambda r: STATUSES.index(r.key))),
        providers,
        problems,
        CHART_LABEL + CHART_WIDTH + 80,
        max(1, len(providers)) * CHART_ROW + 8,
        CHART_LABEL,
    )


@dataclass(frozen=True)
class ScanRow:
    """One scanned domain worded for a table: its status and provider in words, its MX
    and its problem codes."""

    domain: str
    status: str
    status_text: str
    provider: str
    mx: str
    codes: tuple[str, ...]


def scan_row(line: Mapping[str, Any], *, lang: str) -> ScanRow:
    """``line`` (a domain's JSON line, as ``maildiag scan --format jsonl`` prints it) in
    ``lang``'s words. Raises ValueError for an unknown language, KeyError for a missing key."""
    chosen = language(lang)
    status, provider = str(line["status"]), str(line["provider"])
    if line["null_mx"]:
        mx = translate("scan.problem.mx.null_mx", chosen)
    elif line["implicit_mx"]:
        mx = translate("scan.problem.mx.implicit", chosen)
    else:
        mx = ", ".join(str(h) for h in line["hosts"]) or "-"
    key = "scan.no_provider" if provider == "unknown" else f"provider.{provider}"
    codes = tuple(
        str(f["code"]) for f in line["findings"] if f.get("severity") in ("error", "warning")
    )
    words = translate(f"scan.status.{status}", chosen)
    return ScanRow(str(line["domain"]), status, words, translate(key, chosen), mx, codes)


def scan_json(view: ScanView) -> JsonObject:
    """``{scan, source, total, domains, entries, statuses, providers, provider_names,
    problems}``: counts by id and code, the providers' names in the view's language."""
    c = view.counts
    return {
        "scan": c.scan_id,
        "source": c.source,
        "total": c.total,
        "domains": c.domains,
        "entries": c.entries,
        "statuses": {r.key: r.count for r in view.statuses},
        "providers": dict(sorted(c.providers.items())),
        "provider_names": {r.key: r.label for r in view.providers if r.key in c.providers},
        "problems": dict(sorted(c.problems.items())),
    }


def render_scan(view: ScanView, *, fmt: str = Format.TEXT) -> str:
    """Render ``view`` as text, markdown, html, page (an HTML fragment) or json.

    Raises ValueError for another format.
    """
    return render_report(ReportKind.SCAN, fmt, _TEMPLATES, lambda: scan_json(view), v=view)


__all__ = [
    "SCAN_FORMATS",
    "ScanCounts",
    "ScanRow",
    "ScanView",
    "render_scan",
    "scan_json",
    "scan_row",
    "scan_view",
]
