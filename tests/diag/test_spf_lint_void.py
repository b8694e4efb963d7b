"""SPF lint against evaluation and pyspf on void lookups (RFC 7208 §4.6.4: more than two is a
permerror): exists:, a: and mx: terms with macros are counted for the client families that
reach them. A record that makes a third void lookup for IPv4 clients is an error in the lint,
a permerror in check_host and in pyspf; one that does so only for IPv6 clients is a warning."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from diag.findings import ERROR, WARNING
from diag.resolver import TXT, MemoryResolver, Record
from diag.spf.evaluate import check_host
from diag.spf.lint import lint_spf
from tests.diag.test_spf_differential import HELO, SENDER, TOP, Case, theirs

CLIENT4 = "198.51.100.200"  # not one of the lint's own representative clients
CLIENT6 = "2001:db8:abcd::9"

Zone = dict[str, dict[str, Sequence[Record]]]


def zone(record: str) -> Zone:
    return {
        TOP: {"TXT": [TXT((record.encode(),))]},
        "ip6.wl.example.org": {"A": ["127.0.0.2"]},  # %{v} is ip6 for IPv6 clients
        "v4.example.com": {"A": ["192.0.2.50"]},  # an A record and no AAAA
        "v4b.example.com": {"A": ["192.0.2.51"]},
    }


# record -> (IPv4 clients meet a third void lookup, IPv6 clients do)
RECORDS = {
    "v=spf1 exists:%{i}.a.example.org exists:%{i}.b.example.org exists:%{i}.c.example.org -all": (
        True,
        True,
    ),
    "v=spf1 ip6:::/0 exists:%{i}.a.example.org exists:%{ir}.b.example.org "
    "exists:%{i}.c.example.org -all": (True, False),
    "v=spf1 ip4:0.0.0.0/0 exists:%{i}.a.example.org exists:%{i}.b.example.org "
    "exists:%{ir}.c.example.org -all": (False, True),
    "v=spf1 exists:%{v}.wl.example.org exists:%{i}.x.example.org exists:%{ir}.y.example.org -all": (
        True,
        False,
    ),
    "v=spf1 a:v4.%{d} a:v4b.%{d} exists:%{i}.z.example.org -all": (False, True),
    "v=spf1 mx:%{d} exists:%{i}.a.example.org exists:%{i}.b.example.org -all": (True, True),
    "v=spf1 exists:%{i}._spf.example.com exists:%{ir}.%{v}._spf.example.com -all": (False, False),
    "v=spf1 a:%{d} exists:%{i}.a.example.org -all": (False, False),
}


async def evaluation_voids_out(record: str, client: str) -> bool:
    result = await check_host(
        client, TOP, SENDER, helo=HELO, resolver=MemoryResolver(zone(record), strict=False)
    )
    return result.result == "permerror" and result.problem == "spf.void_lookup_limit"


def pyspf_voids_out(record: str, client: str) -> bool:
    verdict = theirs(Case(zone=dict(zone(record)), client=client))  # type: ignore[arg-type]
    return verdict.result == "permerror" and "Void lookup limit" in verdict.explanation


@pytest.mark.parametrize("record", sorted(RECORDS), ids=lambda r: f"rfc7208[4.6.4]-{r}")
async def test_lint_agrees_with_evaluation_and_pyspf(record: str) -> None:
    four, six = RECORDS[record]
    assert await evaluation_voids_out(record, CLIENT4) is four
    assert await evaluation_voids_out(record, CLIENT6) is six
    assert pyspf_voids_out(record, CLIENT4) is four
    assert pyspf_voids_out(record, CLIENT6) is six
    lint = await lint_spf(TOP, MemoryResolver(zone(record), strict=False))
    found = [f for f in lint.findings if f.code == "spf.too_many_void_lookups"]
    if not (four or six):
        assert found == []
        assert lint.void_lookups <= 2
        return
    assert len(found) == 1
    assert lint.void_lookups > 2
    expected = ("ipv4", ERROR) if four else ("ipv6", WARNING)
    assert (found[0].evidence["family"], found[0].severity) == expected
