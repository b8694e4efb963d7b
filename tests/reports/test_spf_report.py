"""The SPF report renders one view-model to text, Markdown, HTML and JSON; golden files pin it."""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from diag.findings import ERROR, Finding
from diag.spf import SpfResult, TraceStep
from reports import SpfView, render_spf, spf_view

GOLDEN = Path(__file__).parent / "golden"

RESULT = SpfResult(
    result="fail",
    explanation="See https://example.com/why for 192.0.2.7",
    mechanism="-all",
    domain="example.com",
    lookups=2,
    void_lookups=1,
    problem=None,
    trace=(
        TraceStep("record", 0, "example.com", "v=spf1 include:_spf.example.com -all", ""),
        TraceStep("include", 0, "example.com", "include:_spf.example.com", "no-match"),
        TraceStep("record", 1, "_spf.example.com", "v=spf1 ip4:198.51.100.0/24 -all", ""),
        TraceStep("term", 0, "example.com", "-all", "match"),
    ),
    findings=(Finding("spf.fail", ERROR, "192.0.2.7 is not authorized"),),
)


def _view(result: SpfResult = RESULT, lang: str = "nb") -> SpfView:
    return spf_view(result, lang=lang, ip="192.0.2.7", sender="postmaster@example.com")


@pytest.mark.parametrize(
    ("fmt", "lang"), [("text", "nb"), ("text", "en"), ("markdown", "en"), ("html", "nb")]
)
def test_golden(fmt: str, lang: str) -> None:
    rendered = render_spf(_view(lang=lang), fmt=fmt)
    golden = GOLDEN / f"spf.{lang}.{ {'text': 'txt', 'markdown': 'md', 'html': 'html'}[fmt] }"
    if os.environ.get("MAILDIAG_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


def test_json_has_the_design_keys() -> None:
    data = json.loads(render_spf(_view(), fmt="json"))
    for key in ("result", "explanation", "lookups", "void_lookups", "trace", "findings"):
        assert key in data
    assert data["result"] == "fail"


def test_script_in_a_txt_record_is_escaped_in_html() -> None:
    record = 'v=spf1 <script>alert("x")</script> -all'
    hostile = dataclasses.replace(
        RESULT, trace=(TraceStep("record", 0, "example.com", record, ""),)
    )
    html = render_spf(_view(hostile, lang="en"), fmt="html")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render_spf(_view(), fmt="pdf")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_an_explanation_that_was_unavailable_is_shown(fmt: str) -> None:
    # check_host records how many TXT records the exp= target had (RFC 7208 §6.2 wants one)
    # as a count, not as records.
    step = TraceStep(
        "exp", 0, "example.com", "exp=explain.example.com", "unavailable", {"records": 2}
    )
    unavailable = dataclasses.replace(RESULT, trace=(*RESULT.trace, step))
    rendered = render_spf(_view(unavailable, lang="en"), fmt=fmt)
    assert "exp=explain.example.com" in rendered
    assert "unavailable" in rendered
