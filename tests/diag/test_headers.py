"""diag.headers on synthetic input: Microsoft 365 junk, phish, bulk, user rules and allowlists,
rspamd, Gmail's DMARC disposition, Received parsing, malformed input, and a property test that
arbitrary text never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from diag.headers import (
    parse_authentication_results,
    parse_forefront,
    parse_header_block,
    parse_headers,
    parse_received,
)

RECEIVED = (
    "Received: from mail-out.platform.visma.com (mail-out.platform.visma.com [198.51.100.10])\r\n"
    "\tby mx.kunde.example (Postfix) with ESMTPS id 4XyZ\r\n"
    "\tfor <kari@kunde.example>; Thu, 26 Nov 2026 10:00:05 +0000\r\n"
    "Received: from app01 (app01 [10.0.0.5]) by mail-out.platform.visma.com with ESMTP\r\n"
    "\tid abc; Thu, 26 Nov 2026 10:00:00 +0000\r\n"
)
M365_AR = (
    "Authentication-Results: spf=pass (sender IP is 198.51.100.10)\r\n"
    " smtp.mailfrom=platform.visma.com; dkim=pass (signature was verified)\r\n"
    " header.d=platform.visma.com;dmarc=pass action=none\r\n"
    " header.from=platform.visma.com;compauth=pass reason=100\r\n"
)


def m365(
    forefront: str, *, scl: str | None = None, antispam: str = "BCL:0;", ar: str = M365_AR
) -> str:
    text = RECEIVED + ar + f"X-Forefront-Antispam-Report: {forefront}\r\n"
    text += f"X-Microsoft-Antispam: {antispam}\r\n"
    if scl is not None:
        text += f"X-MS-Exchange-Organization-SCL: {scl}\r\n"
    return text + "Subject: Tilbakestill passordet ditt\r\n\r\nbody\r\n"


def analyze(text: str) -> dict[str, Any]:
    return parse_headers(text).to_dict()


def details(verdict: dict[str, Any]) -> dict[str, str]:
    return {d["field"]: d["code"] for d in verdict["details"]}


def test_m365_junk() -> None:
    data = analyze(
        m365(
            "CIP:198.51.100.10;CTRY:NO;LANG:nb;SCL:5;SRV:;IPV:NLI;SFV:SPM;CAT:SPM;DIR:INB;", scl="5"
        )
    )
    verdict = data["verdicts"][0]
    assert verdict["system"] == "microsoft"
    assert verdict["spam"] is True
    assert (verdict["score"], verdict["threshold"]) == (5, 5)
    assert details(verdict)["SFV"] == "ms.sfv.spam"
    assert details(verdict)["CAT"] == "ms.cat.spam"
    assert details(verdict)["SCL"] == "ms.scl.spam"
    assert details(verdict)["compauth"] == "ms.compauth.pass"
    assert details(verdict)["compauth reason"] == "ms.compauth_reason.passed"
    assert data["conclusion"]["folder"] == "junk"
    assert data["conclusion"]["reason"] == "spam_filter"
    assert data["authentication"][0]["compauth"] == "pass"
    assert data["authentication"][0]["dmarc_disposition"] == "NONE"
    assert data["hops"][1]["delay_seconds"] == 5.0
    assert data["total_delay_seconds"] == 5.0


def test_m365_phish_is_quarantined() -> None:
    data = analyze(m365("SCL:9;SFV:SPM;CAT:PHSH;DIR:INB;"))
    assert details(data["verdicts"][0])["CAT"] == "ms.cat.phish"
    assert details(data["verdicts"][0])["SCL"] == "ms.scl.high_confidence_spam"
    assert data["conclusion"] == {
        "folder": "quarantine",
        "reason": "phish",
        "summary": data["conclusion"]["summary"],
        "decided_by": "microsoft:microsoft365",
    }


def test_m365_bulk() -> None:
    data = analyze(m365("SCL:6;SFV:SPM;CAT:BULK;SRV:BULK;DIR:INB;", antispam="BCL:7;ARA:1"))
    verdict = data["verdicts"][0]
    assert details(verdict)["BCL"] == "ms.bcl.bulk_mixed_complaints"
    assert details(verdict)["CAT"] == "ms.cat.bulk"
    assert details(verdict)["SRV"] == "ms.srv.bulk"
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == ("junk", "bulk")


def test_m365_bcl_over_threshold_without_category_is_bulk() -> None:
    data = analyze(m365("SCL:5;SFV:SPM;DIR:INB;", antispam="BCL:8;"))
    assert data["conclusion"]["reason"] == "bulk"


def test_m365_blocked_sender_user_rule() -> None:
    data = analyze(m365("SCL:6;SFV:BLK;CAT:NONE;DIR:INB;"))
    assert data["verdicts"][0]["spam"] is True
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == ("junk", "user_rule")


def test_m365_policy_blocked_sender_is_an_admin_setting() -> None:
    data = analyze(m365("SCL:6;SFV:SKB;CAT:NONE;DIR:INB;"))
    assert data["verdicts"][0]["spam"] is True
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == ("junk", "admin_rule")


def test_m365_allowlisted_and_intra_org() -> None:
    data = analyze(m365("SCL:-1;SFV:SKA;CAT:NONE;DIR:INB;"))
    assert details(data["verdicts"][0])["SCL"] == "ms.scl.filtering_skipped"
    assert data["verdicts"][0]["spam"] is False
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == ("inbox", "allowlisted")
    data = analyze(m365("SCL:1;SFV:NSPM;CAT:NONE;DIR:INB;"))
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == ("inbox", "none")


def test_m365_spoof_is_an_authentication_problem() -> None:
    ar = "Authentication-Results: spf=fail smtp.mailfrom=x.example; compauth=fail reason=000\r\n"
    data = analyze(m365("SCL:5;SFV:SPM;CAT:SPOOF;DIR:INB;", ar=ar))
    assert details(data["verdicts"][0])["compauth reason"] == "ms.compauth_reason.explicit_fail"
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == (
        "junk",
        "authentication",
    )


def test_org_scl_alone() -> None:
    text = RECEIVED + "X-MS-Exchange-Organization-SCL: 6\r\n\r\n"
    data = analyze(text)
    verdict = data["verdicts"][0]
    assert (verdict["system"], verdict["score"], verdict["spam"]) == ("microsoft", 6, True)
    assert data["conclusion"]["folder"] == "junk"


def test_parse_forefront_tolerates_junk() -> None:
    assert parse_forefront("CIP:1.2.3.4;;SCL:1; SFV : NSPM ;garbage;:x;") == {
        "CIP": "1.2.3.4",
        "SCL": "1",
        "SFV": "NSPM",
    }


def test_rspamd_reject_and_add_header() -> None:
    text = (
        "X-Spamd-Result: default: True [16.40 / 15.00];\r\n"
        "\tBAYES_SPAM(5.10)[99.99%]; R_SPF_FAIL(1.00)[-all];\r\n"
        "\tRBL_SPAMHAUS_SBL(4.00)[1.2.3.4:from]\r\n"
        "X-Rspamd-Action: reject\r\n"
        "X-Rspamd-Server: rspamd1.example\r\n\r\n"
    )
    data = analyze(text)
    verdict = data["verdicts"][0]
    assert verdict["system"] == "rspamd"
    assert verdict["receiver"] == "rspamd1.example"
    assert (verdict["spam"], verdict["score"], verdict["threshold"]) == (True, 16.4, 15.0)
    codes = [d["code"] for d in verdict["details"]]
    assert codes[:2] == ["rspamd.spam", "rspamd.action.reject"]
    assert "rspamd.rule.bayes" in codes
    assert "rspamd.rule.spf" in codes
    assert "rspamd.rule.ip_blocklist" in codes
    assert data["conclusion"]["folder"] == "rejected"
    text = "X-Spamd-Result: default: False [7.0 / 15.0]\r\nX-Rspamd-Action: add header\r\n\r\n"
    data = analyze(text)
    assert data["verdicts"][0]["spam"] is True
    assert data["conclusion"]["folder"] == "junk"
    clean = analyze("X-Spamd-Result: default: False [0.5 / 15.0]\r\n\r\n")
    assert clean["verdicts"][0]["spam"] is False
    assert clean["conclusion"]["folder"] == "inbox"


def test_modern_spamassassin_folded_tests() -> None:
    text = (
        "X-Spam-Checker-Version: SpamAssassin 4.0.0 (2022-12-14) on mx1.kunde.example\r\n"
        "X-Spam-Status: Yes, score=7.3 required=5.0 tests=BAYES_99,DKIM_INVALID,\r\n"
        "\tRCVD_IN_SBL,URIBL_BLACK autolearn=no autolearn_force=no version=4.0.0\r\n\r\n"
    )
    verdict = analyze(text)["verdicts"][0]
    assert verdict["receiver"] == "mx1.kunde.example"
    assert (verdict["spam"], verdict["score"], verdict["threshold"]) == (True, 7.3, 5.0)
    tests = [d["value"] for d in verdict["details"] if d["field"] == "tests"]
    assert tests == ["BAYES_99", "DKIM_INVALID", "RCVD_IN_SBL", "URIBL_BLACK"]


def test_gmail_dmarc_quarantine_disposition() -> None:
    text = (
        "Authentication-Results: mx.google.com;\r\n"
        "       spf=fail smtp.mailfrom=legacy.visma.example;\r\n"
        "       dmarc=fail (p=QUARANTINE sp=NONE dis=SPAM) header.from=legacy.visma.example\r\n\r\n"
    )
    data = analyze(text)
    verdict = data["verdicts"][0]
    assert (verdict["system"], verdict["spam"]) == ("gmail", True)
    assert verdict["details"][0]["code"] == "gmail.dmarc_disposition.spam"
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == (
        "junk",
        "authentication",
    )
    failed = [f for f in data["findings"] if f["code"] == "headers.auth_failed"]
    assert [f["evidence"]["method"] for f in failed] == ["spf", "dmarc"]


def test_dmarc_failure_without_verdict() -> None:
    data = analyze("Authentication-Results: mx.kunde.example; dmarc=fail header.from=x.example\n\n")
    assert data["conclusion"]["folder"] == "unknown"
    assert data["conclusion"]["reason"] == "authentication"


def test_received_clauses() -> None:
    hop = parse_received(
        "from [192.0.2.7] (helo=client) by mx.example.net with esmtpa (Exim 4.96)"
        " id 1abc-000 for kari@kunde.example; Thu, 26 Nov 2026 10:00:00 -0000"
    )
    assert hop.from_host == "192.0.2.7"
    assert hop.from_ip == "192.0.2.7"
    assert hop.by_host == "mx.example.net"
    assert hop.with_protocol == "ESMTPA"
    assert hop.id == "1abc-000"
    assert hop.for_address == "kari@kunde.example"
    assert hop.at is not None
    assert hop.at.utcoffset() is not None
    undated = parse_received("by localhost with LMTP")
    assert undated.at is None
    assert undated.by_host == "localhost"


def test_headers_only_paste_mbox_line_and_leading_blank_lines() -> None:
    block = parse_header_block("\n\nFrom someone@example.com Thu Nov 26 2026\nSubject: x\n")
    assert block.fields == (("Subject", "x"),)
    assert block.body is None


def test_malformed_lines_are_findings() -> None:
    data = analyze("this is not a header\n continuation without field\nSubject: ok\n")
    codes = [f["code"] for f in data["findings"]]
    assert "headers.malformed_lines" in codes
    evidence = next(f for f in data["findings"] if f["code"] == "headers.malformed_lines")
    assert evidence["evidence"]["count"] == 2


def test_empty_input() -> None:
    data = analyze("")
    assert [f["code"] for f in data["findings"]] == ["headers.empty", "headers.no_verdict"]
    assert data["hops"] == []
    assert data["total_delay_seconds"] is None


def test_unreadable_authentication_results() -> None:
    entry = parse_authentication_results("   ;;;")
    assert entry.parsed is False
    data = analyze("Authentication-Results: ;\n\n")
    assert "headers.authres_unreadable" in [f["code"] for f in data["findings"]]


def test_latin1_bytes() -> None:
    data = parse_headers(b"Subject: bl\xe5b\xe6r\nX-Spam-Status: No, score=1.0 required=5.0\n\n")
    assert data.verdicts[0].score == 1.0


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=2000))
def test_arbitrary_text_never_raises(text: str) -> None:
    parse_headers(text).to_dict()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Received: ",
                "Authentication-Results: ",
                "ARC-Authentication-Results: i=",
                "X-Forefront-Antispam-Report: ",
                "X-Spam-Status: ",
                "X-Spamd-Result: ",
                "X-Microsoft-Antispam: BCL:",
                "X-Proofpoint-Spam-Details: ",
                "X-Barracuda-Spam-Status: ",
                "X-MS-Exchange-Organization-SCL: ",
            ]
        ).flatmap(lambda name: st.text(max_size=200).map(lambda v: name + v.replace("\n", " "))),
        max_size=12,
    )
)
def test_arbitrary_known_fields_never_raise(lines: list[str]) -> None:
    parse_headers("\n".join(lines) + "\n\nbody").to_dict()


def test_bare_spam_flag() -> None:
    data = analyze("X-Spam-Flag: YES\r\n\r\n")
    verdict = data["verdicts"][0]
    assert (verdict["system"], verdict["spam"], verdict["score"]) == ("spamassassin", True, None)
    assert data["conclusion"]["folder"] == "junk"
    assert analyze("X-Spam-Flag: NO\n\n")["conclusion"]["folder"] == "inbox"


def test_huge_authentication_results_take_the_tolerant_path() -> None:
    value = "mx.kunde.example; spf=pass " + " ".join(f"smtp.p{i}=v{i}" for i in range(200))
    entry = parse_authentication_results(value)
    assert entry.parser == "tolerant"
    assert entry.receiver == "mx.kunde.example"
    assert entry.summary("spf") == "pass"
    assert entry.results[0].prop("smtp.p0") == "v0"
