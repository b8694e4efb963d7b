"""diag.headers on the 14 real-world header samples of the shared conformance data (§5):
hop counts, receivers, authentication, verdicts and conclusions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diag.headers import analyze_headers, parse_header_block, parse_headers
from diag.resolver import TXT, MemoryResolver


@pytest.fixture(scope="module")
def samples(conformance_dir: Path) -> Path:
    folder = conformance_dir / "headers"
    if not folder.is_dir():
        pytest.skip("shared conformance headers (../shared/conformance/headers) are absent")
    return folder


def report(samples: Path, name: str) -> dict[str, Any]:
    return parse_headers((samples / name).read_bytes()).to_dict()


def codes(data: dict[str, Any]) -> list[str]:
    return [f["code"] for f in data["findings"]]


def test_report_has_exactly_the_design_keys(samples: Path) -> None:
    data = report(samples, "blaze/001.mail")
    assert set(data) == {
        "hops",
        "total_delay_seconds",
        "authentication",
        "verdicts",
        "conclusion",
        "findings",
    }
    assert {"from", "by", "with", "at", "delay_seconds"} <= set(data["hops"][0])
    assert {"receiver", "spf", "dkim", "dmarc", "arc", "compauth"} <= set(data["authentication"][0])
    assert {"receiver", "system", "spam", "score", "threshold", "details"} <= set(
        data["verdicts"][0]
    )
    assert set(data["conclusion"]) >= {"folder", "reason", "summary"}


HOPS = {
    "blaze/001.mail": 4,
    "blaze/002.mail": 2,
    "blaze/003.mail": 7,
    "blaze/004.mail": 3,
    "blaze/005.mail": 3,
    "blaze/006.mail": 9,
    "decode-spam-headers/sample-headers.txt": 2,
    "mail-parser/mail_test_17.eml": 4,
    "mailauth/arc-pass.eml": 5,
    "mailauth/authtest.eml": 3,
    "mailauth/message2.eml": 2,
    "spamassassin/nice-authres.eml": 6,
    "spamassassin/nice-dkim-MIMEsimple_04.eml": 0,
    "spamassassin/spam-003.eml": 6,
}


@pytest.mark.parametrize(("name", "count"), HOPS.items(), ids=list(HOPS))
def test_hop_counts_and_order(samples: Path, name: str, count: int) -> None:
    data = report(samples, name)
    assert len(data["hops"]) == count
    dated = [h["at"] for h in data["hops"] if h["at"]]
    if len(dated) >= 2:
        assert data["total_delay_seconds"] is not None


def test_001_gmail_hops_oldest_first(samples: Path) -> None:
    data = report(samples, "blaze/001.mail")
    first, last = data["hops"][0], data["hops"][-1]
    assert first["from"] == "github-smtp2b-ext-cp1-prd.iad.github.net"
    assert first["by"] == "ismtpd0004p1iad1.sendgrid.net"
    assert first["with"] == "ESMTP"
    assert first["delay_seconds"] is None
    assert last["by"] == "10.103.97.5"
    gmail = data["hops"][2]
    assert gmail["from_ip"] == "192.254.112.98"
    assert gmail["for"] == "romain.calascibetta@gmail.com"
    assert gmail["at"] == "2016-11-09T12:10:29-08:00"
    assert data["authentication"][0]["receiver"] == "mx.google.com"
    assert [data["authentication"][0][m] for m in ("spf", "dkim", "dmarc")] == ["pass"] * 3
    verdict = data["verdicts"][0]
    assert (verdict["system"], verdict["spam"]) == ("gmail", False)
    assert data["conclusion"]["folder"] == "inbox"


def test_003_seven_hops_with_delays(samples: Path) -> None:
    data = report(samples, "blaze/003.mail")
    assert data["total_delay_seconds"] == 21.0
    assert [h["delay_seconds"] for h in data["hops"]][1:3] == [20.0, 0.0]
    assert data["verdicts"] == []
    assert data["conclusion"]["folder"] == "unknown"


def test_005_clock_skew_is_flagged(samples: Path) -> None:
    data = report(samples, "blaze/005.mail")
    assert data["hops"][1]["delay_seconds"] == -6.0
    assert data["hops"][1]["clock_skew"] is True
    skew = next(f for f in data["findings"] if f["code"] == "headers.clock_skew")
    assert skew["evidence"]["hop"] == 2
    arc = [a for a in data["authentication"] if a["source"] == "ARC-Authentication-Results"]
    assert [a["instance"] for a in arc] == [3, 2, 1]
    assert arc[1]["receiver"] == "mailfilter02.webhostingserver.nl"


def test_006_microsoft_forefront_headers(samples: Path) -> None:
    data = report(samples, "blaze/006.mail")
    ms = [v for v in data["verdicts"] if v["system"] == "microsoft"]
    assert len(ms) == 2
    trusted, untrusted = ms
    assert trusted["score"] == 1
    assert trusted["threshold"] == 5
    assert trusted["spam"] is False
    details = {d["field"]: d for d in trusted["details"]}
    assert details["SFV"]["value"] == "NSPM"
    assert details["SFV"]["code"] == "ms.sfv.not_spam"
    assert details["CAT"]["code"] == "ms.cat.none"
    assert details["BCL"]["value"] == "0"
    assert details["DIR"]["code"] == "ms.dir.outbound"
    assert details["IPV"]["code"] == "ms.ipv.ip_allow_list"
    assert details["CIP"]["value"] == "63.35.35.123"
    assert untrusted["header"] == "X-Forefront-Antispam-Report-Untrusted"
    assert untrusted["final"] is False
    kernel = data["authentication"][0]
    assert (kernel["receiver"], kernel["arc"]) == ("smtp.subspace.kernel.org", "fail")
    assert any(
        f["code"] == "headers.auth_failed" and f["evidence"]["method"] == "arc"
        for f in data["findings"]
    )
    assert data["hops"][0]["from_ip"] == "fe80::12b5:3f0a:2090:fa7c"  # bracketed, in a comment
    assert data["hops"][1]["from_ip"] == "2603:10a6:20b:290::9"  # a bare address in the comment
    microsoft = [a for a in data["authentication"] if a["receiver"] == "mx.microsoft.com"]
    assert [a["instance"] for a in microsoft] == [2, 1]
    # outbound scans do not decide the recipient's folder
    assert data["conclusion"]["folder"] == "unknown"


def test_decode_spam_headers_sample(samples: Path) -> None:
    data = report(samples, "decode-spam-headers/sample-headers.txt")
    systems = [v["system"] for v in data["verdicts"]]
    assert systems == ["microsoft", "spamassassin", "other", "other"]
    ms = data["verdicts"][0]
    assert {d["field"]: d["value"] for d in ms["details"]}["SFV"] == "SKI"
    assert "ms.sfv.intra_organization" in [d["code"] for d in ms["details"]]
    assert ms["score"] == 1
    assert ms["spam"] is False
    sa = data["verdicts"][1]
    assert (sa["spam"], sa["score"], sa["threshold"]) == (False, -0.1, 5.0)
    assert data["conclusion"]["folder"] == "inbox"
    assert data["conclusion"]["reason"] == "none"
    assert data["total_delay_seconds"] == 60.0


def test_body_header_like_line_is_not_parsed(samples: Path) -> None:
    raw = (samples / "decode-spam-headers/sample-headers.txt").read_bytes()
    assert b"X-Should-Not-Be-Parsed" in raw
    block = parse_header_block(raw)
    assert block.values("X-Should-Not-Be-Parsed") == []
    assert block.values("Subject") == ["This is a test subject with a folded line"]


def test_spam_003_is_junk_by_spamassassin(samples: Path) -> None:
    data = report(samples, "spamassassin/spam-003.eml")
    assert len(data["verdicts"]) == 1  # the duplicated X-Spam-Status is one verdict
    verdict = data["verdicts"][0]
    assert verdict["system"] == "spamassassin"
    assert verdict["spam"] is True
    assert (verdict["score"], verdict["threshold"]) == (15.0, 5.0)
    assert "sa.flag.spam" in [d["code"] for d in verdict["details"]]
    assert data["conclusion"]["folder"] == "junk"
    assert data["conclusion"]["reason"] == "spam_filter"
    assert "headers.junk" in codes(data)


def test_folded_old_spamassassin_status(samples: Path) -> None:
    data = report(samples, "spamassassin/nice-dkim-MIMEsimple_04.eml")
    verdict = data["verdicts"][0]
    assert (verdict["spam"], verdict["score"], verdict["threshold"]) == (False, 4.4, 5.0)
    tests = [d["value"] for d in verdict["details"] if d["field"] == "tests"]
    assert tests == ["BAYES_90", "HTML_30_40", "NORMAL_HTTP_TO_IP", "RCVD_IN_ORBS"]
    families = {d["value"]: d["code"] for d in verdict["details"] if d["field"] == "tests"}
    assert families["BAYES_90"] == "sa.rule.bayes"
    assert families["RCVD_IN_ORBS"] == "sa.rule.ip_blocklist"
    assert {d["field"]: d["value"] for d in verdict["details"]}["version"] == "2.55"


def test_nice_authres_torture(samples: Path) -> None:
    data = report(samples, "spamassassin/nice-authres.eml")
    auth = data["authentication"]
    receivers = [a["receiver"] for a in auth]
    assert receivers == [
        "authrestest1int",
        "authrestest2int",
        "authrestest3int",
        "authrestest4int",
        "authrestest5int",
        "authrestest6int",
        "authrestest7tru",
        "authrestest8ext",
    ]
    assert [(a["spf"], a["dkim"], a["dmarc"]) for a in auth] == [
        ("pass", "pass", None),
        (None, None, "none"),
        ("fail", None, None),
        ("fail", None, None),
        (None, "pass", None),
        (None, "fail", None),
        ("fail", None, None),
        ("pass", None, None),
    ]
    first = auth[0]["results"]
    assert [(r["method"], r["result"]) for r in first] == [
        ("spf", "pass"),
        ("dkim", "pass"),
        ("dkim", "fail"),
    ]
    assert auth[3]["results"][0]["reason"] == "just some (<>.%&! reason"
    assert auth[5]["results"][0]["properties"]["header.i"] == ' foo bar "xyz"@gmail.com'
    assert auth[4]["results"][0]["properties"]["header.d"] == "gmail.com"
    assert {a["parser"] for a in auth} == {"authres", "tolerant"}
    assert data["verdicts"][0]["system"] == "spamassassin"
    assert (data["verdicts"][0]["score"], data["verdicts"][0]["threshold"]) == (2.0, 5.0)
    assert data["hops"][0]["by"] == "milkplus"


def test_mailauth_arc_pass(samples: Path) -> None:
    data = report(samples, "mailauth/arc-pass.eml")
    top = next(a for a in data["authentication"] if a["source"] == "Authentication-Results")
    assert (top["receiver"], top["arc"], top["spf"], top["dkim"]) == (
        "mx.google.com",
        "pass",
        "neutral",
        "pass",
    )


def test_mail_parser_ironport(samples: Path) -> None:
    data = report(samples, "mail-parser/mail_test_17.eml")
    assert data["authentication"][0]["receiver"] == "mailb.triara.com"
    assert data["authentication"][0]["spf"] == "none"
    assert data["hops"][-1]["with"] == "MICROSOFT"


def test_haraka_message2(samples: Path) -> None:
    data = report(samples, "mailauth/message2.eml")
    assert data["authentication"][0]["receiver"] == "mx.ethereal.email"
    assert data["hops"][-1]["by"] == "mx.ethereal.email"


def _cache_resolver(samples: Path) -> MemoryResolver:
    zone: dict[str, dict[str, list[Any]]] = {}
    for path in (samples / "blaze" / "cache").glob("*.dns"):
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("txt:"):
                records.append(TXT((line[4:].encode(),)))
        zone[path.name.removesuffix(".dns")] = {"TXT": records}
    return MemoryResolver(zone, strict=False)


async def test_dkim_reverified_for_a_whole_message(samples: Path) -> None:
    raw = (samples / "blaze" / "003.mail").read_bytes()
    result = await analyze_headers(raw, resolver=_cache_resolver(samples))
    dkim = [f for f in result.findings if f.code.startswith("headers.dkim")]
    assert [(f.code, f.evidence["domain"]) for f in dkim] == [
        ("headers.dkim_verified", "janestreet.com")
    ]


async def test_no_dkim_reverification_without_resolver_or_body(samples: Path) -> None:
    raw = (samples / "blaze" / "003.mail").read_bytes()
    plain = await analyze_headers(raw)
    assert not [f for f in plain.findings if f.code.startswith("headers.dkim")]
    headers_only = raw.split(b"\n\n", 1)[0]
    resolver = _cache_resolver(samples)
    result = await analyze_headers(headers_only, resolver=resolver)
    assert not [f for f in result.findings if f.code.startswith("headers.dkim")]
    assert resolver.queries == []


EXPECTED = {
    # sample: (top receiver, verdict systems, folder, reason)
    "blaze/001.mail": ("mx.google.com", ["gmail"], "inbox", "none"),
    "blaze/002.mail": ("mx.google.com", ["gmail"], "inbox", "none"),
    "blaze/003.mail": ("mx.google.com", [], "unknown", "none"),
    "blaze/004.mail": ("mx.google.com", ["gmail"], "inbox", "none"),
    "blaze/005.mail": ("smtp.subspace.kernel.org", [], "unknown", "authentication"),
    "blaze/006.mail": ("smtp.subspace.kernel.org", ["microsoft", "microsoft"], "unknown", "none"),
    "decode-spam-headers/sample-headers.txt": (
        "mx.example.com",
        ["microsoft", "spamassassin", "other", "other"],
        "inbox",
        "none",
    ),
    "mail-parser/mail_test_17.eml": ("mailb.triara.com", [], "unknown", "none"),
    "mailauth/arc-pass.eml": ("mx.google.com", [], "unknown", "none"),
    "mailauth/authtest.eml": ("mx.google.com", [], "unknown", "none"),
    "mailauth/message2.eml": ("mx.ethereal.email", [], "unknown", "none"),
    "spamassassin/nice-authres.eml": ("authrestest1int", ["spamassassin"], "inbox", "none"),
    "spamassassin/nice-dkim-MIMEsimple_04.eml": (None, ["spamassassin"], "inbox", "none"),
    "spamassassin/spam-003.eml": (None, ["spamassassin"], "junk", "spam_filter"),
}


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items(), ids=list(EXPECTED))
def test_receivers_verdicts_and_conclusion(
    samples: Path, name: str, expected: tuple[str | None, list[str], str, str]
) -> None:
    receiver, systems, folder, reason = expected
    data = report(samples, name)
    plain = [a for a in data["authentication"] if a["source"] == "Authentication-Results"]
    assert (plain[0]["receiver"] if plain else None) == receiver
    assert [v["system"] for v in data["verdicts"]] == systems
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == (folder, reason)
