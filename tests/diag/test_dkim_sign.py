"""sign_message and generate_keypair: what the lab signs with must verify."""

from __future__ import annotations

import logging

import pytest

from diag.dkim import (
    DkimSignError,
    KeyPair,
    generate_keypair,
    parse_key_record,
    parse_signature,
    sign_message,
    verify_message,
)
from diag.resolver import TXT, MemoryResolver

BAD_PEM = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
MSG = b"From: a@example.com\nTo: b@example.org\nSubject: hello\n\nbody line\n"


@pytest.fixture(scope="module")
def rsa_pair() -> KeyPair:
    return generate_keypair()


@pytest.fixture(scope="module")
def ed_pair() -> KeyPair:
    return generate_keypair("ed25519-sha256")


def zone(name: str, text: str) -> MemoryResolver:
    return MemoryResolver({name: {"TXT": [TXT((text.encode(),))]}})


def _signature_value(message: bytes) -> str:
    head = message.split(b"\r\n\r\n", 1)[0].decode()
    first, _, rest = head.partition("DKIM-Signature:")
    assert first == ""
    lines = [rest.split("\r\n")[0]]
    for line in rest.split("\r\n")[1:]:
        if not line.startswith((" ", "\t")):
            break
        lines.append(line)
    return "\r\n".join(lines)


def test_generate_rsa(rsa_pair: KeyPair) -> None:
    key = parse_key_record(rsa_pair.public_txt)
    assert rsa_pair.public_txt.startswith("v=DKIM1; k=rsa; p=")
    assert (key.key_type, key.bits) == ("rsa", 2048)
    assert rsa_pair.private_pem_or_seed.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert b"PRIVATE" not in repr(rsa_pair).encode()


def test_generate_ed25519(ed_pair: KeyPair) -> None:
    key = parse_key_record(ed_pair.public_txt)
    assert (key.key_type, key.bits) == ("ed25519", 256)
    assert len(ed_pair.private_pem_or_seed) == 44  # base64 of a 32-byte seed
    assert ed_pair.private_pem_or_seed.decode() not in repr(ed_pair)


def test_generate_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError, match="1024"):
        generate_keypair("rsa-sha256", bits=512)
    with pytest.raises(ValueError, match="unsupported"):
        generate_keypair("rsa-sha1")


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
async def test_sign_then_verify(rsa_pair: KeyPair, ed_pair: KeyPair, algorithm: str) -> None:
    pair = rsa_pair if algorithm == "rsa-sha256" else ed_pair
    signed = sign_message(
        MSG, domain="Example.com", selector="lab", private_key=pair.private_pem_or_seed,
        algorithm=algorithm,
    )  # fmt: skip
    assert signed.startswith(b"DKIM-Signature: ")
    assert signed.endswith(MSG.replace(b"\n", b"\r\n"))  # the message, made CRLF
    sig = parse_signature(_signature_value(signed))
    assert (sig.algorithm, sig.canonicalization) == (algorithm, "relaxed/relaxed")
    (result,) = await verify_message(signed, zone("lab._domainkey.example.com", pair.public_txt))
    assert (result.result, result.algorithm) == ("pass", algorithm)


async def test_headers_and_identity(rsa_pair: KeyPair) -> None:
    signed = sign_message(
        MSG,
        domain="example.com",
        selector="lab",
        private_key=rsa_pair.private_pem_or_seed,
        headers=[b"From", b"Subject"],
        identity="noreply@mail.example.com",
    )
    sig = parse_signature(_signature_value(signed))
    assert sig.headers == ("from", "subject")
    assert sig.identity == "noreply@mail.example.com"
    (result,) = await verify_message(
        signed, zone("lab._domainkey.example.com", rsa_pair.public_txt)
    )
    assert (result.result, result.header_i) == ("pass", "noreply@mail.example.com")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        pytest.param({"algorithm": "rsa-sha1"}, "unsupported_algorithm", id="rfc8301[3.1]"),
        pytest.param({"private_key": b"not a key"}, "key_invalid", id="bad-pem"),
        pytest.param(
            {"private_key": BAD_PEM},
            "key_invalid",
            id="bad-der",
        ),
        pytest.param(
            {"algorithm": "ed25519-sha256", "private_key": b"c2hvcnQ="},
            "key_invalid",
            id="bad-seed",
        ),
        pytest.param({"identity": "x@example.org"}, "parameter", id="rfc6376[3.5-i-outside-d]"),
        pytest.param({"headers": [b"subject"]}, "parameter", id="rfc6376[5.4-from-unsigned]"),
        pytest.param({"domain": "exämple.com"}, "parameter", id="non-ascii-domain"),
    ],
)
def test_sign_errors(rsa_pair: KeyPair, kwargs: dict[str, object], reason: str) -> None:
    arguments: dict[str, object] = {
        "domain": "example.com",
        "selector": "lab",
        "private_key": rsa_pair.private_pem_or_seed,
    }
    arguments.update(kwargs)
    with pytest.raises(DkimSignError) as info:
        sign_message(MSG, **arguments)  # type: ignore[arg-type]
    assert info.value.reason == reason
    assert reason in str(info.value)


def test_malformed_message_is_refused(rsa_pair: KeyPair) -> None:
    with pytest.raises(DkimSignError) as info:
        sign_message(
            b" folded first line\nFrom: a@example.com\n\nbody\n",
            domain="example.com",
            selector="lab",
            private_key=rsa_pair.private_pem_or_seed,
        )
    assert info.value.reason == "message_syntax"


def test_private_key_never_logged(rsa_pair: KeyPair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sign_message(
        MSG, domain="example.com", selector="lab", private_key=rsa_pair.private_pem_or_seed
    )
    body = rsa_pair.private_pem_or_seed.decode().splitlines()[1]
    assert body not in caplog.text
