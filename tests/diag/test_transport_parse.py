"""The transport parsers, pure: the MTA-STS record and policy (RFC 8461 §3.1, §3.2), the MX
pattern rule (§4.1), the TLS-RPT record (RFC 8460 §3), TLSA records (RFC 6698 §2.2) and
their use for SMTP (RFC 7672 §3.1); and, by hypothesis, that on any input they raise only
their own documented errors."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from diag.errors import MtaStsSyntaxError, ParseError, TlsaSyntaxError, TlsRptSyntaxError
from diag.transport import (
    MAX_POLICY_BYTES,
    MtaStsPolicy,
    MtaStsRecord,
    Tlsa,
    TlsRptRecord,
    is_sts_record,
    is_tlsrpt_record,
    matches,
    mx_matches,
    parse_policy,
    parse_sts_record,
    parse_tlsa,
    parse_tlsrpt_record,
    policy_url,
    tlsa_name,
    unusable_reason,
)
from tests.diag.certs import make_ca, make_server

# --- the _mta-sts TXT record (RFC 8461 §3.1) --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=STSv1; id=20160831085700Z;", MtaStsRecord("20160831085700Z")),
        ("v=STSv1; id=20160831085700Z", MtaStsRecord("20160831085700Z")),
        ("v=STSv1;id=abc", MtaStsRecord("abc")),
        ("v=STSv1 ;\tid=abc ; ", MtaStsRecord("abc")),
        ("v=STSv1; id=" + "a" * 32, MtaStsRecord("a" * 32)),
        ("v=STSv1; id=1; id=2", MtaStsRecord("1")),  # the first counts
        ("v=STSv1; ext.1=x:y/z; id=1", MtaStsRecord("1", (("ext.1", "x:y/z"),))),
    ],
    ids=[
        "rfc-example",
        "no-trailing-sep",
        "no-space",
        "wsp-around-seps",
        "id-32",
        "two-ids",
        "ext",
    ],
)
def test_sts_records(text: str, expected: MtaStsRecord) -> None:
    assert is_sts_record(text)
    assert parse_sts_record(text) == expected


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("v=STSv2; id=1", 0),  # another version
        ("v=stsv1; id=1", 0),  # %s: case-sensitive
        ("v=STSv1", 7),  # no field
        ("v=STSv1;", 8),  # no field after the separator
        ("v=STSv1; id=1 ", 13),  # whitespace that no ";" follows
        ("v=STSv1 id=1", 7),  # no separator
        ("v=STSv1; id=" + "a" * 33, 12),  # id too long
        ("v=STSv1; id=ab-c", 14),  # id is letters and digits only
        ("v=STSv1; id=", 12),  # empty id
        ("v=STSv1; foo=bar", 16),  # no id at all
        ("v=STSv1; id=1; =x", 15),  # no field name
        ("v=STSv1; id=1; _x=y", 15),  # a name starts with a letter or digit
        ("v=STSv1; id=1; x", 15),  # no "="
        ("v=STSv1; id=1; x=a=b", 18),  # "=" is not in an extension value
        ("v=STSv1; id=1; x=é", 17),  # nor non-ASCII
    ],
)
def test_sts_record_errors_point_at_the_character(text: str, position: int) -> None:
    with pytest.raises(MtaStsSyntaxError) as caught:
        parse_sts_record(text)
    assert caught.value.position == position
    assert "^" in str(caught.value)


def test_only_records_beginning_with_the_version_are_sts() -> None:
    assert not is_sts_record("v=spf1 -all")
    assert not is_sts_record(" v=STSv1; id=1")
    assert policy_url("kunde.example") == "https://mta-sts.kunde.example/.well-known/mta-sts.txt"


# --- the policy (RFC 8461 §3.2) ----------------------------------------------------------------

RFC_POLICY = (
    "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
    "mx: backupmx.example.com\r\nmax_age: 604800\r\n"
)


def test_the_rfc_example_policy() -> None:
    policy = parse_policy(RFC_POLICY.encode())
    assert policy == MtaStsPolicy(
        "enforce", 604800, ("mail.example.com", "*.example.net", "backupmx.example.com")
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: STSv1\nmode: testing\nmx: MX.Example.COM\nmax_age: 86400", ("testing", 86400)),
        ("version:STSv1\nmode:none\nmax_age:0\n", ("none", 0)),  # none needs no mx
        ("mode: enforce\nmax_age: 1\nversion: STSv1\nmx: a.example\n\n", ("enforce", 1)),
        ("version: STSv1\nmode: testing\nmode: enforce\nmx: a\nmax_age: 9", ("testing", 9)),
        ("version: STSv1 \t\nmode: none\nmax_age: 31557600\nfoo: a b ü", ("none", 31557600)),
    ],
    ids=["lf-and-case", "none-without-mx", "any-order", "first-mode-counts", "ext-and-wsp"],
)
def test_policies(text: str, expected: tuple[str, int]) -> None:
    policy = parse_policy(text)
    assert (policy.mode, policy.max_age) == expected


def test_policy_keeps_extensions_and_lowercases_patterns() -> None:
    policy = parse_policy("version: STSv1\nmode: testing\nmx: MX.Example.COM\nmax_age: 5\nx-a: 1")
    assert policy.mx == ("mx.example.com",)
    assert policy.extensions == (("x-a", "1"),)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1", 9),
        ("version: STSv1\nmode: enforced\nmx: a\nmax_age: 1", 21),
        ("version: STSv1\nmode: enforce\nmx: a\nmax_age: 12345678901", 44),  # 11 digits
        ("version: STSv1\nmode: enforce\nmx: a\nmax_age: -1", 44),
        ("version: STSv1\nmode: enforce\nmax_age: 1", 39),  # enforce without mx
        ("mode: enforce\nmx: a\nmax_age: 1", 30),  # no version
        ("version: STSv1\nmx: a\nmax_age: 1", 31),  # no mode
        ("version: STSv1\nmode: enforce\nmx: a", 34),  # no max_age
        ("version: STSv1\nmode: enforce\nmx: a_b.example\nmax_age: 1", 34),
        ("version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1", 33),
        ("version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1", 33),
        ("version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 1", 33),
        ("version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1", 33),
        ("version: STSv1\nmode: enforce\nmx: bl\u00e5.example\nmax_age: 1", 35),  # U-label
        ("version STSv1\nmode: enforce", 0),  # no colon
        ("version: STSv1\nmode: enforce\nmx: a\nmax_age: 1\nx:\x01y", 48),  # a control char
        ("version: STSv1\nmode:\nmx: a\nmax_age: 1", 20),  # empty value
    ],
)
def test_policy_errors_point_at_the_character(text: str, position: int) -> None:
    with pytest.raises(MtaStsSyntaxError) as caught:
        parse_policy(text)
    assert caught.value.position == position


def test_policy_size_and_encoding_limits() -> None:
    padding = "x: " + "a" * (MAX_POLICY_BYTES - 60) + "\n"
    fits = f"version: STSv1\nmode: none\nmax_age: 1\n{padding}"
    assert len(fits.encode()) <= MAX_POLICY_BYTES
    assert parse_policy(fits.encode()).mode == "none"
    with pytest.raises(MtaStsSyntaxError, match="larger than"):
        parse_policy(fits.encode() + b"y" * 100)
    with pytest.raises(MtaStsSyntaxError, match="not UTF-8") as caught:
        parse_policy(b"version: STSv1\nmode: none\nmax_age: 1\nx: \xff")
    assert caught.value.position == 40


# --- the MX pattern rule (RFC 8461 §4.1) -------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.example.com.", True),
        ("mail.example.com", "mail2.example.com", False),
        ("*.example.net", "mx1.example.net", True),
        ("*.example.net", "example.net", False),
        ("*.example.net", "a.b.example.net", False),
        ("*.example.net", ".example.net", False),
        ("*.Example.NET.", "MX.example.net", True),
        ("example.net", "mx.example.net", False),
    ],
)
def test_mx_patterns(pattern: str, host: str, expected: bool) -> None:
    assert mx_matches(pattern, host) is expected
    policy = MtaStsPolicy("enforce", 1, (pattern,))
    assert policy.matches(host) is expected


# --- TLS-RPT (RFC 8460 §3) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rua"),
    [
        ("v=TLSRPTv1;rua=mailto:reports@example.com", ("mailto:reports@example.com",)),
        ("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", None),
        (
            "v=TLSRPTv1; rua=mailto:a@example.com , https://r.example/x?a=b ;",
            ("mailto:a@example.com", "https://r.example/x?a=b"),
        ),
        ("v=TLSRPTv1; ext=1; rua=mailto:a@b.example; rua=mailto:c@d.example", None),
    ],
    ids=["mailto", "https", "two-uris", "first-rua-and-ext"],
)
def test_tlsrpt_records(text: str, rua: tuple[str, ...] | None) -> None:
    assert is_tlsrpt_record(text)
    record = parse_tlsrpt_record(text)
    if rua is not None:
        assert record.rua == rua
    assert len(record.rua) >= 1
    assert record.unsupported == ()


def test_tlsrpt_unsupported_schemes_are_kept_and_named() -> None:
    record = parse_tlsrpt_record("v=TLSRPTv1; rua=ftp://x.example/r,mailto:nobody,https:x")
    assert record == TlsRptRecord(("ftp://x.example/r", "mailto:nobody", "https:x"))
    assert record.unsupported == record.rua


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("v=TLSRPTv2; rua=mailto:a@b.example", 0),
        ("v=TLSRPTv1", 10),
        ("v=TLSRPTv1; ext=1", 17),  # no rua
        ("v=TLSRPTv1; rua=", 16),
        ("v=TLSRPTv1; rua=mailto:a@b.example,", 35),  # an empty URI after the comma
        ("v=TLSRPTv1; rua=not a uri", 19),
        ("v=TLSRPTv1; rua=mailto:hi!@b.example", 25),  # "!" must be encoded
        ("v=TLSRPTv1; rua=nocolon", 16),
    ],
)
def test_tlsrpt_errors_point_at_the_character(text: str, position: int) -> None:
    with pytest.raises(TlsRptSyntaxError) as caught:
        parse_tlsrpt_record(text)
    assert caught.value.position == position


# --- TLSA (RFC 6698 §2.2, RFC 7672 §3.1) -------------------------------------------------------


def test_tlsa_presentation_forms() -> None:
    data = bytes(range(32))
    assert parse_tlsa("3 1 1 " + data.hex()) == Tlsa(3, 1, 1, data)
    split = data.hex()[:10] + " " + data.hex()[10:].upper()
    assert parse_tlsa(f"  2  0 1 {split} ") == Tlsa(2, 0, 1, data)
    assert Tlsa(3, 1, 1, data).label == "DANE-EE(3) SPKI(1) SHA2-256(1)"
    assert Tlsa(9, 9, 9, b"").label == "?(9) ?(9) ?(9)"
    assert str(Tlsa(3, 1, 1, b"\xab")) == "3 1 1 ab"
    assert tlsa_name("MX.Kunde.Example.") == "_25._tcp.mx.kunde.example"


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("3 1 1", 5),
        ("3 1 x abcd", 4),
        ("256 1 1 abcd", 0),
        ("-1 1 1 abcd", 0),
        ("3 1 1 abc", 6),
        ("3 1 1 zz", 6),
        ("\\# 3 03 01 01", 0),  # the RFC 3597 generic form is not read
    ],
)
def test_tlsa_errors(text: str, position: int) -> None:
    with pytest.raises(TlsaSyntaxError) as caught:
        parse_tlsa(text)
    assert caught.value.position == position


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (Tlsa(3, 1, 1, b"\x00" * 32), None),
        (Tlsa(2, 0, 2, b"\x00" * 64), None),
        (Tlsa(3, 0, 0, b"\x30"), None),
        (Tlsa(0, 0, 1, b"\x00" * 32), "pkix_usage"),
        (Tlsa(1, 1, 1, b"\x00" * 32), "pkix_usage"),
        (Tlsa(4, 1, 1, b"\x00" * 32), "unknown_usage"),
        (Tlsa(3, 2, 1, b"\x00" * 32), "unknown_selector"),
        (Tlsa(3, 1, 3, b"\x00" * 32), "unknown_matching_type"),
        (Tlsa(3, 1, 1, b"\x00" * 31), "digest_length"),
        (Tlsa(3, 1, 2, b"\x00" * 32), "digest_length"),
    ],
)
def test_usable_for_smtp(record: Tlsa, reason: str | None) -> None:
    assert unusable_reason(record) == reason


def test_tlsa_matching() -> None:
    ca = make_ca("Kunde Root")
    server = make_server(ca, ["mx.kunde.example"])
    leaf, root = server.der, ca.der
    leaf_spki = server.cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    chain = (leaf, root)
    ee_spki = Tlsa(3, 1, 1, hashlib.sha256(leaf_spki).digest())
    ee_cert512 = Tlsa(3, 0, 2, hashlib.sha512(leaf).digest())
    ee_full = Tlsa(3, 0, 0, leaf)
    ta_cert = Tlsa(2, 0, 1, hashlib.sha256(root).digest())
    assert matches(ee_spki, chain)
    assert matches(ee_cert512, chain)
    assert matches(ee_full, chain)
    assert matches(ta_cert, chain)
    assert not matches(ta_cert, (leaf,))  # the trust anchor must be in the chain
    assert not matches(Tlsa(2, 0, 1, hashlib.sha256(leaf).digest()), chain)  # TA is not the leaf
    assert not matches(Tlsa(3, 0, 1, hashlib.sha256(root).digest()), chain)  # EE is the leaf
    assert not matches(Tlsa(1, 1, 1, ee_spki.data), chain)  # PKIX-EE is unusable for SMTP
    assert not matches(ee_spki, ())
    assert not matches(Tlsa(3, 1, 1, ee_spki.data), (b"not a certificate",))


# --- hypothesis: only the documented errors, whatever the input ---------------------------------

FIELD_TEXT = st.text(alphabet=st.sampled_from("v=STSTLRPv1;id:ab \t,@.*-_é\x00\r\n"), max_size=60)


def _position(error: ParseError | None, text: str | bytes) -> int:
    """The error's position, which must be within the input (or just past it)."""
    assert error is not None
    assert error.position is not None
    assert 0 <= error.position <= len(text)
    return error.position


@given(st.one_of(FIELD_TEXT, st.text(max_size=80)).map(lambda t: "v=STSv1" + t))
def test_sts_record_parser_raises_only_its_error(text: str) -> None:
    error: ParseError | None = None
    try:
        assert parse_sts_record(text).id.isalnum()
    except MtaStsSyntaxError as exc:
        error = exc
    if error is not None:
        _position(error, text)


@given(st.one_of(FIELD_TEXT, st.text(max_size=80)).map(lambda t: "v=TLSRPTv1" + t))
def test_tlsrpt_parser_raises_only_its_error(text: str) -> None:
    error: ParseError | None = None
    try:
        assert parse_tlsrpt_record(text).rua
    except TlsRptSyntaxError as exc:
        error = exc
    if error is not None:
        _position(error, text)


POLICY_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            ["version: STSv1", "mode: enforce", "mode: none", "max_age: 86400", "mx: *.a.example"]
        ),
        st.text(max_size=30),
    ),
    max_size=8,
)


@given(st.one_of(POLICY_LINES.map("\r\n".join), st.binary(max_size=200)))
def test_policy_parser_raises_only_its_error(body: str | bytes) -> None:
    error: ParseError | None = None
    try:
        policy = parse_policy(body)
    except MtaStsSyntaxError as exc:
        error = exc
    if error is not None:
        _position(error, body.encode() if isinstance(body, str) else body)
        return
    assert policy.mode in ("enforce", "testing", "none")
    assert policy.mode == "none" or policy.mx


@given(st.text(max_size=80))
def test_tlsa_parser_raises_only_its_error(text: str) -> None:
    error: ParseError | None = None
    try:
        record = parse_tlsa(text)
    except TlsaSyntaxError as exc:
        error = exc
    if error is not None:
        _position(error, text)
        return
    assert 0 <= record.usage <= 255
    unusable_reason(record)
    assert not matches(record, ())


@given(st.text(max_size=40), st.text(max_size=40))
def test_mx_matching_never_raises(pattern: str, host: str) -> None:
    assert mx_matches(pattern, host) in (True, False)
