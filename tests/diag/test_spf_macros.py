"""expand_macros (RFC 7208 §7): the §7.4 examples exactly, transformers, escaping, errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.errors import SpfSyntaxError
from diag.spf import MacroContext, expand_macros

# RFC 7208 §7.4: the sender, client IPs and PTR name of the examples.
CTX = MacroContext(
    sender="strong-bad@email.example.com",
    local_part="strong-bad",
    sender_domain="email.example.com",
    domain="email.example.com",
    ip="192.0.2.3",
    helo="mx.example.org",
    validated_ptr="mx.example.org",
)
CTX6 = replace(CTX, ip="2001:db8::cb01")


@pytest.mark.parametrize(
    ("macro", "expansion"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ],
)
def test_rfc7208_section_7_4_examples(macro: str, expansion: str) -> None:
    assert expand_macros(macro, CTX) == expansion


def test_rfc7208_section_7_4_ipv6_example() -> None:
    assert expand_macros("%{ir}.%{v}._spf.%{d2}", CTX6) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )


@pytest.mark.parametrize(
    ("macro", "expansion"),
    [
        ("%{p}", "mx.example.org"),
        ("%{p2}", "example.org"),
        ("%{h}", "mx.example.org"),
        ("%{i}", "192.0.2.3"),
        ("%{v}", "in-addr"),
        ("%%%_%-", "% %20"),
        ("%{l2r+-}", "bad.strong"),
        ("%{d127}", "email.example.com"),
        ("%{dR}", "com.example.email"),
        ("%{D}", "email.example.com"),
    ],
)
def test_other_letters_and_transformers(macro: str, expansion: str) -> None:
    assert expand_macros(macro, CTX) == expansion


def test_delimiters_split_and_rejoin_with_dots() -> None:
    ctx = replace(CTX, local_part="foo-bar+zip+quux")
    assert expand_macros("%{l+-}", ctx) == "foo.bar.zip.quux"
    assert expand_macros("%{l2r+-}", ctx) == "bar.foo"
    assert expand_macros("%{l=}", replace(CTX, local_part="a=b.c")) == "a.b.c"


def test_upper_case_letters_are_url_escaped() -> None:
    ctx = replace(CTX, local_part="jack&jill=up~-a_b3.c", sender="jack&jill=up~-a_b3.c@x.example")
    assert expand_macros("%{L}", ctx) == "jack%26jill%3Dup~-a_b3.c"
    assert expand_macros("%{S}", ctx) == "jack%26jill%3Dup~-a_b3.c%40x.example"
    assert expand_macros("%{l}", ctx) == "jack&jill=up~-a_b3.c"


def test_p_without_a_validated_name_is_unknown() -> None:
    assert expand_macros("%{p}", replace(CTX, validated_ptr=None)) == "unknown"


def test_explanation_only_letters() -> None:
    ctx = replace(CTX6, receiver="checker.example.net", now=1700000000)
    text = "%{c} via %{r} at %{t} is %{i}"
    assert expand_macros(text, ctx, explanation=True) == (
        "2001:db8::cb01 via checker.example.net at 1700000000 is "
        "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1"
    )
    assert expand_macros("%{r}", CTX, explanation=True) == "unknown"
    for letter in "crt":
        with pytest.raises(SpfSyntaxError):
            expand_macros(f"%{{{letter}}}.example.com", CTX)


def test_spaces_only_in_explanations() -> None:
    assert expand_macros("not allowed: %{i}", CTX, explanation=True) == "not allowed: 192.0.2.3"
    with pytest.raises(SpfSyntaxError) as caught:
        expand_macros("a b", CTX)
    assert caught.value.position == 1


@pytest.mark.parametrize(
    ("spec", "position"), [("%", 0), ("x%y", 1), ("%{x}", 2), ("%{d", 0), ("%{d0}", 3)]
)
def test_invalid_macros(spec: str, position: int) -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        expand_macros(spec, CTX, explanation=True)
    assert caught.value.position == position


@given(st.text(alphabet=st.sampled_from(list("%{}slodiphcrtvSLO0129r.-+,/_= x")), max_size=30))
@settings(max_examples=300, deadline=None)
def test_expansion_succeeds_or_raises_a_syntax_error(spec: str) -> None:
    try:
        expanded = expand_macros(spec, CTX, explanation=True)
    except SpfSyntaxError as exc:
        error: SpfSyntaxError | None = exc
    else:
        error = None
        if "%" not in spec:
            assert expanded == spec  # literals pass through unchanged
    if error is not None:
        assert error.position is not None
        assert 0 <= error.position < len(spec)
