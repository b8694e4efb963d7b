"""NativeDKIM and NativeARC (RSA by OpenSSL, key records parsed once) against dkimpy's own path.

The same input must give the same answer, the same exception (type and text) and the same
logged reasons: valid signatures, tampered headers and bodies, every kind of key trouble
(malformed records, short keys, bad base64, wrong algorithm, dkimpy's minkey, keys OpenSSL does
not compute with), t=, x= and l=. Level 1 calls the verifiers directly with raw key records
(dkimpy's own reading of t= and x=); level 2 runs ``verify_message`` with its verifier swapped
for one on dkimpy's arithmetic, on generated mutations.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import dkim
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import example, given, settings
from hypothesis import strategies as st

import diag.dkim.verify as verify_module
from diag.dkim import KeyPair, generate_keypair, sign_message, verify_message
from diag.dkim.fetch import capture_logger
from diag.dkim.verifier import KEY_CACHE_SIZE, NativeARC, NativeDKIM, _parsed_key
from diag.resolver import TXT, MemoryResolver
from tests.conftest import CONFORMANCE
from tests.diag.test_dkim_conformance import dkimpy_zone

MSG = (
    b"From: Kari <kari@example.com>\r\n"
    b"To: Ola <ola@example.org>\r\n"
    b"Subject: Tilbakestill passordet\r\n"
    b"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"\r\n"
    b"Folg lenken.\r\n\r\n"
)
RSA_OID = bytes.fromhex("2a864886f70d010101")  # RFC 8017 Appendix C rsaEncryption
SMALL_ORDER_POINT = bytes([1] + [0] * 31)  # the Ed25519 identity: OpenSSL takes it, libsodium not


# --- keys dkimpy reads but cryptography may not: built from primes, signed by CRT ------------


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + body


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _is_prime(n: int) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if _is_prime(candidate):
            return candidate


def _openssl_primes(key_bits: int, count: int, exponent: int = 65537) -> list[int]:
    """``count`` primes of ``key_bits / 2`` bits, from keys OpenSSL generates."""
    primes: list[int] = []
    while len(primes) < count:
        numbers = rsa.generate_private_key(exponent, key_bits).private_numbers()
        primes += [numbers.p, numbers.q]
    return primes[:count]


@dataclass(frozen=True)
class RawKey:
    """An RSA key as a product of distinct primes (two or more), with any exponent."""

    primes: tuple[int, ...]
    e: int

    @property
    def n(self) -> int:
        return math.prod(self.primes)

    def sign_int(self, message: int) -> int:
        total = 0
        for p in self.primes:
            # x^k = x (mod 2) for k >= 1; otherwise the CRT exponent d mod (p - 1)
            residue = message % 2 if p == 2 else pow(message, pow(self.e, -1, p - 1), p)
            rest = self.n // p
            total += residue * rest * pow(rest, -1, p)
        return total % self.n

    def record(self, *, spki: bool = True, tags: str = "v=DKIM1; k=rsa") -> bytes:
        der = _der(0x30, _der_int(self.n) + _der_int(self.e))
        if spki:
            algorithm = _der(0x30, _der(0x06, RSA_OID) + _der(0x05, b""))
            der = _der(0x30, algorithm + _der(0x03, b"\x00" + der))
        return f"{tags}; p={base64.b64encode(der).decode()}".encode()


def _coprime_exponent(primes: list[int], start: int) -> int:
    e = start | 1
    while any(p != 2 and math.gcd(e, p - 1) != 1 for p in primes):
        e += 2
    return e


@pytest.fixture(scope="module")
def keys() -> dict[str, RawKey]:
    rng = random.Random(6376)
    two = _openssl_primes(1024, 2)
    big = _openssl_primes(2048, 4)
    many = _openssl_primes(1024, 34)  # 17408 bits: over OpenSSL's 16384
    return {
        "1024": RawKey(tuple(two), 65537),
        "e3": RawKey(tuple(_openssl_primes(1024, 2, exponent=3)), 3),
        "e1": RawKey(tuple(two), 1),  # dkimpy takes it; cryptography refuses e < 3
        "even": RawKey((2, *two), 65537),  # an even modulus: no Montgomery arithmetic
        "512": RawKey((_prime(256, rng), _prime(256, rng)), 65537),
        "496": RawKey((_prime(248, rng), _prime(248, rng)), 65537),  # 51 + 11 octets: the least
        "3072-big-e": RawKey(tuple(big[:3]), _coprime_exponent(big[:3], 2**80)),
        "4096-big-e": RawKey(tuple(big), _coprime_exponent(big, 2**80)),
        "4096": RawKey(tuple(big), 65537),
        "17408": RawKey(tuple(many), 65537),
    }


@pytest.fixture(scope="module")
def any_pem() -> bytes:
    """A key dkimpy's signer can parse; the signature itself comes from ``RawKey.sign_int``."""
    return generate_keypair(bits=1024).private_pem_or_seed


def dkim_sign(
    message: bytes, key: RawKey, pem: bytes, *, algorithm: bytes = b"rsa-sha256", **options: Any
) -> bytes:
    """``message`` with a DKIM-Signature by ``key``, written by dkimpy (d=example.com s=sel)."""
    length = (key.n.bit_length() + 7) // 8

    def raw_sign(hasher: Any, _pk: Any) -> bytes:
        encoded = dkim.crypto.EMSA_PKCS1_v1_5_encode(hasher, length)
        return key.sign_int(int.from_bytes(encoded, "big")).to_bytes(length, "big")

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", raw_sign)
        signer = dkim.DKIM(message)
        field = signer.sign(b"sel", b"example.com", pem, signature_algorithm=algorithm, **options)
    return bytes(field) + message


# --- level 1: the verifiers side by side ------------------------------------------------------

Outcome = tuple[tuple[Any, ...], tuple[str, ...]]


def outcome(
    verifier: type[Any],
    message: bytes,
    records: Callable[[str], bytes | str | None],
    *,
    idx: int = 0,
    minkey: int = 1024,
) -> Outcome:
    """What ``verifier(...).verify`` returned or raised, and the errors it logged."""
    logger, logged = capture_logger("test.dkim.native")

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | str | None:
        return records(name.decode("utf-8", "replace").rstrip(".").lower())

    try:
        value = verifier(message, logger=logger, minkey=minkey).verify(idx=idx, dnsfunc=dnsfunc)
        result: tuple[Any, ...] = ("returned", value)
    except Exception as exc:
        result = ("raised", type(exc).__name__, str(exc))
    return result, tuple(logged)


@dataclass
class DkimpyRsaCalls:
    count: int = 0


@pytest.fixture
def dkimpy_rsa(monkeypatch: pytest.MonkeyPatch) -> DkimpyRsaCalls:
    """Counts calls of dkimpy's pure-Python RSA verification (made by either path)."""
    calls = DkimpyRsaCalls()
    original = dkim.RSASSA_PKCS1_v1_5_verify

    def counted(*args: Any) -> bool:
        calls.count += 1
        return bool(original(*args))

    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_verify", counted)
    return calls


def compare(
    message: bytes,
    records: Callable[[str], bytes | str | None],
    calls: DkimpyRsaCalls,
    **options: Any,
) -> tuple[Outcome, int]:
    """Assert both paths agree; return the outcome and dkimpy RSA calls made by ours."""
    expected = outcome(dkim.DKIM, message, records, **options)
    before = calls.count
    got = outcome(NativeDKIM, message, records, **options)
    assert got == expected
    return got, calls.count - before


def one(record: bytes | str | None) -> Callable[[str], bytes | str | None]:
    return lambda name: record if name == "sel._domainkey.example.com" else None


# (key, record variant or None for the key's own SPKI record, minkey, expected, route)
# route: "openssl" (dkimpy's RSA must not run), "dkimpy" (it must), "-" (no RSA reached)
KEY_CASES = [
    pytest.param("1024", None, 1024, ("returned", True), "openssl", id="rsa1024"),
    pytest.param("4096", None, 1024, ("returned", True), "openssl", id="rsa4096"),
    pytest.param("e3", None, 1024, ("returned", True), "openssl", id="e=3"),
    pytest.param("3072-big-e", None, 1024, ("returned", True), "openssl", id="3072-e>2^64"),
    pytest.param("1024", "pkcs1", 1024, ("returned", True), "openssl", id="pkcs1-not-spki"),
    pytest.param("1024", "no-v-no-k", 1024, ("returned", True), "openssl", id="implicit-k-rsa"),
    pytest.param("1024", "h=sha1", 1024, ("returned", True), "openssl", id="key-h-sha1"),
    pytest.param("1024", "s=email", 1024, ("returned", True), "openssl", id="s=email"),
    pytest.param("1024", None, 2048, "too-small", "openssl", id="minkey-2048"),
    pytest.param("512", None, 1024, "too-small", "openssl", id="rsa512-minkey"),
    pytest.param("512", None, 512, ("returned", True), "openssl", id="rsa512-minkey-512"),
    pytest.param("496", None, 1024, "too-small", "openssl", id="rsa496-least"),
    pytest.param("e1", None, 1024, ("returned", True), "dkimpy", id="e=1"),
    pytest.param("even", None, 1024, ("returned", True), "dkimpy", id="even-modulus"),
    pytest.param("4096-big-e", None, 1024, ("returned", True), "dkimpy", id="4096-e>2^64"),
    pytest.param("17408", None, 1024, ("returned", True), "dkimpy", id="over-16384-bits"),
    pytest.param("1024", "tlsrpt", 1024, None, "-", id="s=tlsrpt"),
    pytest.param("1024", "s=unknown", 1024, None, "-", id="s=unknown"),
    pytest.param("1024", "v=DKIM2", 1024, ("returned", False), "-", id="bad-version"),
    pytest.param("1024", "k=ed25519", 1024, ("returned", False), "-", id="k=ed25519-rsa-p"),
    pytest.param("1024", "k=dsa", 1024, ("returned", False), "-", id="k=unknown"),
    pytest.param("1024", "p=", 1024, ("returned", False), "-", id="p-empty"),
    pytest.param("1024", "bad-padding", 1024, ("returned", False), "-", id="p-bad-padding"),
    pytest.param("1024", "not-a-key", 1024, ("returned", False), "-", id="p-not-a-key"),
    pytest.param("1024", "truncated", 1024, None, "-", id="p-truncated-der"),
    pytest.param("1024", "no-equals", 1024, ("returned", False), "-", id="tag-list-syntax"),
    pytest.param("1024", "absent", 1024, ("returned", False), "-", id="no-record"),
    pytest.param("1024", "as-str", 1024, ("returned", True), "openssl", id="record-as-str"),
]


def variant(key: RawKey, name: str | None) -> bytes | str | None:
    own = key.record()
    p_value = own.split(b"p=", 1)[1]
    variants: dict[str | None, bytes | str | None] = {
        None: own,
        "pkcs1": key.record(spki=False),
        "no-v-no-k": b"p=" + p_value,
        "h=sha1": own.replace(b"k=rsa", b"k=rsa; h=sha1"),
        "s=email": own.replace(b"k=rsa", b"k=rsa; s=email"),
        "tlsrpt": own.replace(b"k=rsa", b"k=rsa; s=tlsrpt"),
        "s=unknown": own.replace(b"k=rsa", b"k=rsa; s=fax"),
        "v=DKIM2": own.replace(b"DKIM1", b"DKIM2"),
        "k=ed25519": own.replace(b"k=rsa", b"k=ed25519"),
        "k=dsa": own.replace(b"k=rsa", b"k=dsa"),
        "p=": b"v=DKIM1; k=rsa; p=",
        "bad-padding": b"v=DKIM1; k=rsa; p=" + p_value[:-2],
        "not-a-key": b"v=DKIM1; k=rsa; p=" + base64.b64encode(b"\x30\x03\x02\x01\x05"),
        "truncated": b"v=DKIM1; k=rsa; p=" + base64.b64encode(base64.b64decode(p_value)[:40]),
        "no-equals": b"v=DKIM1; k; p=" + p_value,
        "absent": None,
        "as-str": own.decode(),
    }
    return variants[name]


@pytest.mark.parametrize(("key_name", "record", "minkey", "expected", "route"), KEY_CASES)
def test_keys_as_dkimpy(
    keys: dict[str, RawKey],
    any_pem: bytes,
    dkimpy_rsa: DkimpyRsaCalls,
    key_name: str,
    record: str | None,
    minkey: int,
    expected: Any,
    route: str,
) -> None:
    key = keys[key_name]
    message = dkim_sign(MSG, key, any_pem, canonicalize=(b"relaxed", b"relaxed"))
    (result, logged), dkimpy_calls = compare(
        message, one(variant(key, record)), dkimpy_rsa, minkey=minkey
    )
    if expected == "too-small":
        assert result == ("raised", "KeyFormatError", f"public key too small: {key.n.bit_length()}")
    elif expected is not None:
        assert result == expected, logged
    assert (dkimpy_calls == 0) == (route != "dkimpy")


def test_digest_too_large_for_modulus(
    keys: dict[str, RawKey], any_pem: bytes, dkimpy_rsa: DkimpyRsaCalls
) -> None:
    """A 488-bit modulus cannot hold the SHA-256 DigestInfo (51 + 11 octets)."""
    message = dkim_sign(MSG, keys["496"], any_pem)
    rng = random.Random(488)
    short = RawKey((_prime(244, rng), _prime(244, rng)), 65537)
    (result, _), calls = compare(message, one(short.record()), dkimpy_rsa)
    assert result == ("raised", "KeyFormatError", "digest too large for modulus: ")
    assert calls == 0


def _replace_b(message: bytes, value: bytes) -> bytes:
    return re.sub(rb"b=[A-Za-z0-9+/=\s]+?(?=\r\n[^ \t])", b"b=" + value, message, count=1)


SIGNATURE_CASES = [
    "relaxed",
    "simple",
    "l=",
    "l=-appended",
    "body-tampered",
    "header-tampered",
    "b-plus-modulus",
    "b-leading-zeros",
    "b-zero",
    "b-empty",
    "rsa-sha1",
    "a-ed25519-rsa-key",
    "t-future",
    "x-past",
    "x-before-t",
    "i-outside-d",
    "c-unknown",
    "second-from",
]


def signature_case(case: str, key: RawKey, pem: bytes) -> bytes:
    relaxed = (b"relaxed", b"relaxed")
    message = dkim_sign(MSG, key, pem, canonicalize=relaxed)
    found = re.search(rb"[;\s]b=([^;]+)$", message.split(b"\r\nFrom:")[0])
    assert found is not None
    signature = base64.b64decode(found[1])
    as_int = int.from_bytes(signature, "big")
    now = int(time.time())
    cases: dict[str, Callable[[], bytes]] = {
        "relaxed": lambda: message,
        "simple": lambda: dkim_sign(MSG, key, pem, canonicalize=(b"simple", b"simple")),
        "l=": lambda: dkim_sign(MSG, key, pem, canonicalize=relaxed, length=True),
        "l=-appended": lambda: dkim_sign(MSG, key, pem, length=True) + b"-- \r\nlist footer\r\n",
        "body-tampered": lambda: message.replace(b"Folg lenken.", b"Folg lenken!"),
        "header-tampered": lambda: message.replace(b"Tilbakestill", b"Tilbakestil"),
        "b-plus-modulus": lambda: _replace_b(message, _b64_int(as_int + key.n)),
        "b-leading-zeros": lambda: _replace_b(message, base64.b64encode(b"\0\0\0" + signature)),
        "b-zero": lambda: _replace_b(message, base64.b64encode(bytes(len(signature)))),
        "b-empty": lambda: _replace_b(message, b""),
        "rsa-sha1": lambda: dkim_sign(MSG, key, pem, algorithm=b"rsa-sha1"),
        "a-ed25519-rsa-key": lambda: message.replace(b"a=rsa-sha256", b"a=ed25519-sha256"),
        "t-future": lambda: re.sub(rb"t=\d+", b"t=%d" % (now + 86400), message),
        "x-past": lambda: re.sub(rb"t=\d+", b"t=1000; x=2000", message),
        "x-before-t": lambda: re.sub(rb"t=\d+", b"t=%d; x=%d" % (now + 1000, now), message),
        "i-outside-d": lambda: message.replace(b"i=@example.com", b"i=@example.org"),
        "c-unknown": lambda: message.replace(b"c=relaxed/relaxed", b"c=relaxed/fancy"),
        "second-from": lambda: b"From: mallory@example.net\r\n" + message,
    }
    return cases[case]()


def _b64_int(value: int) -> bytes:
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@pytest.mark.parametrize("case", SIGNATURE_CASES)
@pytest.mark.parametrize("key_name", ["1024", "e1"])
def test_signatures_as_dkimpy(
    keys: dict[str, RawKey], any_pem: bytes, dkimpy_rsa: DkimpyRsaCalls, key_name: str, case: str
) -> None:
    key = keys[key_name]
    message = signature_case(case, key, any_pem)
    (result, _), dkimpy_calls = compare(message, one(key.record()), dkimpy_rsa)
    if case in ("relaxed", "simple", "l=", "l=-appended", "b-plus-modulus", "b-leading-zeros"):
        assert result == ("returned", True)
    if key_name == "1024" and case != "rsa-sha1":
        assert dkimpy_calls == 0  # RSA-SHA1 stays dkimpy's; the rest never reach it


@pytest.fixture(scope="module")
def ed_pair() -> KeyPair:
    return generate_keypair("ed25519-sha256")


@pytest.mark.parametrize("case", ["valid", "tampered", "small-order-key", "short-b", "rsa-p"])
def test_ed25519_stays_dkimpys(
    ed_pair: KeyPair, keys: dict[str, RawKey], dkimpy_rsa: DkimpyRsaCalls, case: str
) -> None:
    """Ed25519 goes through pynacl as in dkimpy: libsodium refuses small-order keys."""
    message = sign_message(
        MSG, domain="example.com", selector="sel", private_key=ed_pair.private_pem_or_seed,
        algorithm="ed25519-sha256",
    )  # fmt: skip
    record: bytes | str = ed_pair.public_txt
    if case == "tampered":
        message = message.replace(b"Folg", b"Flog")
    elif case == "small-order-key":
        record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(SMALL_ORDER_POINT)
        message = _replace_b(message, base64.b64encode(SMALL_ORDER_POINT + bytes(32)))
    elif case == "short-b":
        message = _replace_b(message, base64.b64encode(bytes(48)))
    elif case == "rsa-p":
        record = keys["1024"].record().replace(b"k=rsa", b"k=ed25519")
    (result, _), _ = compare(message, one(record), dkimpy_rsa)
    assert (result == ("returned", True)) == (case == "valid")


# --- level 1 on the conformance vectors -------------------------------------------------------


def _signatures(message: bytes) -> int:
    header = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    return len(re.findall(rb"^dkim-signature[ \t]*:", header, re.IGNORECASE | re.MULTILINE))


def _conformance_messages() -> Iterator[Any]:
    dkim_dir = CONFORMANCE / "dkim"
    if not dkim_dir.is_dir():
        yield pytest.param(
            None, None, id="absent", marks=pytest.mark.skip(reason=f"{dkim_dir} absent")
        )
        return
    dkimpy_dir = dkim_dir / "dkimpy-1.1.8"
    zone = dkimpy_zone(dkimpy_dir)
    for path in sorted(dkimpy_dir.iterdir()):
        message = path.read_bytes()
        if _signatures(message):  # the rest are dkimpy's messages to sign
            yield pytest.param(message, zone, id=f"dkimpy[{path.name}]")
    rfc8463 = dkim_dir / "rfc8463-appendix-a"
    dns = json.loads((rfc8463 / "dns.json").read_text())
    records = {name.lower(): "".join(types["TXT"][0]) for name, types in dns.items()}
    yield pytest.param((rfc8463 / "signed.eml").read_bytes(), records, id="rfc8463[A]")
    rfc6376 = dkim_dir / "rfc6376-appendix"
    public = "".join(
        line
        for line in (rfc6376 / "C-brisbane-rsa.public.pem").read_text().splitlines()
        if not line.startswith("-----")
    )
    a2 = {"brisbane._domainkey.example.com": f"v=DKIM1; p={public}"}
    yield pytest.param((rfc6376 / "A2-signed.eml").read_bytes(), a2, id="rfc6376[A.2]")
    for path in sorted((dkim_dir / "stalwart-mail-auth").glob("dkim-*.txt")):
        head, message = path.read_bytes().split(b"\n\n", 1)
        records = {
            name.lower(): value
            for name, value in (line.split(" ", 1) for line in head.decode().splitlines())
        }
        yield pytest.param(message, records, id=f"stalwart[{path.stem}]")


@pytest.mark.parametrize(("message", "records"), list(_conformance_messages()))
def test_conformance_vectors_as_dkimpy(
    message: bytes, records: dict[str, str], dkimpy_rsa: DkimpyRsaCalls
) -> None:
    count = _signatures(message)
    assert count >= 1
    for idx in range(count):
        _, dkimpy_calls = compare(message, records.get, dkimpy_rsa, idx=idx)
        assert dkimpy_calls == 0  # every RSA key here is one OpenSSL takes


# --- ARC: the ValiMail validation suite and the stalwart chains ------------------------------


def _arc_cases() -> Iterator[Any]:
    suite = CONFORMANCE / "arc" / "arc-draft-validation-tests.yml"
    if not suite.is_file():
        yield pytest.param(b"", {}, id="absent", marks=pytest.mark.skip(reason=f"{suite} absent"))
        return
    with suite.open() as handle:
        for scenario in yaml.safe_load_all(handle):
            records = {k.lower(): v for k, v in (scenario.get("txt-records") or {}).items()}
            for test_id, test in scenario["tests"].items():
                yield pytest.param(test["message"].encode(), records, id=f"arc-suite[{test_id}]")
    for path in sorted((CONFORMANCE / "arc" / "stalwart-mail-auth").glob("arc-*.txt")):
        head, message = path.read_bytes().split(b"\n\n", 1)
        records = {
            n.lower(): v for n, v in (line.split(" ", 1) for line in head.decode().splitlines())
        }
        yield pytest.param(message, records, id=f"stalwart[{path.stem}]")


def arc_outcome(verifier: type[Any], message: bytes, records: dict[str, str]) -> Outcome:
    logger, logged = capture_logger("test.arc.native")

    def dnsfunc(name: bytes, timeout: float = 5) -> str | None:
        return records.get(name.decode("utf-8", "replace").rstrip(".").lower())

    try:
        result: tuple[Any, ...] = (
            "returned",
            verifier(message, logger=logger).verify(dnsfunc=dnsfunc),
        )
    except Exception as exc:
        result = ("raised", type(exc).__name__, str(exc))
    return result, tuple(logged)


@pytest.mark.parametrize(("message", "records"), list(_arc_cases()))
def test_arc_as_dkimpy(message: bytes, records: dict[str, str], dkimpy_rsa: DkimpyRsaCalls) -> None:
    expected = arc_outcome(dkim.ARC, message, records)
    dkimpy_rsa.count = 0
    assert arc_outcome(NativeARC, message, records) == expected
    assert dkimpy_rsa.count == 0


# --- the key cache ----------------------------------------------------------------------------


@pytest.fixture
def key_parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The records dkimpy's ``evaluate_pk`` parses from now on."""
    parses: list[bytes] = []
    original = dkim.evaluate_pk

    def counted(name: bytes, text: bytes) -> Any:
        parses.append(text)
        return original(name, text)

    monkeypatch.setattr(dkim, "evaluate_pk", counted)
    return parses


def test_key_record_parsed_once(
    keys: dict[str, RawKey], any_pem: bytes, key_parses: list[bytes]
) -> None:
    record = keys["1024"].record(tags="v=DKIM1; k=rsa; n=cache-test")
    message = dkim_sign(MSG, keys["1024"], any_pem)
    for _ in range(3):
        assert NativeDKIM(message).verify(dnsfunc=lambda _name, timeout=5: record)
    assert key_parses == [record]
    assert _parsed_key.cache_info().maxsize == KEY_CACHE_SIZE


def test_unusable_records_are_parsed_afresh(key_parses: list[bytes]) -> None:
    message = (
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA\r\n"
        + MSG
    )
    for _ in range(2):
        assert outcome(NativeDKIM, message, one(b"v=DKIM1; p=AAAA"))[0] == ("returned", False)
    assert len(key_parses) == 2


# --- level 2: verify_message with dkimpy's arithmetic in place of OpenSSL's -------------------


class DkimpyArithmetic(dkim.DKIM):  # type: ignore[misc]
    """verify_message's verifier (its own t= and x= handling) on dkimpy's own RSA."""

    verify_headerprep = verify_module._Verifier.verify_headerprep


@pytest.fixture(scope="module")
def level2(keys: dict[str, RawKey], any_pem: bytes, ed_pair: KeyPair) -> dict[str, Any]:
    pair = generate_keypair(bits=2048)
    rsa_signed = sign_message(
        MSG, domain="example.com", selector="sel", private_key=pair.private_pem_or_seed
    )
    both = sign_message(
        rsa_signed, domain="example.com", selector="ed", private_key=ed_pair.private_pem_or_seed,
        algorithm="ed25519-sha256",
    )  # fmt: skip
    messages = [both, dkim_sign(MSG, keys["1024"], any_pem, length=True)]
    own = pair.public_txt
    records = [
        {"sel": own, "ed": ed_pair.public_txt},
        {"sel": keys["1024"].record().decode(), "ed": ed_pair.public_txt},
        {
            "sel": own.replace("k=rsa", "k=rsa; t=s"),
            "ed": ed_pair.public_txt.replace("k=ed25519", "k=rsa"),
        },
        {"sel": keys["512"].record().decode()},
        {"sel": own.replace("k=rsa", "k=RSA; h=sha1")},
        {"sel": own[:-8]},
    ]
    return {"messages": messages, "records": records}


async def _verdicts(message: bytes, records: dict[str, str]) -> Any:
    data = {
        f"{s}._domainkey.example.com": {"TXT": [TXT((v.encode(),))]} for s, v in records.items()
    }
    results = await verify_message(message, MemoryResolver(data, strict=False), now=time.time())
    return [result.to_dict() for result in results]


@settings(max_examples=150, deadline=None)
@given(st.data())
async def test_verify_message_as_with_dkimpys_arithmetic(
    level2: dict[str, Any], data: st.DataObject
) -> None:
    message = data.draw(st.sampled_from(level2["messages"]))
    records = data.draw(st.sampled_from(level2["records"]))
    if data.draw(st.booleans()):
        start = data.draw(st.integers(0, len(message)))
        end = data.draw(st.integers(start, min(len(message), start + 6)))
        message = message[:start] + data.draw(st.binary(max_size=6)) + message[end:]
    ours = await _verdicts(message, records)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(verify_module, "_Verifier", DkimpyArithmetic)
        theirs = await _verdicts(message, records)
    assert ours == theirs


# --- the header hash: dkimpy's hash_headers, cheaper ------------------------------------------


B_PIECES = [b"b", b"=", b";", b" ", b"\t", b"\r", b"\n", b"a", b"Z", b"+", b"/", b"h", b"bh",
            b"\r\n", b"\r\n\t", b"9", b"\x0b"]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(B_PIECES), max_size=40))
@example([b" b=abc\r\n"])
@example([b";b=\r\n"])
@example([b" b = a b\r\n\tc \r\n"])
@example([b"; b=abc; z=X-A:|b=def \n"])
@example([b"\tb\r\n =x\n", b"\r\n"])
@example([b"b=x"])
def test_b_value_cut_as_dkimpy_cuts_it(pieces: list[bytes]) -> None:
    from diag.dkim.verifier import _B_VALUE

    value = b"".join(pieces)
    assert _B_VALUE.sub(rb"\1", value) == dkim.RE_BTAG.sub(rb"\1", value)


FIELD_NAMES = [b"From", b"from", b"FROM ", b"Subject", b"subject", b"To", b"Received", b"X-A "]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(FIELD_NAMES),
            st.sampled_from([b" a\r\n", b"  b  c \r\n", b"\td\r\n\t e\r\n", b"\r\n", b"x"]),
        ),
        max_size=10,
    ),
    st.lists(st.sampled_from([b"from", b"subject", b"to", b"received", b"x-a", b"cc"]), max_size=8),
    st.sampled_from([b"relaxed", b"simple"]),
    st.sampled_from([b" v=1; b=abc\r\n def;", b" b=\r\n", b" a=1; b = xyz=; c=2\r\n"]),
)
def test_header_hash_as_dkimpys(
    fields: list[tuple[bytes, bytes]], include: list[bytes], canon: bytes, sig_value: bytes
) -> None:
    import hashlib

    policy = dkim.CanonicalizationPolicy.from_c_value(canon + b"/simple")
    verifier = NativeDKIM(b"From: a@example.com\r\n\r\n")
    verifier.headers = fields
    sig_header = (b"DKIM-Signature", sig_value)
    theirs, ours = hashlib.sha256(), hashlib.sha256()
    expected = dkim.hash_headers(
        theirs, policy, policy.canonicalize_headers(fields), include, sig_header, {}
    )
    assert verifier._hash_headers(ours, policy, include, sig_header) == expected
    assert ours.digest() == theirs.digest()


# --- the message split and relaxed canonicalization: dkimpy's, with compiled patterns -------


MESSAGE_PIECES = [b"From", b"From ", b"from:", b"Subject:", b"X-A :", b" ", b"\t", b"\r",
                  b"\n", b"\r\n", b"\r\n\r\n", b"\n\n", b"a", b":", b"\x7f", b"\xc3\xa5",
                  b"  b \t"]  # fmt: skip


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:  # the same exception, type and text, is part of the contract
        return (type(exc).__name__, str(exc))


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(MESSAGE_PIECES), max_size=40))
@example([b" a\r\n"])
@example([b"\n", b"a", b"\r", b"\n", b"\r"])  # an empty first line
@example([b"\r\n", b"From ", b"\n\n"])
@example([b"Subject:", b"a", b"\n"])  # the header block ends the message
@example([b"Subject:", b"a", b"\r", b"\r\n", b"\n", b"a", b"\r"])
@example([b"\r", b"\r\n", b"a"])
@example([b"From ", b"a", b"\r\n", b"Subject:", b"a", b"\r\n", b"\r\n", b"a", b"\n"])
@example([b"a", b"\r\n"])
@example([b"Subject:", b"\r\n"])
@example([])
def test_message_split_as_dkimpy_splits_it(pieces: list[bytes]) -> None:
    from diag.dkim.verifier import split_message

    message = b"".join(pieces)
    assert _outcome(lambda: split_message(message)) == _outcome(lambda: dkim.rfc822_parse(message))


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from([b"From", b"X-A", b" ", b"\t", b"SUBJECT"]), max_size=3),
            st.lists(st.sampled_from([b" ", b"\t", b"\r", b"\n", b"\r\n", b"a b", b"\x0b", b"c"]),
                     max_size=12),
        ),
        max_size=6,
    )
)  # fmt: skip
def test_relaxed_headers_as_dkimpys(fields: list[tuple[list[bytes], list[bytes]]]) -> None:
    from dkim.canonicalization import Relaxed

    from diag.dkim.verifier import relaxed_headers

    headers = [[b"".join(name), b"".join(value)] for name, value in fields]
    assert relaxed_headers(headers) == Relaxed.canonicalize_headers(headers)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b" ", b"\t", b"\r", b"\n", b"\r\n", b"a", b" \r\n", b"\x0b"]),
                max_size=30))  # fmt: skip
@example([b"\r\n"])
@example([b"a", b" ", b"\t", b"\r\n", b"\r\n", b"\r\n"])
@example([])
def test_relaxed_body_as_dkimpys(pieces: list[bytes]) -> None:
    from dkim.canonicalization import Relaxed

    from diag.dkim.verifier import relaxed_body

    body = b"".join(pieces)
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_a_verifier_splits_the_message_as_dkimpy() -> None:
    ours = NativeDKIM(MSG + b"From x\r\n")
    theirs = dkim.DKIM(MSG + b"From x\r\n")
    assert (ours.headers, ours.body) == (theirs.headers, theirs.body)
    assert (ours.domain, ours.selector, ours.signature_fields) == (None, "default", {})
    empty = NativeDKIM(b"")
    assert (empty.headers, empty.body) == ([], "")
