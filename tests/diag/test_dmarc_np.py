"""One DMARC policy choice for both paths (RFC 9989 §4.7 "np", §4.10.1): the sender report
(``check_sender_domain``, through ``check_domain``) and ``authenticate`` (through
``evaluate``) agree on the policy for a From domain that does not exist (np) and for one that
does (sp)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from diag.authenticate import authenticate
from diag.dmarc import applicable_policy, parse_dmarc, policy_choices
from diag.resolver import TXT, MemoryResolver, Record
from diag.senders import check_sender_domain

ORG = "visma.example"
GHOST = "ghost.visma.example"  # NXDOMAIN for A, AAAA and MX: a non-existent subdomain
REAL = "real.visma.example"
IP = "203.0.113.9"


def resolver(dmarc: str) -> MemoryResolver:
    zone: dict[str, dict[str, Sequence[Record]]] = {
        ORG: {"TXT": [TXT((b"v=spf1 -all",))], "A": ["192.0.2.1"]},
        f"_dmarc.{ORG}": {"TXT": [TXT((dmarc.encode(),))]},
        REAL: {"A": ["192.0.2.2"], "TXT": [TXT((b"v=spf1 -all",))]},
    }
    return MemoryResolver(zone, strict=False)


def message(domain: str) -> bytes:
    return (
        f"From: Visma <do.not.reply@{domain}>\r\nTo: kari@kunde-ok.example\r\n"
        "Subject: Tilbakestill passordet ditt\r\nMessage-ID: <np-1@visma.example>\r\n"
        "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nHei\r\n"
    ).encode()


async def report_policy(domain: str, dmarc: str) -> object:
    report = await check_sender_domain(domain, resolver(dmarc), selectors=())
    section = report.section("dmarc")
    assert section is not None
    return section.checks["record"]["policy"]


async def verdict_policy(domain: str, dmarc: str) -> tuple[str, str, str]:
    verdict = await authenticate(
        message(domain),
        ip=IP,
        helo="mail.example.net",
        mail_from=f"bounce@{domain}",
        resolver=resolver(dmarc),
    )
    return verdict.dmarc.result, verdict.dmarc.policy, verdict.dmarc.disposition


@pytest.mark.parametrize(
    ("dmarc", "domain", "policy"),
    [
        ("v=DMARC1; p=reject; sp=none; np=reject", GHOST, "reject"),
        ("v=DMARC1; p=reject; sp=none; np=reject", REAL, "none"),
        ("v=DMARC1; p=none; sp=none; np=quarantine", GHOST, "quarantine"),
        ("v=DMARC1; p=reject; sp=quarantine", GHOST, "quarantine"),
        ("v=DMARC1; p=none; sp=reject; np=none", GHOST, "none"),
        ("v=DMARC1; p=quarantine; np=reject", ORG, "quarantine"),
    ],
)
async def test_sender_report_and_authenticate_agree(dmarc: str, domain: str, policy: str) -> None:
    result, judged, disposition = await verdict_policy(domain, dmarc)
    assert result == "fail"
    assert judged == policy
    assert disposition == policy
    assert await report_policy(domain, dmarc) == policy


async def test_sender_report_finds_a_strong_np_for_a_missing_subdomain() -> None:
    dmarc = "v=DMARC1; p=reject; sp=none; np=reject; rua=mailto:d@visma.example"
    report = await check_sender_domain(GHOST, resolver(dmarc), selectors=())
    section = report.section("dmarc")
    assert section is not None
    codes = {f.code: dict(f.evidence) for f in section.findings}
    assert codes["dmarc.policy_ok"] == {"policy": "reject"}
    assert "dmarc.policy_none" not in codes
    assert section.checks["record"]["domain_exists"] is False


def test_policy_choices_are_pure() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; sp=none; np=quarantine")
    choose = {"policy_domain": ORG, "organizational_domain": ORG, "record": record}
    assert policy_choices(ORG, **choose) == ("reject", "reject")  # type: ignore[arg-type]
    assert policy_choices(GHOST, **choose) == ("none", "quarantine")  # type: ignore[arg-type]


async def test_existence_is_not_looked_up_when_np_changes_nothing() -> None:
    """A strict resolver with no zone fails any query: none is made."""
    record = parse_dmarc("v=DMARC1; p=reject; sp=none; np=none")
    strict = MemoryResolver({}, strict=True)
    policy, exists, failure = await applicable_policy(
        GHOST, policy_domain=ORG, organizational_domain=ORG, record=record, resolver=strict
    )
    assert (policy, exists, failure) == ("none", None, None)
