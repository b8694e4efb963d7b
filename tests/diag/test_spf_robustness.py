"""Robustness: arbitrary record text, TXT bytes and DNS failures never crash SPF code.

parse_spf raises only SpfSyntaxError; check_host and lint_spf always return a result, and an
error result (permerror, temperror) always carries a problem code and a finding.
"""

from __future__ import annotations

import asyncio
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diag.errors import SpfSyntaxError
from diag.resolver import MX, TXT, MemoryResolver, Record
from diag.spf.evaluate import check_host
from diag.spf.lint import SpfLint, lint_spf
from diag.spf.parse import SpfRecord, is_spf_record, parse_spf

RESULTS = {"pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"}
NAMES = ("example.com", "a.example", "b.example", "mx.example", "x.example")
RDTYPES = ("TXT", "SPF", "A", "AAAA", "MX", "PTR", "*")
DNS_REASONS = ("timeout", "servfail", "refused", "malformed", "cname_loop", "no_nameservers")

# Pieces of real SPF syntax, so that generated text reaches deep into the grammar.
TOKENS = (
    "v=spf1",
    "V=SPF1",
    " ",
    "  ",
    "+",
    "-",
    "~",
    "?",
    "all",
    "include",
    "a",
    "mx",
    "ptr",
    "ip4",
    "ip6",
    "exists",
    ":",
    "/",
    "//",
    "=",
    "redirect",
    "exp",
    ".",
    "%",
    "{",
    "}",
    "%{i}",
    "%{d2r}",
    "%{l-}",
    "%{p}",
    "%{c}",
    "%%",
    "%_",
    "%-",
    "example.com",
    "a.example",
    "192.0.2.1",
    "2001:db8::1",
    "0",
    "24",
    "33",
    "129",
    "\t",
    "\x00",
    "é",
    "_",
    ",",
)
spf_like = st.lists(st.sampled_from(TOKENS), max_size=14).map("".join)
record_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=string.printable, max_size=80).map(lambda t: "v=spf1 " + t),
    spf_like,
    spf_like.map(lambda t: "v=spf1 " + t),
)
txt_strings = st.one_of(
    record_text.map(lambda t: (t.encode("utf-8", "surrogatepass"),)),
    st.lists(st.binary(max_size=300), min_size=1, max_size=3).map(tuple),
    st.binary(max_size=80).map(lambda b: (b"v=spf1 " + b,)),
)
addresses = st.one_of(
    st.ip_addresses().map(str), st.sampled_from(["not-an-ip", "", "999.1.1.1", "::zz"])
)
exchanges = st.one_of(st.sampled_from(NAMES), st.text(max_size=20), st.just(""))
errors = st.dictionaries(
    st.tuples(st.sampled_from(NAMES), st.sampled_from(RDTYPES)),
    st.one_of(st.sampled_from(DNS_REASONS), st.text(min_size=1, max_size=10)),
    max_size=3,
)


@st.composite
def zones(draw: st.DrawFn) -> dict[str, dict[str, list[Record]]]:
    zone: dict[str, dict[str, list[Record]]] = {}
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES))):
        types: dict[str, list[Record]] = {}
        texts = draw(st.lists(txt_strings, max_size=3))
        if texts:
            types["TXT"] = [TXT(t) for t in texts]
        if draw(st.booleans()):
            types["SPF"] = [TXT(draw(txt_strings))]
        for rdtype in ("A", "AAAA", "PTR"):
            if draw(st.booleans()):
                types[rdtype] = draw(st.lists(addresses, min_size=1, max_size=2))
        if draw(st.booleans()):
            mxs = draw(st.lists(st.tuples(st.integers(0, 65535), exchanges), max_size=12))
            types["MX"] = [MX(p, e) for p, e in mxs]
        zone[name] = types
    return zone


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(record_text)
def test_parse_raises_only_its_syntax_error(text: str) -> None:
    error: SpfSyntaxError | None = None
    try:
        record = parse_spf(text)
    except SpfSyntaxError as exc:
        error = exc
    if error is not None:
        assert error.position is None or 0 <= error.position <= len(text)
        return
    assert isinstance(record, SpfRecord)
    assert is_spf_record(text)
    for term in record.terms:
        assert text[term.position :].startswith(term.text)


@SETTINGS
@given(
    zone=zones(),
    failures=errors,
    ip=st.ip_addresses().map(str),
    domain=st.one_of(st.sampled_from(NAMES), st.text(max_size=30)),
)
def test_check_host_always_returns_a_result(
    zone: dict[str, dict[str, list[Record]]],
    failures: dict[tuple[str, str], str],
    ip: str,
    domain: str,
) -> None:
    resolver = MemoryResolver(zone, strict=False, errors=failures)
    result = asyncio.run(
        check_host(ip, domain, "user@" + domain, helo="mail.example", resolver=resolver)
    )
    assert result.result in RESULTS
    if result.result in ("permerror", "temperror"):
        assert result.problem
        assert result.findings
    result.to_dict()


@SETTINGS
@given(
    zone=zones(),
    failures=errors,
    domain=st.one_of(st.sampled_from(NAMES), st.text(max_size=30)),
)
def test_lint_always_returns_findings(
    zone: dict[str, dict[str, list[Record]]],
    failures: dict[tuple[str, str], str],
    domain: str,
) -> None:
    resolver = MemoryResolver(zone, strict=False, errors=failures)
    result = asyncio.run(lint_spf(domain, resolver))
    assert isinstance(result, SpfLint)
    assert result.findings
    assert all(f.code.startswith("spf.") and f.rfc for f in result.findings)
    # a failed type-99 query is ignored: evaluation never makes it
    if any(q.outcome.startswith("error:") and q.rdtype != "SPF" for q in resolver.log):
        assert "spf.dns_temperror" in {f.code for f in result.findings}
    result.to_dict()
