"""authenticate(): a receiver's verdict on one message, against a strict in-memory resolver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import authres
import authres.arc
import authres.dmarc
import pytest

from diag.authenticate import authenticate, from_domains, parse_header_block
from diag.dkim import KeyPair, generate_keypair, sign_message
from diag.resolver import TXT, MemoryResolver, Record

DOMAIN = "example.test"
SELECTOR = "s2026"
GOOD_IP = "192.0.2.25"
BAD_IP = "198.51.100.9"
KEYS = {"result", "domain", "selector", "reason"}
DMARC_KEYS = {
    "result",
    "policy",
    "disposition",
    "from_domain",
    "policy_domain",
    "organizational_domain",
    "spf_aligned",
    "dkim_aligned",
}

MESSAGE = (
    b"From: Reset <do.not.reply@example.test>\r\n"
    b"To: kari@kunde-ok.example\r\n"
    b"Subject: Reset your password\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <1@example.test>\r\n"
    b"\r\n"
    b"Follow the link.\r\n"
)


@pytest.fixture(scope="module")
def keypair() -> KeyPair:
    return generate_keypair("rsa-sha256", 2048)


def _zone(keypair: KeyPair) -> dict[str, dict[str, Sequence[Record]]]:
    return {
        DOMAIN: {
            "TXT": [TXT((b"v=spf1 ip4:192.0.2.0/24 -all",))],
            "A": ["192.0.2.25"],
        },
        f"_dmarc.{DOMAIN}": {"TXT": [TXT((b"v=DMARC1; p=reject",))]},
        f"{SELECTOR}._domainkey.{DOMAIN}": {"TXT": [TXT((keypair.public_txt.encode(),))]},
        "mail.example.test": {"A": [GOOD_IP]},
    }


def _resolver(keypair: KeyPair, **kwargs: Any) -> MemoryResolver:
    return MemoryResolver(_zone(keypair), nxdomain=["_dmarc.test"], **kwargs)


def _signed(keypair: KeyPair, message: bytes = MESSAGE) -> bytes:
    return sign_message(
        message, domain=DOMAIN, selector=SELECTOR, private_key=keypair.private_pem_or_seed
    )


def _codes(data: Mapping[str, Any]) -> list[str]:
    return [f["code"] for f in data["findings"]]


async def _verdict(message: bytes, resolver: MemoryResolver, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "ip": GOOD_IP,
        "helo": "mail.example.test",
        "mail_from": "bounce@example.test",
    }
    args.update(kwargs)
    verdict = await authenticate(message, resolver=resolver, **args)
    return verdict.to_dict()


async def test_signed_message_passes_everything(keypair: KeyPair) -> None:
    resolver = _resolver(keypair)
    data = await _verdict(_signed(keypair), resolver)
    assert set(data) == {"spf", "dkim", "dmarc", "arc", "authentication_results", "findings"}
    assert data["spf"] == {"result": "pass", "domain": DOMAIN}
    assert data["dkim"] == [
        {"result": "pass", "domain": DOMAIN, "selector": SELECTOR, "reason": ""}
    ]
    assert set(data["dmarc"]) == DMARC_KEYS
    assert data["dmarc"]["result"] == "pass"
    assert data["dmarc"]["policy"] == "reject"
    assert data["dmarc"]["disposition"] == "none"
    assert data["dmarc"]["spf_aligned"] is True
    assert data["dmarc"]["dkim_aligned"] is True
    assert data["arc"]["result"] == "none"
    assert {"auth.spf_pass", "auth.dkim_pass", "auth.dmarc_pass"} <= set(_codes(data))
    assert all(set(f) >= {"code", "severity", "summary", "evidence"} for f in data["findings"])
    parsed = authres.FeatureContext(authres.dmarc, authres.arc).parse_value(
        data["authentication_results"]
    )
    assert parsed.authserv_id == "maildiag"
    methods = {(r.method, r.result) for r in parsed.results}
    assert methods == {("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass")}
    dkim_result = next(r for r in parsed.results if r.method == "dkim")
    assert dkim_result.header_d == DOMAIN
    assert dkim_result.header_s == SELECTOR
    assert next(r for r in parsed.results if r.method == "spf").smtp_mailfrom == DOMAIN
    # SPF, the DKIM key and the DMARC record: nothing unexpected was asked
    assert (f"{SELECTOR}._domainkey.{DOMAIN}", "TXT") in resolver.queries
    assert (f"_dmarc.{DOMAIN}", "TXT") in resolver.queries


async def test_wrong_ip_fails_spf_but_dkim_carries_dmarc(keypair: KeyPair) -> None:
    data = await _verdict(_signed(keypair), _resolver(keypair), ip=BAD_IP)
    assert data["spf"]["result"] == "fail"
    assert data["dmarc"]["result"] == "pass"
    assert data["dmarc"]["spf_aligned"] is False
    assert "auth.spf_fail" in _codes(data)
    assert "spf=fail" in data["authentication_results"]


async def test_tampered_body_and_wrong_ip_fail_dmarc(keypair: KeyPair) -> None:
    tampered = _signed(keypair).replace(b"Follow the link.", b"Follow this link!")
    data = await _verdict(tampered, _resolver(keypair), ip=BAD_IP)
    assert data["dkim"][0]["result"] == "fail"
    assert data["dkim"][0]["reason"] == "body_hash_mismatch"
    assert data["dmarc"]["result"] == "fail"
    assert data["dmarc"]["disposition"] == "reject"
    assert "dkim=fail reason=body_hash_mismatch" in data["authentication_results"]


async def test_null_reverse_path_uses_helo_identity(keypair: KeyPair) -> None:
    data = await _verdict(_signed(keypair), _resolver(keypair), mail_from="<>", helo="example.test")
    assert data["spf"] == {"result": "pass", "domain": DOMAIN}
    assert "smtp.helo=example.test" in data["authentication_results"]
    spf_finding = next(f for f in data["findings"] if f["code"] == "auth.spf_pass")
    assert spf_finding["evidence"]["identity"] == "helo"


async def test_no_identity_at_all_is_spf_none(keypair: KeyPair) -> None:
    data = await _verdict(MESSAGE, _resolver(keypair), mail_from=None, helo=None)
    assert data["spf"] == {"result": "none", "domain": ""}
    assert data["dkim"] == []
    assert "auth.dkim_none" in _codes(data)


async def test_unsigned_message_without_from(keypair: KeyPair) -> None:
    message = b"To: kari@kunde-ok.example\r\nSubject: x\r\n\r\nbody\r\n"
    data = await _verdict(message, _resolver(keypair))
    assert data["dkim"] == []
    assert data["dmarc"]["result"] == "permerror"
    assert {"auth.no_from", "auth.dmarc_permerror"} <= set(_codes(data))


async def test_several_from_fields_are_all_evaluated(keypair: KeyPair) -> None:
    message = b"From: a@example.test\r\nFrom: b@other.test\r\nSubject: x\r\n\r\nbody\r\n"
    resolver = _resolver(keypair, strict=False)
    data = await _verdict(message, resolver)
    assert "auth.multiple_from_fields" in _codes(data)
    assert ("_dmarc.other.test", "TXT") in resolver.queries
    assert "dmarc.multiple_from_domains" in _codes(data)


def test_from_parsing_is_robust() -> None:
    block = parse_header_block(b'From: "x, y" <a@Example.TEST.>, b@other.test\nTo: z\n\nbody')
    author = from_domains(block)
    assert author.domains == ("example.test", "other.test")
    assert author.problems == ("multiple_from_addresses",)
    assert from_domains(parse_header_block(b"From: undisclosed\r\n\r\n")).problems == (
        "from_unparseable",
    )
    assert from_domains(parse_header_block(b"Subject: x\r\n\r\n")).problems == ("no_from",)
    garbled = parse_header_block(b"From: a@example.test\r\nthis is not a header\r\n\r\n")
    assert garbled.problems == ("garbled_line",)
    eight_bit = parse_header_block("From: Åse <åse@example.test>\r\n\r\n".encode("latin-1"))
    assert eight_bit.problems == ("eight_bit", "invalid_utf8")


async def test_header_limit_skips_dkim_and_arc(keypair: KeyPair) -> None:
    many = b"".join(b"X-Filler-%d: y\r\n" % i for i in range(2000))
    message = _signed(keypair).replace(b"\r\n\r\n", b"\r\n" + many + b"\r\n", 1)
    resolver = _resolver(keypair)
    data = await _verdict(message, resolver)
    assert "auth.header_limit" in _codes(data)
    assert data["dkim"] == []
    assert (f"{SELECTOR}._domainkey.{DOMAIN}", "TXT") not in resolver.queries


async def test_duplicate_dkim_tags_are_a_permerror(keypair: KeyPair) -> None:
    signed = _signed(keypair)
    broken = signed.replace(b"d=example.test;", b"d=example.test; d=example.test;", 1)
    data = await _verdict(broken, _resolver(keypair))
    assert data["dkim"][0]["result"] == "permerror"
    assert data["dkim"][0]["reason"] == "signature_syntax"


async def test_dns_failure_is_temperror_not_fail(keypair: KeyPair) -> None:
    errors = {(f"{SELECTOR}._domainkey.{DOMAIN}", "TXT"): "timeout", (DOMAIN, "TXT"): "servfail"}
    data = await _verdict(_signed(keypair), _resolver(keypair, errors=errors))
    assert data["spf"]["result"] == "temperror"
    assert data["dkim"][0]["result"] == "temperror"
    assert data["dmarc"]["result"] != "fail"


async def test_header_byte_limit(keypair: KeyPair) -> None:
    huge = b"X-Huge: " + b"a" * 300_000 + b"\r\n"
    message = _signed(keypair).replace(b"\r\n\r\n", b"\r\n" + huge + b"\r\n", 1)
    data = await _verdict(message, _resolver(keypair))
    assert "auth.header_limit" in _codes(data)
    assert data["dkim"] == []
    assert data["dmarc"]["from_domain"] == DOMAIN


def test_public_surface() -> None:
    import diag.authenticate

    assert len(set(diag.authenticate.__all__)) == len(diag.authenticate.__all__)
    assert not any(name.startswith("_") for name in diag.authenticate.__all__)
    for name in diag.authenticate.__all__:
        assert getattr(diag.authenticate, name) is not None


@pytest.mark.parametrize("ip", [GOOD_IP, BAD_IP])
async def test_json_parts_are_the_results_own_fields(keypair: KeyPair, ip: str) -> None:
    tampered = _signed(keypair).replace(b"Follow the link.", b"Follow this link!")
    for message in (_signed(keypair), tampered):
        verdict = await authenticate(
            message, ip=ip, helo="mail.example.test", mail_from="bounce@example.test",
            resolver=_resolver(keypair),
        )  # fmt: skip
        data = verdict.to_dict()
        dmarc = verdict.dmarc.to_dict()
        assert data["dmarc"] == {k: dmarc[k] for k in DMARC_KEYS}
        keys = ("result", "domain", "selector", "reason")
        assert data["dkim"] == [{k: d.to_dict()[k] for k in keys} for d in verdict.dkim]
