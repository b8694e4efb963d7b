"""Comments are not results (RFC 8601 §2.2, RFC 5322 §3.2.2): the header analysis on the
vendor-shaped samples in tests/data/headers. Gmail's ``arc=pass (i=1 ... dmarc=pass ...)``
comes before its real ``dmarc=fail (p=... dis=...)``; Microsoft's ``compauth=`` and
``action=`` are read from the results, never from a comment; nested comments, quoted strings
and escaped parentheses are honoured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diag.headers import parse_authentication_results, parse_headers
from diag.headers.fields import split_segments

DATA = Path(__file__).resolve().parent.parent / "data" / "headers"


def analyze(name: str) -> dict[str, Any]:
    return parse_headers((DATA / name).read_bytes()).to_dict()


def plain(data: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in data["authentication"] if a["source"] == "Authentication-Results")


@pytest.mark.parametrize(
    ("name", "dmarc", "disposition", "policy", "spam", "conclusion"),
    [
        (
            "gmail-arc-dmarc-quarantine.eml",
            "fail",
            "QUARANTINE",
            "QUARANTINE",
            True,
            ("junk", "authentication"),
        ),
        ("gmail-arc-dmarc-none.eml", "fail", "NONE", "NONE", False, ("inbox", "none")),
        ("gmail-arc-override-reject.eml", "fail", "NONE", "REJECT", False, ("inbox", "none")),
        (
            "gmail-reject-disposition.eml",
            "fail",
            "REJECT",
            "REJECT",
            True,
            ("junk", "authentication"),
        ),
    ],
)
def test_gmail_disposition_comes_from_the_real_dmarc_result(
    name: str,
    dmarc: str,
    disposition: str,
    policy: str,
    spam: bool,
    conclusion: tuple[str, str],
) -> None:
    data = analyze(name)
    entry = plain(data)
    assert entry["receiver"] == "mx.google.com"
    assert entry["dmarc"] == dmarc
    assert (entry["dmarc_disposition"], entry["dmarc_policy"]) == (disposition, policy)
    dmarc_results = [r for r in entry["results"] if r["method"] == "dmarc"]
    assert [r["result"] for r in dmarc_results] == [dmarc]
    assert f"dis={disposition}" in dmarc_results[0]["comment"]
    gmail = [v for v in data["verdicts"] if v["system"] == "gmail"]
    assert [(v["spam"], v["details"][0]["value"]) for v in gmail] == [(spam, disposition)]
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == conclusion


def test_arc_comment_stays_with_the_arc_result() -> None:
    entry = plain(analyze("gmail-arc-dmarc-quarantine.eml"))
    methods = [(r["method"], r["result"]) for r in entry["results"]]
    assert methods == [("dkim", "pass"), ("arc", "pass"), ("spf", "pass"), ("dmarc", "fail")]
    arc = next(r for r in entry["results"] if r["method"] == "arc")
    assert arc["comment"].startswith("i=1 spf=pass")


def test_arc_authentication_results_are_read_the_same_way() -> None:
    data = analyze("gmail-arc-dmarc-quarantine.eml")
    arc_set = next(a for a in data["authentication"] if a["source"].startswith("ARC-"))
    assert (arc_set["instance"], arc_set["dmarc"], arc_set["dmarc_disposition"]) == (
        2,
        "fail",
        "QUARANTINE",
    )


def test_nested_comments_quoted_strings_and_escaped_parentheses() -> None:
    data = analyze("nested-comments.eml")
    entry = plain(data)
    assert [(r["method"], r["result"]) for r in entry["results"]] == [
        ("arc", "pass"),
        ("spf", "pass"),
        ("dmarc", "fail"),
    ]
    assert entry["dmarc"] == "fail"
    assert entry["dmarc_disposition"] == "QUARANTINE"
    spf = next(r for r in entry["results"] if r["method"] == "spf")
    assert "dmarc=pass;" in spf["properties"]["smtp.mailfrom"]
    assert data["conclusion"]["reason"] == "authentication"


def test_microsoft_compauth_and_action_are_not_read_from_comments() -> None:
    data = analyze("microsoft-compauth.eml")
    entry = plain(data)
    assert (entry["spf"], entry["dkim"], entry["dmarc"]) == ("fail", "fail", "fail")
    assert (entry["compauth"], entry["compauth_reason"]) == ("fail", "000")
    assert entry["dmarc_disposition"] == "QUARANTINE"
    microsoft = next(v for v in data["verdicts"] if v["system"] == "microsoft")
    found = {d["field"]: d["value"] for d in microsoft["details"]}
    assert (found["compauth"], found["compauth reason"]) == ("fail", "000")


@pytest.mark.parametrize(
    ("value", "dmarc", "dis"),
    [
        (
            "mx.google.com; arc=pass (i=1 dmarc=pass); dmarc=fail (p=NONE dis=NONE) "
            "header.from=a.example",
            "fail",
            "NONE",
        ),
        (
            "mx.google.com; arc=pass (i=1 dmarc=fail dis=REJECT); dmarc=pass (p=REJECT dis=NONE) "
            "header.from=a.example",
            "pass",
            "NONE",
        ),
        (
            "mx.google.com; arc=fail (i=1 (x dis=REJECT)); "
            "dmarc=fail (p=QUARANTINE \\) dis=QUARANTINE) header.from=a.example",
            "fail",
            "QUARANTINE",
        ),
        (
            "mx.example; arc=pass (i=1; dmarc=pass; action=reject); dmarc=fail action=quarantine "
            "header.from=a.example",
            "fail",
            "QUARANTINE",
        ),
        (
            "mx.example; arc=pass (dmarc=pass action=none); dmarc=fail header.from=a.example",
            "fail",
            "",
        ),
        (
            "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=a.example;"
            "dmarc=pass action=pct.quarantine header.from=a.example;compauth=pass reason=100",
            "pass",
            "PCT.QUARANTINE",
        ),
    ],
)
def test_only_the_real_dmarc_result_gives_the_disposition(value: str, dmarc: str, dis: str) -> None:
    entry = parse_authentication_results(value)
    assert entry.parsed
    assert entry.summary("dmarc") == dmarc
    assert entry.extras.get("dis", "") == dis


def test_microsoft_without_authserv_id_keeps_its_first_result() -> None:
    entry = parse_authentication_results(
        "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=a.example; dmarc=pass action=none "
        "header.from=a.example;compauth=pass reason=100"
    )
    assert (entry.receiver, entry.summary("spf"), entry.summary("compauth")) == ("", "pass", "pass")


def test_split_segments() -> None:
    segments = split_segments('a (b; (c; d) \\) e) "f;(g" ; h (i')
    assert [s.text for s in segments] == ['a   "f;(g"', "h"]
    assert [s.comments for s in segments] == [("b; (c; d) ) e",), ("i",)]
