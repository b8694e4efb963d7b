"""verify_message: every signature, keys through our Resolver, reasons kept as evidence."""

from __future__ import annotations

import base64
import random

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diag.dkim import REASON_RESULTS, KeyPair, generate_keypair, sign_message, verify_message
from diag.dkim.verify import _classify_exception
from diag.resolver import TXT, MemoryResolver

MSG = (
    b"From: Joe <joe@example.com>\r\n"
    b"To: Kari <kari@example.org>\r\n"
    b"Subject: Reset your password\r\n"
    b"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"\r\n"
    b"Follow the link.\r\n"
)
KEY_NAME = "sel._domainkey.example.com"
RESULTS = {"pass", "fail", "neutral", "policy", "temperror", "permerror"}


@pytest.fixture(scope="module")
def rsa_pair() -> KeyPair:
    return generate_keypair("rsa-sha256", bits=2048)


@pytest.fixture(scope="module")
def ed_pair() -> KeyPair:
    return generate_keypair("ed25519-sha256")


def zone(records: dict[str, str], **kwargs: object) -> MemoryResolver:
    data = {name: {"TXT": [TXT((text.encode(),))]} for name, text in records.items()}
    return MemoryResolver(data, strict=False, **kwargs)  # type: ignore[arg-type]


def signed(pair: KeyPair, message: bytes = MSG, **kwargs: object) -> bytes:
    return sign_message(
        message,
        domain="example.com",
        selector="sel",
        private_key=pair.private_pem_or_seed,
        algorithm=pair.algorithm,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_rsa_pass(rsa_pair: KeyPair) -> None:
    resolver = zone({KEY_NAME: rsa_pair.public_txt})
    (result,) = await verify_message(signed(rsa_pair), resolver)
    assert (result.result, result.reason) == ("pass", "")
    assert (result.domain, result.selector) == ("example.com", "sel")
    assert result.algorithm == "rsa-sha256"
    assert result.key_bits == 2048
    assert result.header_i == "@example.com"
    assert not result.testing
    assert resolver.queries == [(KEY_NAME, "TXT")]
    assert result.to_dict()["result"] == "pass"
    assert {"result", "domain", "selector", "reason"} <= result.to_dict().keys()


async def test_ed25519_pass(ed_pair: KeyPair) -> None:
    (result,) = await verify_message(signed(ed_pair), zone({KEY_NAME: ed_pair.public_txt}))
    assert (result.result, result.algorithm, result.key_bits) == ("pass", "ed25519-sha256", 256)


async def test_lf_line_endings_are_canonicalised(rsa_pair: KeyPair) -> None:
    message = signed(rsa_pair).replace(b"\r\n", b"\n")
    (result,) = await verify_message(message, zone({KEY_NAME: rsa_pair.public_txt}))
    assert result.result == "pass"


async def test_unsigned_message_gives_no_results() -> None:
    resolver = zone({})
    assert await verify_message(MSG, resolver) == ()
    assert resolver.queries == []


async def test_body_tampered(rsa_pair: KeyPair) -> None:
    message = signed(rsa_pair).replace(b"Follow the link.", b"Follow this link.")
    (result,) = await verify_message(message, zone({KEY_NAME: rsa_pair.public_txt}))
    assert (result.result, result.reason) == ("fail", "body_hash_mismatch")
    assert "body hash mismatch" in result.detail


async def test_header_tampered(rsa_pair: KeyPair) -> None:
    message = signed(rsa_pair).replace(b"Subject: Reset", b"Subject: Rest")
    (result,) = await verify_message(message, zone({KEY_NAME: rsa_pair.public_txt}))
    assert (result.result, result.reason) == ("fail", "signature_mismatch")


async def test_other_key_published(rsa_pair: KeyPair) -> None:
    other = generate_keypair("ed25519-sha256")
    ed_signed = signed(other)
    (result,) = await verify_message(
        ed_signed, zone({KEY_NAME: generate_keypair("ed25519-sha256").public_txt})
    )
    assert (result.result, result.reason) == ("fail", "signature_mismatch")


@pytest.mark.parametrize(
    ("record", "result", "reason"),
    [
        pytest.param("v=DKIM1; k=rsa; p=", "fail", "key_revoked", id="rfc6376[3.6.1-revoked]"),
        pytest.param("v=DKIM1; k=rsa; p=AAAA", "permerror", "key_syntax", id="rfc6376[3.6.1-p]"),
        pytest.param("v=DKIM2; p=AAAA", "permerror", "key_syntax", id="rfc6376[3.6.1-v]"),
        pytest.param(
            "k=ed448; p=AAAA", "permerror", "unsupported_algorithm", id="rfc6376[3.6.1-k-unknown]"
        ),
    ],
)
async def test_key_problems(rsa_pair: KeyPair, record: str, result: str, reason: str) -> None:
    (verdict,) = await verify_message(signed(rsa_pair), zone({KEY_NAME: record}))
    assert (verdict.result, verdict.reason) == (result, reason)


async def test_key_restrictions(rsa_pair: KeyPair, ed_pair: KeyPair) -> None:
    message = signed(rsa_pair)
    p = rsa_pair.public_txt.split("p=")[1]
    cases = {
        f"v=DKIM1; h=sha1; p={p}": "key_hash_restricted",
        f"v=DKIM1; s=tlsrpt; p={p}": "key_service_mismatch",
        ed_pair.public_txt: "key_algorithm_mismatch",
    }
    for record, reason in cases.items():
        (verdict,) = await verify_message(message, zone({KEY_NAME: record}))
        assert (verdict.result, verdict.reason) == ("permerror", reason), record


async def test_strict_key_rejects_subdomain_identity(rsa_pair: KeyPair) -> None:
    message = signed(rsa_pair, identity="@mail.example.com")
    p = rsa_pair.public_txt.split("p=")[1]
    (loose,) = await verify_message(message, zone({KEY_NAME: f"v=DKIM1; p={p}"}))
    assert (loose.result, loose.header_i) == ("pass", "@mail.example.com")
    (strict,) = await verify_message(message, zone({KEY_NAME: f"v=DKIM1; t=s; p={p}"}))
    assert (strict.result, strict.reason) == ("permerror", "identity_mismatch")


async def test_testing_flag(rsa_pair: KeyPair) -> None:
    p = rsa_pair.public_txt.split("p=")[1]
    (result,) = await verify_message(signed(rsa_pair), zone({KEY_NAME: f"v=DKIM1; t=y; p={p}"}))
    assert result.result == "pass"
    assert result.testing


async def test_no_key(rsa_pair: KeyPair) -> None:
    resolver = zone({"example.com": "v=spf1 -all"})
    (result,) = await verify_message(signed(rsa_pair), resolver)
    assert (result.result, result.reason) == ("permerror", "no_key")
    assert "NXDOMAIN" in result.detail
    nodata = MemoryResolver({KEY_NAME: {"A": ["192.0.2.1"]}})
    (result,) = await verify_message(signed(rsa_pair), nodata)
    assert (result.result, result.reason) == ("permerror", "no_key")
    assert "NODATA" in result.detail


async def test_dns_failure_is_temperror(rsa_pair: KeyPair) -> None:
    resolver = zone({}, errors={(KEY_NAME, "TXT"): "timeout"})
    (result,) = await verify_message(signed(rsa_pair), resolver)
    assert (result.result, result.reason) == ("temperror", "dns_temperror")
    assert "timeout" in result.detail


async def test_future_timestamp_uses_callers_clock(rsa_pair: KeyPair) -> None:
    resolver = zone({KEY_NAME: rsa_pair.public_txt})
    (result,) = await verify_message(signed(rsa_pair), resolver, now=1_000_000_000)
    assert (result.result, result.reason) == ("neutral", "future_timestamp")
    assert resolver.queries == []  # judged before any lookup


async def test_rsa_sha1_is_refused(rsa_pair: KeyPair) -> None:
    signer = dkim.DKIM(MSG, signature_algorithm=b"rsa-sha1")
    header = signer.sign(b"sel", b"example.com", rsa_pair.private_pem_or_seed)
    resolver = zone({KEY_NAME: rsa_pair.public_txt})
    (result,) = await verify_message(header + MSG, resolver)
    assert (result.result, result.reason) == ("permerror", "unsupported_algorithm")
    assert "RFC 8301" in result.detail


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if all(pow(a, candidate - 1, candidate) == 1 for a in (2, 3, 5, 7, 11, 13, 17, 19, 23)):
            return candidate


def _short_rsa_key(bits: int = 512) -> tuple[bytes, str]:
    rng = random.Random(8301)
    e = 65537
    while True:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e and (p * q).bit_length() == bits:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    key = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


async def test_short_rsa_key() -> None:
    pem, record = _short_rsa_key()
    message = sign_message(MSG, domain="example.com", selector="sel", private_key=pem)
    (result,) = await verify_message(message, zone({KEY_NAME: record}))
    assert (result.result, result.reason, result.key_bits) == ("permerror", "key_too_short", 512)


async def test_from_not_signed(rsa_pair: KeyPair) -> None:
    message = signed(rsa_pair, headers=[b"from", b"subject"]).replace(
        b"h=from : subject", b"h=subject"
    )
    assert b"h=subject" in message
    resolver = zone({KEY_NAME: rsa_pair.public_txt})
    (result,) = await verify_message(message, resolver)
    assert (result.result, result.reason) == ("permerror", "missing_from_in_h")


async def test_signature_syntax_keeps_domain_and_position() -> None:
    message = b"DKIM-Signature: v=1; d=example.com; s=sel; a=rsa-sha256\r\n" + MSG
    resolver = zone({})
    (result,) = await verify_message(message, resolver)
    assert (result.result, result.reason) == ("permerror", "signature_syntax")
    assert (result.domain, result.selector) == ("example.com", "sel")
    assert "missing required tag" in result.detail
    assert "position" in result.detail
    assert resolver.queries == []


async def test_every_signature_in_order_with_concurrent_fetches(
    rsa_pair: KeyPair, ed_pair: KeyPair
) -> None:
    once = signed(rsa_pair)
    twice = sign_message(
        once,
        domain="example.net",
        selector="ed",
        private_key=ed_pair.private_pem_or_seed,
        algorithm="ed25519-sha256",
    )
    resolver = zone({KEY_NAME: rsa_pair.public_txt})  # the Ed25519 key is not published
    results = await verify_message(twice, resolver)
    assert [(r.domain, r.result, r.reason) for r in results] == [
        ("example.net", "permerror", "no_key"),
        ("example.com", "pass", ""),
    ]
    assert sorted(resolver.queries) == [("ed._domainkey.example.net", "TXT"), (KEY_NAME, "TXT")]
    limited = await verify_message(twice, zone({KEY_NAME: rsa_pair.public_txt}), max_signatures=1)
    assert [r.domain for r in limited] == ["example.net"]


async def test_same_key_fetched_once(rsa_pair: KeyPair) -> None:
    twice = signed(rsa_pair, signed(rsa_pair))
    resolver = zone({KEY_NAME: rsa_pair.public_txt})
    results = await verify_message(twice, resolver)
    assert [r.result for r in results] == ["pass", "pass"]
    assert resolver.queries == [(KEY_NAME, "TXT")]


async def test_malformed_header_block_with_signature() -> None:
    message = b" continuation first\r\nDKIM-Signature: v=1; d=example.com; s=x\r\n\r\nbody\r\n"
    (result,) = await verify_message(message, zone({}))
    assert (result.result, result.reason, result.domain) == (
        "permerror",
        "message_syntax",
        "example.com",
    )


def test_reason_table_uses_rfc8601_names() -> None:
    assert set(REASON_RESULTS.values()) <= RESULTS


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda head, tail: b"DKIM-Signature: " + head + b"\r\n" + tail,
            st.binary(max_size=120),
            st.binary(max_size=120),
        ),
    )
)
async def test_verify_never_raises(message: bytes) -> None:
    results = await verify_message(message, zone({}))
    for result in results:
        assert result.result in RESULTS
        assert result.result != "pass"


@pytest.fixture(scope="module")
def signed_pair(rsa_pair: KeyPair, ed_pair: KeyPair) -> tuple[bytes, MemoryResolver]:
    both = signed(ed_pair, signed(rsa_pair))
    return both, zone({KEY_NAME: rsa_pair.public_txt})


@settings(max_examples=60, deadline=None)
@given(st.data())
async def test_mutated_signed_messages_never_raise(
    signed_pair: tuple[bytes, MemoryResolver], data: st.DataObject
) -> None:
    message, resolver = signed_pair
    start = data.draw(st.integers(0, len(message)))
    end = data.draw(st.integers(start, min(len(message), start + 8)))
    replacement = data.draw(st.binary(max_size=8))
    mutated = message[:start] + replacement + message[end:]
    results = await verify_message(mutated, resolver)
    assert all(result.result in RESULTS for result in results)
    assert all(result.reason in REASON_RESULTS for result in results)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        pytest.param(
            b"a=rsa-sha256", b"a=rsa-sha512", "unsupported_algorithm", id="rfc6376[6.1.1-a]"
        ),
        pytest.param(
            b"c=relaxed/relaxed",
            b"c=relaxed/fancy",
            "unsupported_canonicalization",
            id="rfc6376[6.1.1-c]",
        ),
        pytest.param(
            b"q=dns/txt", b"q=https/well-known", "unsupported_query_method", id="rfc6376[6.1.1-q]"
        ),
    ],
)
async def test_unsupported_signature_parameters(
    rsa_pair: KeyPair, old: bytes, new: bytes, reason: str
) -> None:
    message = signed(rsa_pair)
    assert old in message
    resolver = zone({KEY_NAME: rsa_pair.public_txt})
    (result,) = await verify_message(message.replace(old, new, 1), resolver)
    assert (result.result, result.reason) == ("permerror", reason)
    assert resolver.queries == []


async def test_key_record_read_case_insensitively(rsa_pair: KeyPair) -> None:
    """RFC 5234 §2.3: ABNF strings are case-insensitive, so k=RSA is k=rsa (dkimpy refuses it)."""
    record = rsa_pair.public_txt.replace("k=rsa", "k=RSA")
    (result,) = await verify_message(signed(rsa_pair), zone({KEY_NAME: record}))
    assert (result.result, result.reason) == ("pass", "")


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (dkim.ValidationError("body hash mismatch (got x, expected y)"), "body_hash_mismatch"),
        (dkim.ValidationError("unknown signature algorithm: rsa-md5"), "unsupported_algorithm"),
        (dkim.ValidationError("i= domain is not a subdomain of d="), "signature_syntax"),
        (dkim.KeyFormatError("public key too small: 512"), "key_too_short"),
        (dkim.KeyFormatError("could not parse RSA public key"), "key_syntax"),
        (dkim.MessageFormatError("invalid c= value: foo"), "signature_syntax"),
        (dkim.MessageFormatError("Unexpected characters in RFC822 header"), "message_syntax"),
        (dkim.DKIMException("other"), "verifier_error"),
    ],
)
def test_dkimpy_exceptions_keep_their_reason(exc: Exception, reason: str) -> None:
    assert _classify_exception(exc) == reason
