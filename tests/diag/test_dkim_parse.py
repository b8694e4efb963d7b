"""Pure parsing of DKIM-Signature values and key records (RFC 6376 §3.2, §3.5, §3.6.1)."""

from __future__ import annotations

import base64
import contextlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.dkim import DkimKey, DkimSignature, parse_key_record, parse_signature, parse_tag_list
from diag.errors import DkimSyntaxError, ParseError

B64 = "dGVzdA=="
BASE = f"v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; bh={B64}; b={B64}"


def _rsa_p(bits: int = 1024) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


RSA_P = _rsa_p()


def test_minimal_signature_and_defaults() -> None:
    sig = parse_signature(BASE)
    assert isinstance(sig, DkimSignature)
    assert sig.algorithm == "rsa-sha256"
    assert sig.domain == "example.com"
    assert sig.selector == "sel"
    assert sig.headers == ("from", "to")
    assert sig.canonicalization == "simple/simple"  # §3.5 c= default
    assert sig.query_methods == ("dns/txt",)
    assert sig.identity is None
    assert sig.agent_identifier == "@example.com"
    assert sig.key_name == "sel._domainkey.example.com"


def test_every_tag() -> None:
    value = (
        "v=1; a=ED25519-SHA256; c=relaxed; d=Example.COM; i=joe@mail.example.com;\r\n"
        "\th=From : Subject:date; l=1234; q=dns/txt; s=brisbane; t=1528637909;\r\n"
        " x=1528724309; z=From:foo@eng.example.net|To:joe@example.com;\r\n"
        f" bh={B64};\r\n b=dGVz\r\n  dA==;"
    )
    sig = parse_signature(value)
    assert sig.algorithm == "ed25519-sha256"
    assert (sig.header_canonicalization, sig.body_canonicalization) == ("relaxed", "simple")
    assert sig.domain == "example.com"
    assert sig.identity == "joe@mail.example.com"
    assert sig.headers == ("from", "subject", "date")
    assert sig.length == 1234
    assert sig.timestamp == 1528637909
    assert sig.expiration == 1528724309
    assert sig.copied_headers == ("From:foo@eng.example.net", "To:joe@example.com")
    assert sig.signature == "dGVzdA=="  # FWS removed
    assert ("s", "brisbane") in sig.tags


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        pytest.param(BASE + "; d=other.example", "duplicate tag d=", id="rfc6376[3.2-duplicate]"),
        pytest.param(BASE.replace("v=1", "v=2"), "v= must be 1", id="rfc6376[3.5-v]"),
        pytest.param(BASE.replace("; s=sel", ""), "missing required tag s=", id="rfc6376[3.5-s]"),
        pytest.param(BASE.replace("bh=", "xx="), "missing required tag bh=", id="rfc6376[3.5-bh]"),
        pytest.param(BASE + "; i=joe@example.org", "i= domain", id="rfc6376[3.5-i-domain]"),
        pytest.param(BASE + "; i=joe", "i= has no '@'", id="rfc6376[3.5-i-at]"),
        pytest.param(BASE + "; l=12a", "l=", id="rfc6376[3.5-l]"),
        pytest.param(BASE + "; t=1234567890123", "t=", id="rfc6376[3.5-t-digits]"),
        pytest.param(BASE + "; t=200; x=100", "x= is not later", id="rfc6376[3.5-x-before-t]"),
        pytest.param(BASE.replace("b=dGVzdA==", "b=dGVzd!=="), "b= is not", id="rfc6376[3.5-b]"),
        pytest.param(BASE.replace("a=rsa-sha256", "a=rsa"), "a=", id="rfc6376[3.5-a]"),
        pytest.param(BASE + "; c=relaxed/simple/x", "c=", id="rfc6376[3.5-c]"),
        pytest.param(
            BASE.replace("d=example.com", "d=legitimate.com(.attacker.com"),
            "d= domain",
            id="rfc6376[3.5-d-specials]",
        ),
        pytest.param(BASE.replace("h=from:to", "h=from::to"), "h= field", id="rfc6376[3.5-h]"),
        pytest.param(BASE + ";; q=dns/txt", "empty tag-spec", id="rfc6376[3.2-empty]"),
        pytest.param(BASE + "; 1x=y", "invalid tag name", id="rfc6376[3.2-tag-name]"),
        pytest.param(BASE + "; novalue", "without '='", id="rfc6376[3.2-no-equals]"),
    ],
)
def test_signature_errors(value: str, fragment: str) -> None:
    with pytest.raises(DkimSyntaxError) as info:
        parse_signature(value)
    assert fragment in info.value.message
    assert info.value.position is not None
    assert 0 <= info.value.position <= len(value)


def test_error_position_points_at_the_duplicate() -> None:
    value = BASE + "; s=again"
    with pytest.raises(DkimSyntaxError) as info:
        parse_signature(value)
    assert value[info.value.position :].startswith("s=again")
    assert isinstance(info.value, ParseError)


def test_error_position_points_at_the_bad_value() -> None:
    value = BASE + "; l=12a"
    with pytest.raises(DkimSyntaxError) as info:
        parse_signature(value)
    assert value[info.value.position :] == "12a"


def test_tag_list_trailing_semicolon_and_fws() -> None:
    tags = parse_tag_list(" a = 1 ;\r\n\tb=two words ;")
    assert [(t.name, t.value) for t in tags] == [("a", "1"), ("b", "two words")]
    assert parse_tag_list("") == ()


def test_key_record_rsa() -> None:
    key = parse_key_record(f"v=DKIM1; k=rsa; h=sha256; t=y:s; n=note; p={RSA_P}")
    assert isinstance(key, DkimKey)
    assert key.key_type == "rsa"
    assert key.bits == 1024
    assert key.testing
    assert key.strict
    assert key.allows_hash("sha256")
    assert not key.allows_hash("sha1")
    assert key.for_email
    assert not key.revoked
    assert key.notes == "note"


def test_key_record_defaults_and_folded_p() -> None:
    folded = " ".join(RSA_P[i : i + 40] for i in range(0, len(RSA_P), 40))
    key = parse_key_record(f"p={folded}")
    assert key.key_type == "rsa"  # §3.6.1 k= default
    assert key.version is None
    assert key.hash_algorithms is None
    assert key.allows_hash("sha256")
    assert key.service_types == ("*",)
    assert key.public_key == RSA_P
    assert key.bits == 1024


def test_key_record_ed25519() -> None:
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    key = parse_key_record(f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}")
    assert key.key_type == "ed25519"
    assert key.bits == 256


def test_revoked_key() -> None:
    key = parse_key_record("v=DKIM1; p=")
    assert key.revoked
    assert key.bits is None


def test_unknown_key_type_is_not_a_syntax_error() -> None:
    key = parse_key_record(f"k=ed448; p={B64}")
    assert key.key_type == "ed448"
    assert key.bits is None


def test_service_types() -> None:
    assert not parse_key_record(f"s=tlsrpt; p={RSA_P}").for_email
    assert parse_key_record(f"s=tlsrpt:email; p={RSA_P}").for_email


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("v=DKIM1: k=rsa; p=" + RSA_P, "v= must be DKIM1", id="rfc6376[3.6.1-v]"),
        pytest.param(f"k=rsa; v=DKIM1; p={RSA_P}", "first tag", id="rfc6376[3.6.1-v-first]"),
        pytest.param("v=DKIM1; k=rsa", "missing required tag p=", id="rfc6376[3.6.1-p]"),
        pytest.param("v=DKIM1; p=abc", "base64", id="rfc6376[3.6.1-p-base64]"),
        pytest.param(f"v=DKIM1; p={B64}", "RSA public key", id="rfc6376[3.6.1-p-der]"),
        pytest.param(f"k=ed25519; p={B64}", "Ed25519", id="rfc8463[4-key-length]"),
        pytest.param(f"p={RSA_P}; p={RSA_P}", "duplicate", id="rfc6376[3.2-duplicate]"),
    ],
)
def test_key_record_errors(text: str, fragment: str) -> None:
    with pytest.raises(DkimSyntaxError) as info:
        parse_key_record(text)
    assert fragment in info.value.message
    assert info.value.position is not None


_TAGGY = st.lists(
    st.one_of(
        st.sampled_from(["v", "a", "b", "bh", "c", "d", "h", "i", "l", "q", "s", "t", "x", "z"]),
        st.sampled_from(["k", "p", "n", "=", ";", " ", "\r\n ", ":", "@", ".", "/", "DKIM1"]),
        st.text(max_size=8),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), _TAGGY))
def test_parsers_raise_only_their_documented_error(text: str) -> None:
    for parser in (parse_signature, parse_key_record):
        error: DkimSyntaxError | None = None
        try:
            parser(text)
        except DkimSyntaxError as exc:
            error = exc
        if error is not None and error.position is not None:
            assert 0 <= error.position <= len(text)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([BASE, f"v=DKIM1; k=rsa; p={RSA_P}"]), st.data())
def test_mutated_records_raise_only_documented_errors(base: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(base)))
    insert = data.draw(st.text(max_size=4))
    text = base[:index] + insert + base[index + len(insert) :]
    for parser in (parse_signature, parse_key_record):
        with contextlib.suppress(DkimSyntaxError):
            parser(text)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\x7f"])
def test_control_character_in_a_value_is_pointed_at(char: str) -> None:
    text = f"a=1; n=ab{char}c; z=2"
    with pytest.raises(DkimSyntaxError) as caught:
        parse_tag_list(text)
    assert caught.value.position == text.index(char)
    assert "control character in n= value" in str(caught.value)


def test_folding_whitespace_inside_a_value_is_no_control_character() -> None:
    (tag,) = parse_tag_list("h=from :\r\n\tto : \tsubject ")
    assert tag.value == "from :\r\n\tto : \tsubject"


def test_cached_key_parse_equals_parse_and_is_reused() -> None:
    from diag.dkim.parse import KEY_PARSE_CACHE_SIZE, parse_key_record_cached

    text = f"v=DKIM1; k=rsa; n=cached; p={RSA_P}"
    first = parse_key_record_cached(text)
    assert first == parse_key_record(text)
    assert parse_key_record_cached(text) is first
    assert parse_key_record_cached.cache_info().maxsize == KEY_PARSE_CACHE_SIZE
    for _ in range(2):  # a record that does not parse is not kept: the error comes every time
        with pytest.raises(DkimSyntaxError):
            parse_key_record_cached("v=DKIM1; k=rsa; p=%%%")
