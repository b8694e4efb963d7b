"""The DMARC lookups run concurrently: every name of an RFC 9989 §4.10 tree walk is asked at once,
the report-destination authorization goes out beside the destination's walk, and the results are
exactly those of the sequential walk (conformance cases and generated zones)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from publicsuffixlist import PublicSuffixList

import diag.dmarc.discovery
from diag.dmarc import (
    Discovery,
    TreeWalk,
    WalkCache,
    WalkStep,
    check_domain,
    discover,
    ends_walk,
    normalize_domain,
    parse_dmarc,
    tree_walk,
    walk_targets,
)
from diag.resolver import TXT, Answer, MemoryResolver, Rcode, Record, normalize_name

T = TypeVar("T")
QUIET_ROUNDS = 50  # event-loop turns without a new query before a wave counts as complete


def make_zone(records: Mapping[str, str | Sequence[str]]) -> dict[str, dict[str, list[Record]]]:
    return {
        name: {"TXT": [TXT((t.encode(),)) for t in ([v] if isinstance(v, str) else v)]}
        for name, v in records.items()
    }


class WaveResolver:
    """Holds every query until the program has gone quiet, then answers the whole wave at once.

    A query's wave is the number of answers it had to wait for in sequence, counted without any
    clock, so it does not depend on machine load. ``in_flight_max`` is the largest number of
    queries pending at the same time.
    """

    def __init__(self, inner: MemoryResolver) -> None:
        self.inner = inner
        self.waves: dict[tuple[str, str], int] = {}
        self.in_flight_max = 0
        self._wave = 1
        self._waiting: list[asyncio.Future[None]] = []

    async def query(self, name: str, rdtype: str) -> Answer:
        self.waves.setdefault((normalize_name(name), rdtype), self._wave)
        gate = asyncio.get_running_loop().create_future()
        self._waiting.append(gate)
        self.in_flight_max = max(self.in_flight_max, len(self._waiting))
        await gate
        return await self.inner.query(name, rdtype)

    async def run(self, job: asyncio.Future[T]) -> None:
        """Release waves until ``job`` is done."""
        while not job.done():
            for _ in range(QUIET_ROUNDS):
                await asyncio.sleep(0)
            gates, self._waiting = self._waiting, []
            if gates:
                self._wave += 1
            for gate in gates:
                gate.set_result(None)

    @property
    def depth(self) -> int:
        return max(self.waves.values())


async def in_waves(resolver: WaveResolver, coro: Awaitable[T]) -> T:
    job = asyncio.ensure_future(coro)
    await resolver.run(job)
    return await job


D01_AUTHOR = "a.b.c.d.e.f.g.h.i.j.mail.example.com"


async def test_the_d01_walk_asks_all_eight_names_at_once() -> None:
    """D-01: the eight names of RFC 9989 §4.10 are in flight together, in one wave."""
    queries = [f"_dmarc.{t}" for t in walk_targets(D01_AUTHOR)]
    resolver = WaveResolver(MemoryResolver({}, nxdomain=queries))
    walk = await in_waves(resolver, tree_walk(D01_AUTHOR, resolver))
    assert resolver.in_flight_max == 8
    assert set(resolver.waves.values()) == {1}
    assert resolver.inner.queries == [(q, "TXT") for q in queries]
    assert [s.qname for s in walk.steps] == queries


async def test_the_sequential_reference_really_is_sequential() -> None:
    """The oracle below asks one name per wave, so a concurrent walk is not compared to itself."""
    queries = [f"_dmarc.{t}" for t in walk_targets(D01_AUTHOR)]
    resolver = WaveResolver(MemoryResolver({}, nxdomain=queries))
    walk = await in_waves(resolver, sequential_walk(D01_AUTHOR, resolver))
    assert resolver.in_flight_max == 1
    assert resolver.depth == 8
    assert walk == await tree_walk(D01_AUTHOR, MemoryResolver({}, nxdomain=queries))


EXTERNAL = "v=DMARC1; p=reject; rua=mailto:r@thirdparty.example.net"


async def test_destination_authorization_goes_out_beside_its_walk(psl: PublicSuffixList) -> None:
    """RFC 7489 §7.1: the destination walk and its authorization query share the second wave."""
    inner = MemoryResolver(
        make_zone(
            {
                "_dmarc.mail.example.com": EXTERNAL,
                "mail.example.com._report._dmarc.thirdparty.example.net": "v=DMARC1",
            }
        ),
        strict=False,
    )
    resolver = WaveResolver(inner)
    result = await in_waves(resolver, check_domain("mail.example.com", resolver, psl=psl))
    assert "dmarc.rua_authorized" in [f.code for f in result.findings]
    assert resolver.waves == {
        ("_dmarc.mail.example.com", "TXT"): 1,
        ("_dmarc.example.com", "TXT"): 1,
        ("_dmarc.com", "TXT"): 1,
        ("_dmarc.thirdparty.example.net", "TXT"): 2,
        ("_dmarc.example.net", "TXT"): 2,
        ("_dmarc.net", "TXT"): 2,
        ("mail.example.com._report._dmarc.thirdparty.example.net", "TXT"): 2,
    }
    # the report check reuses discovery's answers: no name is asked twice
    assert len(inner.queries) == len(set(inner.queries))


async def test_an_unneeded_speculative_authorization_is_ignored(psl: PublicSuffixList) -> None:
    """A destination that looks external but shares the Org Domain: its answer is not used."""
    text = "v=DMARC1; p=reject; rua=mailto:r@reports.example.com"
    inner = MemoryResolver(
        make_zone({"_dmarc.mail.example.com": text, "_dmarc.example.com": "v=DMARC1; p=none"}),
        strict=False,
        errors={("mail.example.com._report._dmarc.reports.example.com", "TXT"): "timeout"},
    )
    resolver = WaveResolver(inner)
    result = await in_waves(resolver, check_domain("mail.example.com", resolver, psl=psl))
    assert ("mail.example.com._report._dmarc.reports.example.com", "TXT") in inner.queries
    assert [f.code for f in result.findings] == ["dmarc.policy_ok"]
    assert resolver.depth == 2


async def test_failures_past_the_end_of_the_walk_are_not_part_of_it() -> None:
    """A psd=n record ends the walk; a failing or unexpected answer above it changes nothing."""
    records = make_zone({"_dmarc.mail.example.com": "v=DMARC1; p=none; psd=n"})
    timeout = MemoryResolver(
        records, nxdomain=["_dmarc.a.mail.example.com"], errors={("_dmarc.com", "TXT"): "timeout"}
    )
    strict = MemoryResolver(records, nxdomain=["_dmarc.a.mail.example.com"])  # com: unexpected
    for resolver in (timeout, strict):
        walk = await tree_walk("a.mail.example.com", resolver)
        assert walk.failure is None
        assert [s.domain for s in walk.steps] == ["a.mail.example.com", "mail.example.com"]
        assert walk.organizational_domain == "mail.example.com"


async def test_an_unexpected_error_within_the_walk_is_raised() -> None:
    """Only DnsError is data; anything else inside the walk propagates, as it did sequentially."""

    class Broken:
        async def query(self, name: str, rdtype: str) -> Answer:
            if name == "_dmarc.example.com":
                raise RuntimeError("resolver bug")
            return Answer(normalize_name(name), rdtype, Rcode.NXDOMAIN, (), 60)

    with pytest.raises(RuntimeError, match="resolver bug"):
        await tree_walk("mail.example.com", Broken())


def test_ends_walk() -> None:
    """Pure: psd=n and psd=y records and failed lookups end the walk; other steps do not."""
    psd = {p: parse_dmarc(f"v=DMARC1; p=none; psd={p}") for p in "ynu"}
    assert ends_walk(WalkStep("example.com", "record", record=psd["n"]))
    assert ends_walk(WalkStep("com", "record", record=psd["y"]))
    assert ends_walk(WalkStep("example.com", "error"))
    assert not ends_walk(WalkStep("example.com", "record", record=psd["u"]))
    assert not ends_walk(WalkStep("example.com", "no_record"))
    assert not ends_walk(WalkStep("example.com", "multiple"))


async def test_the_walk_does_not_wait_for_answers_past_its_end() -> None:
    """psd=n at mail.example.com: a slow _dmarc.com answer does not delay the walk."""
    inner = MemoryResolver(
        make_zone({"_dmarc.mail.example.com": "v=DMARC1; p=none; psd=n"}), strict=False
    )
    release = asyncio.Event()

    class SlowTop:
        async def query(self, name: str, rdtype: str) -> Answer:
            if name == "_dmarc.com":
                await release.wait()
            return await inner.query(name, rdtype)

    try:
        walk = await asyncio.wait_for(tree_walk("a.mail.example.com", SlowTop()), timeout=5.0)
    finally:
        release.set()
    assert [s.domain for s in walk.steps] == ["a.mail.example.com", "mail.example.com"]
    assert ("_dmarc.com", "TXT") not in inner.queries  # still waiting when the walk returned


async def test_concurrent_walks_share_one_lookup_per_name() -> None:
    inner = MemoryResolver(make_zone({"_dmarc.example.com": "v=DMARC1; p=reject"}), strict=False)
    cache = WalkCache(inner)
    walks = await asyncio.gather(
        tree_walk("a.example.com", inner, cache=cache),
        tree_walk("b.example.com", inner, cache=cache),
        tree_walk("example.com", inner, cache=cache),
    )
    assert {w.organizational_domain for w in walks} == {"example.com"}
    assert sorted(inner.queries) == sorted(
        {("_dmarc.a.example.com", "TXT"), ("_dmarc.b.example.com", "TXT")}
        | {("_dmarc.example.com", "TXT"), ("_dmarc.com", "TXT")}
    )


# The sequential algorithm of RFC 9989 §4.10, one query at a time: the oracle.


async def sequential_walk(
    domain: str, resolver: object, *, cache: WalkCache | None = None
) -> TreeWalk:
    domain = normalize_domain(domain)
    cache = cache or WalkCache(resolver)  # type: ignore[arg-type]
    steps = []
    for target in walk_targets(domain):
        step = await cache.step(target)
        steps.append(step)
        if step.outcome == "error":
            break
        if step.record is not None and step.record.psd in ("y", "n"):
            break
    return TreeWalk(domain, tuple(steps))


async def both(
    author: str, zone: Mapping[str, str | Sequence[str]], psl: PublicSuffixList, **kw: object
) -> tuple[Discovery, Discovery]:
    def resolver() -> MemoryResolver:
        return MemoryResolver(make_zone(zone), strict=False, **kw)  # type: ignore[arg-type]

    concurrent = await discover(author, resolver(), psl=psl)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(diag.dmarc.discovery, "tree_walk", sequential_walk)
        sequential = await discover(author, resolver(), psl=psl)
    return concurrent, sequential


CONFORMANCE_CASES = [
    pytest.param(D01_AUTHOR, {}, {}, id="rfc9989[D-01]"),
    pytest.param(
        "a.b.c.d.e.f.g.h.i.j.k.example.com",
        {"_dmarc.example.com": "v=DMARC1; p=reject", "_dmarc.signing.example.com": "v=DMARC1"},
        {},
        id="rfc9989[D-03]",
    ),
    pytest.param(
        "a.mail.example.com",
        {"_dmarc.mail.example.com": "v=DMARC1; p=none", "_dmarc.example.com": "v=DMARC1; p=reject"},
        {},
        id="rfc9989[D-05-i]",
    ),
    pytest.param(
        "a.mail.example.com",
        {
            "_dmarc.mail.example.com": "v=DMARC1; p=none; psd=n",
            "_dmarc.example.com": "v=DMARC1; p=reject",
        },
        {},
        id="rfc9989[D-05-ii]",
    ),
    pytest.param(
        "a.mail.example.com",
        {"_dmarc.com": "v=DMARC1; p=reject; psd=y"},
        {},
        id="rfc9989[D-05-iii]",
    ),
    pytest.param(
        "a.sub.example.com",
        {"_dmarc.sub.example.com": "v=DMARC1; p=none", "_dmarc.example.com": "v=DMARC1; p=reject"},
        {},
        id="rfc9989[D-07]",
    ),
    pytest.param(
        "sub.example.com",
        {
            "_dmarc.sub.example.com": ["v=DMARC1; p=none", "v=DMARC1; p=quarantine"],
            "_dmarc.example.com": "v=DMARC1; p=reject",
        },
        {},
        id="rfc9989[D-08]",
    ),
    pytest.param(
        "example.com",
        {"_dmarc.example.com": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]},
        {},
        id="rfc7489[R-12]",
    ),
    pytest.param(
        "example.com",
        {"_dmarc.example.com": ["v=spf1 -all", "v=DMARC1; p=reject", "v=dmarc1; p=none"]},
        {},
        id="rfc7489[R-14]",
    ),
    pytest.param(
        "mail.example.com",
        {},
        {("_dmarc.example.com", "TXT"): "timeout"},
        id="rfc9989[4.10.1-temperror]",
    ),
    pytest.param(
        "a.mail.example.com",
        {"_dmarc.mail.example.com": "v=DMARC1; p=none; psd=n"},
        {("_dmarc.com", "TXT"): "timeout"},
        id="rfc9989[4.10-error-after-psd-n]",
    ),
    pytest.param(
        "a.b.example.co.uk",
        {"_dmarc.co.uk": "v=DMARC1; p=reject; psd=y", "_dmarc.b.example.co.uk": "v=DMARC1"},
        {},
        id="rfc9989[4.10.2-psd-y-below-start]",
    ),
]


@pytest.mark.parametrize(("author", "zone", "errors"), CONFORMANCE_CASES)
async def test_concurrent_discovery_equals_the_sequential_walk(
    author: str,
    zone: Mapping[str, str | Sequence[str]],
    errors: Mapping[tuple[str, str], str],
    psl: PublicSuffixList,
) -> None:
    concurrent, sequential = await both(author, zone, psl, errors=errors)
    assert concurrent == sequential


LABELS = ["a", "b", "mail", "example", "com"]
RECORDS = st.sampled_from(
    [
        None,
        "v=DMARC1; p=reject",
        "v=DMARC1; p=none; psd=n",
        "v=DMARC1; p=quarantine; psd=y",
        "v=DMARC1; p=none; psd=u",
        ("v=DMARC1; p=none", "v=DMARC1; p=reject"),
        "v=spf1 -all",
        "error",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=len(LABELS) - 1),
    extra=st.lists(st.sampled_from(["x", "y", "z", "w"]), max_size=8),
    records=st.lists(RECORDS, min_size=len(LABELS) + 8, max_size=len(LABELS) + 8),
)
def test_concurrent_discovery_equals_the_sequential_walk_on_generated_zones(
    start: int, extra: list[str], records: list[object], psl: PublicSuffixList
) -> None:
    """Any mix of records, psd tags, multiple records and failures at any depth, up to 13 labels."""
    author = ".".join([*extra, *LABELS[start:]])
    labels = author.split(".")
    names = [".".join(labels[i:]) for i in range(len(labels))]
    zone: dict[str, str | Sequence[str]] = {}
    errors: dict[tuple[str, str], str] = {}
    for name, record in zip(names, records, strict=False):
        if record == "error":
            errors[(f"_dmarc.{name}", "TXT")] = "timeout"
        elif isinstance(record, (str, tuple)):
            zone[f"_dmarc.{name}"] = list(record) if isinstance(record, tuple) else record
    concurrent, sequential = asyncio.run(both(author, zone, psl, errors=errors))
    assert concurrent == sequential


@pytest.fixture(scope="module")
def psl() -> PublicSuffixList:
    return PublicSuffixList()
