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


# --- the RSA through cryptography gives dkimpy's own signature -------------------------------

FROZEN_TIME = 1_790_000_000  # the t= tag both paths write
SAME_MESSAGES = {
    "plain": MSG,
    "folded": (
        b"From: =?utf-8?q?Kari_Nordmann?= <kari@example.com>\r\n"
        b"To: b@example.org,\r\n\t c@example.org\r\n"
        b"Subject:   Tilbakestill  passordet\t \r\n"
        b"Date: Thu, 26 Nov 2026 16:00:00 +0000\r\n"
        b"Message-ID: <x.1@example.com>\r\n"
        b"\r\n"
        b"Hei,  \r\n\r\nF\xc3\xb8lg lenken.\t\r\n\r\n\r\n"
    ),
    "lf_and_repeats": (
        b"Received: from a\nReceived: from b\nFrom: a@example.com\nSubject: one\n"
        b"Subject: two\nReply-To: r@example.com\n\n" + b"x" * 3000 + b"\n"
    ),
    "empty_body": b"From: a@example.com\nSubject: nothing\n\n",
}
SAME_OPTIONS: dict[str, dict[str, object]] = {
    "defaults": {},
    "headers_identity": {
        "headers": [b"From", b"Subject", b"To"],
        "identity": "ops@mail.example.com",
    },
}


@pytest.fixture(scope="module")
def rsa_keys(rsa_pair: KeyPair) -> dict[str, bytes]:
    from cryptography.hazmat.primitives import serialization

    keys = {"2048_pkcs8": rsa_pair.private_pem_or_seed}
    for bits in (1024, 3072):
        keys[f"{bits}_pkcs8"] = generate_keypair(bits=bits).private_pem_or_seed
    loaded = serialization.load_pem_private_key(rsa_pair.private_pem_or_seed, None)
    keys["2048_pkcs1"] = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return keys


def _dkimpy_alone(message: bytes, key: bytes, options: dict[str, object]) -> bytes:
    import dkim

    headers = options.get("headers")
    identity = options.get("identity")
    signer = dkim.DKIM(message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    field = signer.sign(
        b"lab",
        b"mail.example.com",
        key,
        identity=identity.encode() if isinstance(identity, str) else None,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=[h.lower() for h in headers] if isinstance(headers, list) else None,
    )
    return bytes(field)


@pytest.mark.parametrize("options", SAME_OPTIONS.values(), ids=SAME_OPTIONS.keys())
@pytest.mark.parametrize("message", SAME_MESSAGES.values(), ids=SAME_MESSAGES.keys())
def test_rsa_signature_is_dkimpys(
    rsa_keys: dict[str, bytes],
    message: bytes,
    options: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    import dkim

    monkeypatch.setattr(dkim, "time", types.SimpleNamespace(time=lambda: FROZEN_TIME))
    for name, key in rsa_keys.items():
        expected = _dkimpy_alone(message, key, options)
        with monkeypatch.context() as patched:  # prove dkimpy's own RSA is not used
            patched.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", _must_not_run)
            signed = sign_message(
                message, domain="mail.example.com", selector="lab", private_key=key, **options
            )  # type: ignore[arg-type]
        assert signed[: len(expected)] == expected, name
        assert signed[len(expected) :] == message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        public = dkim.crypto.parse_pem_private_key(key)
        record = _public_record(public["modulus"], public["publicExponent"])
        assert dkim.verify(signed, dnsfunc=lambda _name, timeout=5, record=record: record), name


def _must_not_run(*_args: object) -> bytes:
    raise AssertionError("dkimpy's pure-Python RSA was called")


def _public_record(modulus: int, exponent: int) -> bytes:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    der = (
        rsa.RSAPublicNumbers(exponent, modulus)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def test_fast_signer_falls_back_when_the_keys_differ(
    rsa_keys: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    import dkim

    from diag.dkim.rsa import FastRsaDKIM, load_rsa_signing_key

    monkeypatch.setattr(dkim, "time", types.SimpleNamespace(time=lambda: FROZEN_TIME))
    other = load_rsa_signing_key(rsa_keys["1024_pkcs8"])
    assert other is not None
    data = MSG.replace(b"\n", b"\r\n")
    key = rsa_keys["2048_pkcs8"]
    fast = FastRsaDKIM(data, rsa_key=other).sign(b"lab", b"example.com", key)
    assert fast == dkim.DKIM(data).sign(b"lab", b"example.com", key)


def test_load_rsa_signing_key(rsa_keys: dict[str, bytes], ed_pair: KeyPair) -> None:
    from cryptography.hazmat.primitives import serialization

    from diag.dkim.rsa import load_rsa_signing_key

    assert load_rsa_signing_key(rsa_keys["2048_pkcs1"]) is not None
    loaded = serialization.load_pem_private_key(rsa_keys["1024_pkcs8"], None)
    encrypted = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    for unusable in (BAD_PEM, ed_pair.private_pem_or_seed, encrypted, b"", b"-----BEGIN x"):
        assert load_rsa_signing_key(unusable) is None


def test_short_modulus_is_a_parameter_error_on_both_paths() -> None:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from diag.dkim.rsa import load_rsa_signing_key

    p, q, e = 2**127 - 1, 2**89 - 1, 65537  # Mersenne primes: a 216-bit modulus
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q)
    )
    small = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    pem = small.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert load_rsa_signing_key(pem) is not None
    with pytest.raises(dkim.ParameterError):  # the SHA-256 DigestInfo needs 62 bytes
        dkim.DKIM(MSG.replace(b"\n", b"\r\n")).sign(b"lab", b"example.com", pem)
    with pytest.raises(DkimSignError) as caught:
        sign_message(MSG, domain="example.com", selector="lab", private_key=pem)
    assert caught.value.reason == "parameter"
