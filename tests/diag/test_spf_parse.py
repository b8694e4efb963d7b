"""parse_spf and is_spf_record (RFC 7208 §4.5, §12): valid terms and errors with positions."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diag.spf
from diag.errors import SpfSyntaxError
from diag.spf import Mechanism, Modifier, SpfRecord, is_spf_record, parse_spf


def test_public_surface_is_exported() -> None:
    for name in diag.spf.__all__:
        assert getattr(diag.spf, name) is not None
    assert {"parse_spf", "check_host", "expand_macros", "SpfResult"} <= set(diag.spf.__all__)


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("v=spf1", True),
        ("v=spf1 -all", True),
        ("V=SpF1 -all", True),
        ("v=spf10", False),
        ("v=spf1-all", False),
        ("spf2.0/pra -all", False),
        (" v=spf1 -all", False),
        ("", False),
    ],
)
def test_record_selection(text: str, selected: bool) -> None:
    assert is_spf_record(text) is selected


def test_terms_keep_order_positions_and_text() -> None:
    text = "v=spf1  a mx:example.com/24//64 -ip4:192.0.2.1/16 ~all moo=x"
    record = parse_spf(text)
    assert [t.text for t in record.terms] == [
        "a",
        "mx:example.com/24//64",
        "-ip4:192.0.2.1/16",
        "~all",
        "moo=x",
    ]
    for term in record.terms:
        assert text[term.position : term.position + len(term.text)] == term.text


def test_mechanism_fields() -> None:
    a, mx, ip4, ip6, ptr, exists, include, all_ = parse_spf(
        "v=spf1 a mx:Example.COM/24//64 -ip4:192.0.2.1/16 ?ip6:2001:DB8::1/48 ptr "
        "exists:%{i}.bl.example.org include:_spf.example.net ~ALL"
    ).mechanisms
    assert (a.qualifier, a.name, a.domain_spec, a.cidr4, a.cidr6) == ("+", "a", None, None, None)
    assert (mx.domain_spec, mx.cidr4, mx.cidr6) == ("Example.COM", 24, 64)
    assert ip4.qualifier == "-"
    assert ip4.network == ipaddress.ip_network("192.0.0.0/16")
    assert (ip4.cidr4, ip4.cidr6) == (16, None)
    assert ip6.network == ipaddress.ip_network("2001:db8::/48")
    assert (ip6.cidr4, ip6.cidr6) == (None, 48)
    assert ptr.domain_spec is None
    assert exists.domain_spec == "%{i}.bl.example.org"
    assert include.counts_lookup
    assert not ip4.counts_lookup
    assert not all_.counts_lookup
    assert (all_.qualifier, all_.name) == ("~", "all")


def test_ip_without_prefix_is_a_host_network() -> None:
    ip4, ip6 = parse_spf("v=spf1 ip4:192.0.2.1 ip6:::ffff:192.0.2.1").mechanisms
    assert ip4.network == ipaddress.ip_network("192.0.2.1/32")
    assert ip6.network == ipaddress.ip_network("::ffff:192.0.2.1/128")
    assert ip4.cidr4 is None
    assert ip6.cidr6 is None


def test_modifiers() -> None:
    record = parse_spf("v=spf1 -all Redirect=_spf.example.com exp=why.%{d} x-Unknown.1=%{t}")
    assert record.redirect == Modifier(
        "redirect", "_spf.example.com", 12, "Redirect=_spf.example.com"
    )
    assert record.exp is not None
    assert record.exp.value == "why.%{d}"
    assert [m.name for m in record.modifiers] == ["redirect", "exp", "x-unknown.1"]
    assert isinstance(record.terms[0], Mechanism)


def test_version_only_and_trailing_spaces() -> None:
    assert parse_spf("v=spf1").terms == ()
    assert [t.text for t in parse_spf("v=spf1 -all   ").terms] == ["-all"]


@pytest.mark.parametrize(
    "text",
    [
        "v=spf1 a:%{d}",
        "v=spf1 a:example.com.",
        "v=spf1 a:mail.example-1.com",
        "v=spf1 exists:%{l1r+-}.%{d2}",
        "v=spf1 a:foo.%%",
        "v=spf1 a/0//0 ip4:0.0.0.0/0 ip6:::/0",
        "v=spf1 a/32//128",
        "v=spf1 mx//64",
        "v=spf1 ptr:example.com",
        "v=spf1 include:_spf.example.com.",
        "v=spf1 moo=",
        "v=spf1 exp=%{d}",
        "v=spf1 x=%{c}%{r}%{t}",
    ],
)
def test_valid_records(text: str) -> None:
    parse_spf(text)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("v=spf2 -all", 0),
        ("v=spf1 foo", 7),  # unknown mechanism
        ("v=spf1 -foo:example.com", 8),
        ("v=spf1 =all", 7),
        ("v=spf1 a:ex\u00e4mple.com", 11),  # non-ASCII
        ("v=spf1 a:example.com\rptr", 20),  # control character
        ("v=spf1 a:museum", 9),  # no top label after a dot
        ("v=spf1 a:foo.123", 12),  # numeric top label
        ("v=spf1 a:example.-com", 16),
        ("v=spf1 a:foo}", 9),  # '}' is a literal, not the end of a macro
        ("v=spf1 a/33", 9),
        ("v=spf1 a//129", 10),
        ("v=spf1 a/024", 9),  # leading zero
        ("v=spf1 mx//064", 11),
        ("v=spf1 ip4:192.0.2.1/33", 21),
        ("v=spf1 ip4:192.0.2.1/032", 21),
        ("v=spf1 ip6:::1/129", 15),
        ("v=spf1 ip4:192.0.2.1//32", 11),
        ("v=spf1 ip4:1.2.3", 11),
        ("v=spf1 ip4:01.2.3.4", 11),
        ("v=spf1 ip4:2001:db8::1", 11),
        ("v=spf1 ip6:192.0.2.1", 11),
        ("v=spf1 ip4", 10),
        ("v=spf1 include", 14),
        ("v=spf1 include:", 15),
        ("v=spf1 exists", 13),
        ("v=spf1 all:example.com", 10),
        ("v=spf1 -all/8", 11),
        ("v=spf1 ptr/24", 10),
        ("v=spf1 a:%{z}.example.com", 11),  # unknown macro letter
        ("v=spf1 a:%(d).example.com", 9),
        ("v=spf1 a:foo%.example.com", 12),
        ("v=spf1 a:%{d0}.example.com", 12),  # DIGIT must be nonzero (§7.3)
        ("v=spf1 exists:%{t}.example.com", 16),  # c r t are explanation-only (§7.2)
        ("v=spf1 redirect=", 16),
        ("v=spf1 redirect=a.example.com redirect=b.example.com", 30),
        ("v=spf1 exp=a.example.com exp=b.example.com", 25),
        ("v=spf1 unknown=%", 15),
        ("v=spf1 1x=y", 7),
    ],
)
def test_syntax_errors_point_at_the_character(text: str, position: int) -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        parse_spf(text)
    assert caught.value.position == position
    assert caught.value.text == text


def test_error_message_shows_a_caret() -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        parse_spf("v=spf1 a/33")
    assert str(caught.value).endswith("v=spf1 a/33\n         ^")


@pytest.mark.parametrize("text", ["v=spf1 \x80a", "v=spf1 %{", "v=spf1 a:%{d", "v=spf1 ip6:::::"])
def test_malformed_input_raises_only_syntax_errors(text: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_spf(text)


_SPF_ALPHABET = st.sampled_from(list("v=spf1 aAmMxXiIpP46:./%{}-+~?_lsdroct0123456789,ñ\r\n"))


@given(st.text(alphabet=_SPF_ALPHABET, max_size=60).map(lambda tail: "v=spf1 " + tail))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_raises_a_positioned_syntax_error(text: str) -> None:
    outcome = _parse_or_error(text)
    if isinstance(outcome, SpfSyntaxError):
        assert outcome.position is not None
        assert 0 <= outcome.position <= len(text)
        return
    for term in outcome.terms:
        assert text[term.position : term.position + len(term.text)] == term.text


def _parse_or_error(text: str) -> SpfRecord | SpfSyntaxError:
    try:
        return parse_spf(text)
    except SpfSyntaxError as exc:
        return exc
