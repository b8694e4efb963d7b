"""The SPF report renders one view-model to text, Markdown, HTML and JSON; golden files pin it."""

import json
import os
from pathlib import Path

import pytest

from reports import build_spf_view, render_spf

GOLDEN = Path(__file__).parent / "golden"

RESULT = {
    "result": "fail",
    "explanation": "See https://example.com/why for 192.0.2.7",
    "mechanism": "-all",
    "domain": "example.com",
    "lookups": 2,
    "void_lookups": 1,
    "problem": None,
    "trace": [
        {
            "kind": "record",
            "depth": 0,
            "domain": "example.com",
            "text": "v=spf1 include:_spf.example.com -all",
            "outcome": "",
            "detail": {},
        },
        {
            "kind": "include",
            "depth": 0,
            "domain": "example.com",
            "text": "include:_spf.example.com",
            "outcome": "no-match",
            "detail": {},
        },
        {
            "kind": "record",
            "depth": 1,
            "domain": "_spf.example.com",
            "text": "v=spf1 ip4:198.51.100.0/24 -all",
            "outcome": "",
            "detail": {},
        },
        {
            "kind": "term",
            "depth": 0,
            "domain": "example.com",
            "text": "-all",
            "outcome": "match",
            "detail": {},
        },
    ],
    "findings": [
        {
            "code": "spf.fail",
            "severity": "error",
            "summary": "192.0.2.7 is not authorized",
            "evidence": {},
            "rfc": "",
            "fix": "",
        }
    ],
}


def _view(result: dict = RESULT):  # type: ignore[no-untyped-def]
    return build_spf_view(result, ip="192.0.2.7", sender="postmaster@example.com")


@pytest.mark.parametrize(
    ("fmt", "lang"), [("text", "nb"), ("text", "en"), ("markdown", "en"), ("html", "nb")]
)
def test_golden(fmt: str, lang: str) -> None:
    rendered = render_spf(_view(), fmt=fmt, lang=lang)
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
    hostile = dict(RESULT)
    hostile["trace"] = [
        {
            "kind": "record",
            "depth": 0,
            "domain": "example.com",
            "text": 'v=spf1 <script>alert("x")</script> -all',
            "outcome": "",
            "detail": {},
        }
    ]
    html = render_spf(_view(hostile), fmt="html", lang="en")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render_spf(_view(), fmt="pdf")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_an_explanation_that_was_unavailable_is_shown(fmt: str) -> None:
    # check_host records how many TXT records the exp= target had (RFC 7208 §6.2 wants one)
    # as a count, not as records.
    unavailable = dict(RESULT)
    unavailable["trace"] = [
        *RESULT["trace"],  # type: ignore[misc]
        {
            "kind": "exp",
            "depth": 0,
            "domain": "example.com",
            "text": "exp=explain.example.com",
            "outcome": "unavailable",
            "detail": {"records": 2},
        },
    ]
    rendered = render_spf(_view(unavailable), fmt=fmt, lang="en")
    assert "exp=explain.example.com" in rendered
    assert "unavailable" in rendered
