"""DKIM conformance: dkimpy 1.1.8 vectors, RFC 6376 and RFC 8463 appendices, stalwart messages.

Data is read in place from ``conformance_dir / "dkim"`` (see its README §2); every zone is a
MemoryResolver built from the data with ``strict=False``, so unlisted names are NXDOMAIN.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from diag.dkim import DkimSignError, sign_message, verify_message
from diag.resolver import TXT, MemoryResolver

# The gmail 2012 key dkimpy's test_dkim.py serves for test2.message (conformance README §2).
GMAIL_2012 = (
    "k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1Kd87/UeJjenpabgbFwh+eBCsSTrqmwIYYvywlbh"
    "bqoo2DymndFkbjOVIPIldNs/m40KF+yzMn1skyoxcTUGCQs8g3FgD2Ap3ZB5DekAo5wMmk4wimDO+U8QzI3SD07y2+07"
    "wlNWwIt8svnxgdxGkVbbhzY8i+RQ9DpSVpPbF7ykQxtKXkv/ahW3KjViiAH+ghvvIhkx4xYSIc9oSwVmAl5OctMEeWUw"
    "g8Istjqz8BZeTWbf41fbNhte7Y+YqZOwq1Sd0DbvYAD9NOZK9vlfuac0598HY+vtSBczUiKERHv1yRbcaQtZFh5wtiRr"
    "N04BLUTD21MycBX5jYchHjPY/wIDAQAB"
)
BRISBANE_ED25519 = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
STALWART_005_SIGNED = 1667843664  # t= of stalwart dkim-005 (x= is a day later)


def zone(records: dict[str, str]) -> MemoryResolver:
    data = {name: {"TXT": [TXT((text.encode(),))]} for name, text in records.items()}
    return MemoryResolver(data, strict=False)


@pytest.fixture(scope="module")
def dkimpy_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "dkim" / "dkimpy-1.1.8"


def dkimpy_zone(data: Path) -> dict[str, str]:
    """The DNS names dkimpy's own tests serve (conformance README §2 table)."""
    test_txt = (data / "test.txt").read_text().strip()
    return {
        "test._domainkey.example.com": test_txt,
        "test._domainkey.football.example.com": test_txt,
        "brisbane._domainkey.football.example.com": BRISBANE_ED25519,
        "test._domainkey.example.net": (data / "ed25519test.dns").read_text().strip(),
        "sed._domainkey.test.ex": (data / "eximtest.dns").read_text().strip(),
        "20120113._domainkey.gmail.com": GMAIL_2012,
    }


PRESIGNED = [
    pytest.param("rfc6376.signed.msg", [("pass", ""), ("pass", "")], id="dkimpy[rfc8463-draft]"),
    pytest.param("rfc6376.signed.rsa.msg", [("pass", "")], id="dkimpy[rfc6376.signed.rsa]"),
    # dkimpy's own test only asserts no crash; dkimpy 1.1.8 and we both reject the signature.
    pytest.param(
        "rfc6376.signed.no_t.msg", [("fail", "signature_mismatch")], id="dkimpy[no_t-x-far-future]"
    ),
    pytest.param("ed25519test2.msg", [("pass", "")], id="dkimpy[exim-ed25519-relaxed]"),
    pytest.param("test2.message", [("pass", "")], id="dkimpy[gmail-degenerate-folding]"),
    pytest.param(
        "test.message.baddomain",
        [("permerror", "signature_syntax")],
        id="dkimpy[rfc6376-3.5-d-invalid]",
    ),
]


@pytest.mark.parametrize(("name", "expected"), PRESIGNED)
async def test_dkimpy_presigned(
    dkimpy_dir: Path, name: str, expected: list[tuple[str, str]]
) -> None:
    resolver = zone(dkimpy_zone(dkimpy_dir))
    results = await verify_message((dkimpy_dir / name).read_bytes(), resolver)
    assert [(r.result, r.reason) for r in results] == expected
    if name == "test.message.baddomain":
        assert resolver.queries == []  # an invalid d= is rejected, never looked up


KEY_VARIANTS = [
    pytest.param("test.txt", "pass", "", id="dkimpy[key-test]"),
    pytest.param("test2.txt", "pass", "", id="dkimpy[key-implicit-k-rsa]"),
    pytest.param("badversion.txt", "permerror", "key_syntax", id="dkimpy[key-badversion]"),
    pytest.param("badk.txt", "permerror", "unsupported_algorithm", id="dkimpy[key-unknown-k]"),
    pytest.param("test_bad.txt", "permerror", "key_syntax", id="dkimpy[key-corrupt-p]"),
    pytest.param("test_tlsrpt.txt", "permerror", "key_service_mismatch", id="dkimpy[key-s-tlsrpt]"),
]


@pytest.mark.parametrize(("record", "result", "reason"), KEY_VARIANTS)
async def test_dkimpy_key_records(dkimpy_dir: Path, record: str, result: str, reason: str) -> None:
    message = sign_message(
        (dkimpy_dir / "test.message").read_bytes(),
        domain="example.com",
        selector="test",
        private_key=(dkimpy_dir / "test.private").read_bytes(),
    )
    key = (dkimpy_dir / record).read_text().strip()
    (verdict,) = await verify_message(message, zone({"test._domainkey.example.com": key}))
    assert (verdict.result, verdict.reason) == (result, reason)


KEY_PAIRS = [
    pytest.param(
        "1024_testkey.key", "1024_testkey_wo_markers.pub.txt", 1024, id="dkimpy[1024-spki]"
    ),
    pytest.param(
        "1024_testkey.key", "1024_testkey_wo_markers.pub.rsa.txt", 1024, id="dkimpy[1024-pkcs1]"
    ),
    pytest.param(
        "2048_testkey.key", "2048_testkey_wo_markers.pub.txt", 2048, id="dkimpy[2048-spki]"
    ),
    pytest.param(
        "2048_testkey.key", "2048_testkey_wo_markers.pub.rsa.txt", 2048, id="dkimpy[2048-pkcs1]"
    ),
    pytest.param(
        "2048_testkey_PKCS8.key", "2048_testkey_PKCS8.key.pub.txt", 2048, id="dkimpy[2048-pkcs8]"
    ),
]


@pytest.mark.parametrize(("private", "public", "bits"), KEY_PAIRS)
async def test_dkimpy_key_pairs(dkimpy_dir: Path, private: str, public: str, bits: int) -> None:
    message = sign_message(
        (dkimpy_dir / "test.message").read_bytes(),
        domain="example.com",
        selector="test",
        private_key=(dkimpy_dir / private).read_bytes(),
    )
    key = (dkimpy_dir / public).read_text().strip()
    (verdict,) = await verify_message(message, zone({"test._domainkey.example.com": key}))
    assert (verdict.result, verdict.key_bits) == ("pass", bits)


RSA_RT = ("rsa-sha256", "test.private", "example.com", "test")
ROUND_TRIPS = [
    pytest.param("test.message", *RSA_RT, id="dkimpy[rt-test]"),
    pytest.param("rfc6376.msg", *RSA_RT, id="dkimpy[rt-rfc6376-A1]"),
    pytest.param("test_extra.message", *RSA_RT, id="dkimpy[rt-extra]"),
    pytest.param("rfc6376.w1258.msg", *RSA_RT, id="dkimpy[rt-8bit-from]"),
    pytest.param(
        "ed25519test.msg",
        "ed25519-sha256",
        "ed25519test.key",
        "example.net",
        "test",
        id="dkimpy[rt-ed25519]",
    ),
    pytest.param(
        "ed25519test.msg",
        "ed25519-sha256",
        "rfc8032_7_1.key",
        "football.example.com",
        "brisbane",
        id="dkimpy[rt-rfc8032-7.1]",
    ),
]


@pytest.mark.parametrize(("name", "algorithm", "key", "domain", "selector"), ROUND_TRIPS)
async def test_dkimpy_round_trips(
    dkimpy_dir: Path, name: str, algorithm: str, key: str, domain: str, selector: str
) -> None:
    message = sign_message(
        (dkimpy_dir / name).read_bytes(),
        domain=domain,
        selector=selector,
        private_key=(dkimpy_dir / key).read_bytes(),
        algorithm=algorithm,
    )
    (verdict,) = await verify_message(message, zone(dkimpy_zone(dkimpy_dir)))
    assert (verdict.result, verdict.domain, verdict.algorithm) == ("pass", domain, algorithm)


async def test_dkimpy_mbox_keeps_existing_signature(dkimpy_dir: Path) -> None:
    message = sign_message(
        (dkimpy_dir / "message.mbox").read_bytes(),
        domain="example.com",
        selector="test",
        private_key=(dkimpy_dir / "test.private").read_bytes(),
    )
    results = await verify_message(message, zone(dkimpy_zone(dkimpy_dir)))
    # ours first; kitterman.com's 2011 key is not in the zone
    assert [(r.domain, r.result, r.reason) for r in results] == [
        ("example.com", "pass", ""),
        ("kitterman.com", "permerror", "no_key"),
    ]


def test_dkimpy_no_from_refused(dkimpy_dir: Path) -> None:
    with pytest.raises(DkimSignError) as info:
        sign_message(
            (dkimpy_dir / "test_nofrom.message").read_bytes(),
            domain="example.com",
            selector="test",
            private_key=(dkimpy_dir / "test.private").read_bytes(),
        )
    assert info.value.reason == "parameter"


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


async def test_rfc6376_appendix_a2_body_hash_mismatch(conformance_dir: Path) -> None:
    """Known-bad vector: the printed bh= is the relaxed body hash under c=simple/simple."""
    data = conformance_dir / "dkim" / "rfc6376-appendix"
    public = _pem_body((data / "C-brisbane-rsa.public.pem").read_text())
    resolver = zone({"brisbane._domainkey.example.com": f"v=DKIM1; p={public}"})
    (verdict,) = await verify_message((data / "A2-signed.eml").read_bytes(), resolver)
    assert (verdict.result, verdict.reason) == ("fail", "body_hash_mismatch")
    assert verdict.header_i == "joe@football.example.com"


@pytest.mark.parametrize("crlf", [False, True], ids=["rfc8463[A.3-lf]", "rfc8463[A.3-crlf]"])
async def test_rfc8463_appendix_a(conformance_dir: Path, crlf: bool) -> None:
    data = conformance_dir / "dkim" / "rfc8463-appendix-a"
    dns = json.loads((data / "dns.json").read_text())
    records = {name: "".join(types["TXT"][0]) for name, types in dns.items()}
    message = (data / "signed.eml").read_bytes()
    if crlf:
        message = message.replace(b"\n", b"\r\n")
    results = await verify_message(message, zone(records))
    assert [(r.result, r.algorithm, r.selector) for r in results] == [
        ("pass", "ed25519-sha256", "brisbane"),
        ("pass", "rsa-sha256", "test"),
    ]


def stalwart(path: Path) -> tuple[dict[str, str], bytes]:
    """``<dns-name> <TXT value>`` lines, a blank line, then the raw message."""
    head, message = path.read_bytes().split(b"\n\n", 1)
    records = dict(line.split(" ", 1) for line in head.decode().splitlines())
    return records, message


STALWART = [
    pytest.param("dkim-001.txt", None, ["pass", "pass"], id="stalwart[001-rfc8463]"),
    pytest.param("dkim-002.txt", None, ["pass"], id="stalwart[002-rfc6376-resigned]"),
    pytest.param("dkim-003.txt", None, ["pass", "pass"], id="stalwart[003-ietf-list]"),
    pytest.param("dkim-004.txt", None, ["pass"], id="stalwart[004-facebookmail-t=s]"),
    pytest.param("dkim-005.txt", STALWART_005_SIGNED + 60, ["pass"], id="stalwart[005-before-x]"),
    pytest.param("dkim-006.txt", None, ["pass"], id="stalwart[006-github]"),
]


@pytest.mark.parametrize(("name", "now", "expected"), STALWART)
async def test_stalwart(
    conformance_dir: Path, name: str, now: float | None, expected: list[str]
) -> None:
    records, message = stalwart(conformance_dir / "dkim" / "stalwart-mail-auth" / name)
    results = await verify_message(message, zone(records), now=now)
    assert [r.result for r in results] == expected


async def test_stalwart_005_expired_now(conformance_dir: Path) -> None:
    records, message = stalwart(conformance_dir / "dkim" / "stalwart-mail-auth" / "dkim-005.txt")
    resolver = zone(records)
    (verdict,) = await verify_message(message, resolver, now=time.time())
    assert (verdict.result, verdict.reason) == ("fail", "expired")
    assert "x=1667930064" in verdict.detail
    assert resolver.queries == []
