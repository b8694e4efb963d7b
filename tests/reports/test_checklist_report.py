"""The checklist report: one view-model rendered to text, Markdown, HTML (fragment and standalone)
and JSON in nb and en; golden files pin the output; untrusted text is escaped, SVG included."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from diag.checklist import (
    ITEM_KEYS,
    STATUSES,
    AccountFacts,
    Checklist,
    DeliveryFact,
    Evidence,
    ProbeResult,
    ResetRequestFact,
    SmtpReply,
    checklist_from_evidence,
)
from diag.findings import ERROR, Finding
from diag.mx import MxHost, MxReport
from diag.senders import Section, SenderReport
from reports import render
from reports.catalog_checklist import CHECKLIST_CATALOG
from reports.checklist import checklist_json, checklist_view, render_checklist
from reports.svg import TimelineEvent, spf_tree_svg, timeline_svg

GOLDEN = Path(__file__).parent / "golden"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
SENDERS = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")
SCRIPT = "<script>alert(1)</script>"
SUFFIX = {"text": "txt", "markdown": "md", "html": "html", "page": "page.html"}


def _tree(record: str) -> dict[str, Any]:
    child = {
        "domain": "_spf.legacy.example",
        "via": "include",
        "record": record,
        "problem": None,
        "lookups": 1,
        "void_lookups": 0,
        "terms": [],
        "children": [],
    }
    return {
        "domain": "legacy.example",
        "via": "",
        "record": "v=spf1 include:_spf.legacy.example -all",
        "problem": "too_many_lookups",
        "lookups": 11,
        "void_lookups": 0,
        "terms": [],
        "children": [child],
    }


def _legacy_report(record: str = "v=spf1 ip4:203.0.113.30 ~all") -> SenderReport:
    finding = Finding(
        "spf.too_many_lookups",
        ERROR,
        "more than 10 lookups",
        {"domain": "legacy.example", "lookups": 11},
        rfc="RFC 7208 §4.6.4",
    )
    section = Section("spf", {"lint": {"tree": _tree(record)}}, (finding,))
    return SenderReport("do.not.reply@legacy.example", "identity", "legacy.example", {}, (section,))


REQUESTED = NOW - dt.timedelta(minutes=10)


def _account(status: str, *deliveries: DeliveryFact) -> AccountFacts:
    """kari's account with one reset request (outbox row 3) in ``status`` and its log."""
    token_expires = REQUESTED + dt.timedelta(minutes=30)
    request = ResetRequestFact(REQUESTED, 3, status, token_expires)
    return AccountFacts(True, "kari@kunde.example", (request,), deliveries)


def _checklist(
    audience: str = "support",
    reply_text: str = "Sender blocked by policy",
    record: str = "v=spf1 ip4:203.0.113.30 ~all",
) -> Checklist:
    host = MxHost("mx.kunde.example", 10, ("192.0.2.25",))
    mx = MxReport("kunde.example", (host,), provider="microsoft365")
    transcript = (
        "S: 220 mx.kunde.example ESMTP",
        "C: EHLO maildiag.localhost",
        "S: 250 ok",
        f"C: MAIL FROM:<{SENDERS[0]}>",
        "S: 250 ok",
        "C: RCPT TO:<kari@kunde.example>",
        f"S: 550 5.7.1 {reply_text}",
    )
    probe = ProbeResult(
        SENDERS[0],
        host.name,
        "192.0.2.25",
        "rcpt",
        SmtpReply(550, "5.7.1", reply_text),
        True,
        "refused",
        transcript,
    )
    account = _account(
        "bounced",
        DeliveryFact(
            REQUESTED + dt.timedelta(seconds=4),
            "relay.example:25",
            550,
            "5.7.1",
            reply_text,
            outbox_id=3,
        ),
    )
    evidence = Evidence(
        "kari@kunde.example",
        audience,
        NOW,
        SENDERS,
        mx=mx,
        probes=(probe,),
        senders=(_legacy_report(record),),
        account=account,
    )
    return checklist_from_evidence(evidence)


@pytest.mark.parametrize("lang", ["nb", "en"])
@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "page"])
def test_golden(fmt: str, lang: str) -> None:
    rendered = render_checklist(checklist_view(_checklist(), lang=lang), fmt=fmt)
    golden = GOLDEN / f"checklist.{lang}.{SUFFIX[fmt]}"
    if os.environ.get("MAILDIAG_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


def test_json_has_the_design_keys() -> None:
    data = checklist_json(checklist_view(_checklist(), lang="en"))
    assert {"address", "audience", "items", "findings"} <= set(data)
    assert [i["key"] for i in data["items"]] == list(ITEM_KEYS)
    for item in data["items"]:
        assert {"key", "status", "title", "evidence", "next_step"} <= set(item)
        assert item["status"] in STATUSES
        assert item["title"]
    json.dumps(data)  # plain JSON types only
    blocked = next(i for i in data["items"] if i["key"] == "recipient.blocks_sender")
    assert blocked["status"] == "problem"
    assert set(SENDERS) <= set(blocked["evidence"]["allowlist"]["senders"])


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_allowlisting_steps_name_both_senders(lang: str) -> None:
    view = checklist_view(_checklist(audience="admin"), lang=lang)
    item = next(i for i in view.items if i.key == "recipient.blocks_sender")
    assert item.allowlist
    assert all(SENDERS[0] in step and SENDERS[1] in step for step in item.allowlist[:2])
    assert "Microsoft 365" in item.allowlist[0]


def test_script_in_a_record_is_escaped_in_html_and_svg() -> None:
    checklist = _checklist(reply_text=SCRIPT, record=f"v=spf1 {SCRIPT} -all")
    for fmt in ("html", "page"):
        html = render_checklist(checklist_view(checklist, lang="en"), fmt=fmt)
        assert "<script>" not in html
        assert "&lt;script&gt;" in html
    svg = spf_tree_svg(_tree(f"v=spf1 {SCRIPT} -all"))
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    line = timeline_svg([TimelineEvent(NOW, SCRIPT)])
    assert "<script>" not in line
    assert "&lt;script&gt;" in line


def test_svg_pictures_are_in_the_page() -> None:
    html = render_checklist(checklist_view(_checklist(), lang="nb"), fmt="page")
    assert html.count("<svg") == 2  # the SPF tree of the failing identity and the timeline
    assert "_spf.legacy.example" in html
    assert "<script" not in html


def test_svg_tree_rows_follow_the_include_depth() -> None:
    svg = spf_tree_svg(_tree("v=spf1 -all"))
    xs = [int(x) for x in re.findall(r'<text x="(\d+)"', svg)]
    assert xs[0] < xs[1]


def test_self_service_has_no_timeline_or_account_data() -> None:
    html = render_checklist(checklist_view(_checklist(audience="self"), lang="en"), fmt="html")
    assert "timeline" not in html
    assert "relay.example" not in html
    assert "exists" not in html


def test_catalog_has_both_languages_and_every_title() -> None:
    assert set(CHECKLIST_CATALOG["nb"]) == set(CHECKLIST_CATALOG["en"])
    for key in ITEM_KEYS:
        assert f"title.{key}" in CHECKLIST_CATALOG["nb"]
    for status in STATUSES:
        assert f"status.{status}" in CHECKLIST_CATALOG["en"]


def test_seed_advice_is_in_the_self_service_wording() -> None:
    text = render_checklist(checklist_view(_checklist(audience="self"), lang="nb"), fmt="text")
    assert "søppelpost" in text
    assert "lønningsansvarlig" in text
    assert SENDERS[0] in text
    assert SENDERS[1] in text


def test_unknown_format_and_language_are_refused() -> None:
    view = checklist_view(_checklist(), lang="en")
    with pytest.raises(ValueError, match="format"):
        render_checklist(view, fmt="pdf")
    with pytest.raises(ValueError, match="language"):
        checklist_view(_checklist(), lang="de")


def test_pasted_hops_are_on_the_timeline() -> None:
    from diag.checklist import read_spam_verdict

    headers = (
        b"Received: from relay.kunde.example (relay.kunde.example [192.0.2.9]) by mx2.kunde.example"
        b" with ESMTPS id 2; Thu, 26 Nov 2026 10:00:09 +0000\r\n"
        b"Received: from mail-out.platform.visma.com (mail-out.platform.visma.com [198.51.100.10])"
        b" by relay.kunde.example with ESMTP id 1; Thu, 26 Nov 2026 10:00:01 +0000\r\n"
        b"X-Spam-Flag: YES\r\n\r\n"
    )
    evidence = Evidence("kari@kunde.example", "self", NOW, SENDERS, spam=read_spam_verdict(headers))
    view = checklist_view(checklist_from_evidence(evidence), lang="en")
    assert view.timeline is not None
    timeline = render(view.timeline.template, svg=view.timeline)
    assert "relay.kunde.example" in timeline
    assert "+8 s" in timeline
    spam = next(i for i in view.items if i.key == "spam.folder")
    assert spam.status == "problem"


def test_an_interrupted_attempt_is_a_warning_on_the_timeline() -> None:
    from reports.checklist import phrase, timeline_events

    account = _account(
        "sent",
        DeliveryFact(REQUESTED, "local", text="attempt interrupted", outbox_id=3, interrupted=True),
        DeliveryFact(REQUESTED + dt.timedelta(minutes=2), "relay.example:25", 250, outbox_id=3),
    )
    evidence = Evidence("kari@kunde.example", "support", NOW, SENDERS, account=account)
    for lang in ("nb", "en"):
        events = timeline_events(checklist_from_evidence(evidence), lang=lang)
        labels = [(e.label, e.status) for e in events]
        assert (phrase("timeline.attempt_interrupted", lang), "warning") in labels
        assert ("relay.example:25 250", "ok") in labels
