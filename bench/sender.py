"""Benchmark of the sender report (not a test): run ``python -m bench.sender``.

With the lab DNS server adding 30 ms before every answer, it times the sender report for the
lab's two healthy identities (both reports concurrently, one resolver, cold cache) and compares
the wall time with

1. the critical-path lower bound: the longest chain of dependent lookups times the latency.
   The chain is measured from the queries' dependency structure in a separate run against an
   in-memory copy of the zone where every answer takes exactly one time unit (0.5 s, far above
   the CPU time between lookups) and identical queries share one lookup, as with the real
   resolver. A query issued after k units can only have been waiting for k earlier answers in
   sequence, so its level is k + 1; the deepest level is the chain length;
2. checkdmarc (a test-free, benchmark-only dependency) on the same zones in the same run,
   pointed at the lab server through ``dns.nameserver.Do53Nameserver("127.0.0.1", port)``,
   which its ``nameservers`` argument passes straight to dnspython.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from publicsuffixlist import PublicSuffixList

from diag.resolver import Answer, DnsPythonResolver, MemoryResolver, ZoneData, normalize_name
from diag.senders import SenderReport, SenderSpec, check_sender
from maildiag.commands.sender import sender_spec
from maildiag.lab.dns import lab_dns_in_thread
from maildiag.labkit import HEALTHY, lab_senders, prepare_lab

LATENCY = 0.03  # seconds the lab server waits before each answer
UNIT = 0.5  # seconds per answer in the dependency run
DNSBL_ZONES = ("bl.lab.example",)  # not in the lab zone: every lookup is a (fast) NXDOMAIN
TARGET_BOUND_RATIO = 1.3
TARGET_SPEEDUP = 5.0


class LevelResolver:
    """In-memory answers that each take ``unit`` seconds; records the level of every query."""

    def __init__(self, zone: ZoneData, unit: float) -> None:
        self.inner = MemoryResolver(zone, strict=False)
        self.unit = unit
        self.start = 0.0
        self.levels: dict[tuple[str, str], int] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[Answer]] = {}

    async def query(self, name: str, rdtype: str) -> Answer:
        key = (normalize_name(name), rdtype.upper())
        task = self._pending.get(key)
        if task is None:
            elapsed = asyncio.get_running_loop().time() - self.start
            self.levels[key] = round(elapsed / self.unit) + 1
            task = asyncio.ensure_future(self._answer(*key))
            self._pending[key] = task
        return await asyncio.shield(task)

    async def _answer(self, name: str, rdtype: str) -> Answer:
        await asyncio.sleep(self.unit)
        return await self.inner.query(name, rdtype)


async def _reports(
    specs: Sequence[SenderSpec], resolver: Any, psl: PublicSuffixList
) -> list[SenderReport]:
    jobs = (
        check_sender(s, resolver, dnsbl_zones=DNSBL_ZONES, deadline=30.0, psl=psl) for s in specs
    )
    return list(await asyncio.gather(*jobs))


async def critical_path(
    specs: Sequence[SenderSpec], zone: ZoneData, psl: PublicSuffixList
) -> tuple[int, LevelResolver]:
    resolver = LevelResolver(zone, UNIT)
    resolver.start = asyncio.get_running_loop().time()
    await _reports(specs, resolver, psl)
    return max(resolver.levels.values()), resolver


async def timed_report(
    specs: Sequence[SenderSpec], address: str, psl: PublicSuffixList
) -> tuple[float, list[SenderReport], int]:
    resolver = DnsPythonResolver([address], timeout=2.0)
    started = time.perf_counter()
    reports = await _reports(specs, resolver, psl)
    return time.perf_counter() - started, reports, len(resolver.log)


def timed_checkdmarc(domains: Sequence[str], port: int) -> tuple[float, float]:
    """Wall time of checkdmarc's full check_domains, and of its SPF + DMARC + MX checks only."""
    import checkdmarc  # benchmark-only dependency
    import checkdmarc.dmarc
    import checkdmarc.spf
    import dns.nameserver

    nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    started = time.perf_counter()
    checkdmarc.check_domains(list(domains), nameservers=nameservers, timeout=2.0)
    full = time.perf_counter() - started
    started = time.perf_counter()
    for domain in domains:
        checkdmarc.spf.check_spf(domain, nameservers=nameservers, timeout=2.0)
        checkdmarc.dmarc.check_dmarc(domain, nameservers=nameservers, timeout=2.0)
        checkdmarc.check_mx(domain, nameservers=nameservers, timeout=2.0)
    return full, time.perf_counter() - started


def _measure(runs: int, latency: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        keys, zone = prepare_lab(Path(tmp))
        specs = [sender_spec(s) for s in lab_senders(keys) if s.domain in HEALTHY]
        psl = PublicSuffixList()  # loaded once, as checkdmarc loads its own once per process
        asyncio.run(_reports(specs, MemoryResolver(zone, strict=False), psl))  # warm-up
        levels, level_resolver = asyncio.run(critical_path(specs, zone, psl))
        with lab_dns_in_thread(zone, latency=latency) as server:
            timed = [asyncio.run(timed_report(specs, server.address, psl)) for _ in range(runs)]
            theirs = [timed_checkdmarc(HEALTHY, server.port) for _ in range(runs)]
    return {
        "specs": specs,
        "levels": levels,
        "queries": level_resolver.levels,
        "walls": [wall for wall, _, _ in timed],
        "logged": timed[0][2],
        "errors": [
            f.code
            for _, reports, _ in timed
            for r in reports
            for f in r.findings
            if f.severity == "error"
        ],
        "checkdmarc": [t[0] for t in theirs],
        "checkdmarc_subset": [t[1] for t in theirs],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sender", description="sender report benchmark"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--latency", type=float, default=LATENCY, help="seconds per DNS answer")
    args = parser.parse_args(argv)
    m = _measure(args.runs, args.latency)
    bound = m["levels"] * args.latency
    ours = statistics.median(m["walls"])
    full = statistics.median(m["checkdmarc"])
    subset = statistics.median(m["checkdmarc_subset"])
    per_level = dict(sorted(Counter(m["queries"].values()).items()))
    chain = sorted(m["queries"].items(), key=lambda item: item[1])
    print(f"identities: {', '.join(s.address for s in m['specs'])}")
    print(f"latency {args.latency * 1000:.0f} ms per answer; {args.runs} runs; medians below")
    print(f"distinct queries: {len(m['queries'])}; per level: {per_level}")
    for (name, rdtype), level in chain:
        print(f"  level {level}: {name} {rdtype}")
    print(f"critical path: {m['levels']} dependent lookups; lower bound {bound * 1000:.0f} ms")
    print(
        f"sender report: {_ms(m['walls'])}; {m['logged']} queries logged;"
        f" {ours / bound:.2f}x the bound"
    )
    print(f"errors in the healthy identities: {m['errors'] or 'none'}")
    print(f"checkdmarc check_domains: {_ms(m['checkdmarc'])}; ours is {full / ours:.1f}x faster")
    print(
        f"checkdmarc SPF+DMARC+MX only: {_ms(m['checkdmarc_subset'])};"
        f" ours is {subset / ours:.1f}x faster"
    )
    met = ours / bound <= TARGET_BOUND_RATIO and full / ours >= TARGET_SPEEDUP
    print(
        f"targets (<= {TARGET_BOUND_RATIO}x bound, >= {TARGET_SPEEDUP}x checkdmarc):"
        f" {'met' if met else 'NOT met'}"
    )
    return 0


def _ms(values: Sequence[float]) -> str:
    runs = ", ".join(f"{v * 1000:.0f}" for v in values)
    return f"median {statistics.median(values) * 1000:.0f} ms ({runs})"


if __name__ == "__main__":
    raise SystemExit(main())
