"""The bulk scan's summary from plain counts: providers by name (never by id), problems by
their words with the code beside, the rest of a long tail summed as "other", the chart as
inline SVG with a title and a description, hostile text escaped in every format."""

from __future__ import annotations

import json
import re

import pytest
from markdown_it import MarkdownIt

from reports import ScanCounts, render_scan, scan_json, scan_view
from reports.scan import MAX_ROWS

HOSTILE = "<script>alert(1)</script>|`x`.txt"
COUNTS = ScanCounts(
    domains=10,
    entries=12,
    statuses={"ok": 6, "warning": 2, "problem": 2},
    providers={"generic": 5, "microsoft365": 3, "unknown": 2},
    problems={"mx.null_mx": 2, "mx.implicit": 2, "mx.brand_new_code": 1},
    total=20,
    scan_id=7,
    source=HOSTILE,
)


def test_providers_and_problems_by_name() -> None:
    view = scan_view(COUNTS, lang="en")
    assert [(r.key, r.label, r.count) for r in view.providers] == [
        ("generic", "other mail server", 5),
        ("microsoft365", "Microsoft 365", 3),
        ("unknown", "no mail server", 2),
    ]
    labels = {r.key: r.label for r in view.problems}
    assert labels["mx.null_mx"] == "accepts no mail (null MX)"
    assert labels["mx.brand_new_code"] == "mx.brand_new_code"  # no words yet: the code
    assert [r.key for r in view.statuses] == ["ok", "warning", "problem"]
    assert not view.complete
    nb = scan_view(COUNTS, lang="nb")
    assert {r.label for r in nb.providers} == {
        "annen e-postserver",
        "Microsoft 365",
        "ingen e-postserver",
    }


def test_a_long_tail_is_summed_as_other() -> None:
    many = {f"mx.code{n:02d}": 1 for n in range(MAX_ROWS + 4)}
    view = scan_view(ScanCounts(40, 40, {"ok": 40}, {"generic": 40}, many), lang="en")
    assert len(view.problems) == MAX_ROWS + 1
    assert (view.problems[-1].key, view.problems[-1].label, view.problems[-1].count) == (
        "other",
        "other",
        4,
    )


def test_the_chart_is_accessible_svg_without_script() -> None:
    html = render_scan(scan_view(COUNTS, lang="en"), fmt="html")
    svg = re.search(r"<svg .*?</svg>", html, re.DOTALL)
    assert svg is not None
    assert 'role="img"' in svg[0]
    assert 'aria-labelledby="scan-chart-title scan-chart-desc"' in svg[0]
    assert '<title id="scan-chart-title">Domains by mail provider</title>' in svg[0]
    assert "Microsoft 365: 3 (30.0 %)" in svg[0]
    assert svg[0].count("<rect ") == 3
    assert "<script" not in html.replace("&lt;script", "")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "page", "json"])
def test_hostile_source_is_inert(fmt: str) -> None:
    out = render_scan(scan_view(COUNTS, lang="en"), fmt=fmt)
    if fmt in ("html", "page"):
        assert "<script>" not in out
        assert "&lt;script&gt;" in out
    if fmt == "markdown":
        rendered = MarkdownIt("commonmark").render(out)
        assert "<script>" not in rendered
    if fmt == "json":
        assert json.loads(out)["source"] == HOSTILE


def test_text_and_json() -> None:
    view = scan_view(COUNTS, lang="en")
    text = render_scan(view, fmt="text")
    assert "10 domains (12 entries)" in text
    assert "The scan is still running: 20 domains in all." in text
    assert re.search(r"Microsoft 365 +3  30.0 %", text)
    data = scan_json(view)
    assert data["providers"] == {"generic": 5, "microsoft365": 3, "unknown": 2}
    assert data["provider_names"]["microsoft365"] == "Microsoft 365"
    assert data["statuses"] == {"ok": 6, "warning": 2, "problem": 2}
    assert data["scan"] == 7
