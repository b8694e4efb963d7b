"""Benchmark of the sender report (not a test): run ``python -m bench.sender``.

With each reply of the lab DNS server leaving 30 ms after its query arrived, it times the sender
report for the lab's two healthy identities (both reports concurrently, one resolver, cold cache)
and compares the wall time with

1. two critical-path lower bounds, each the length of a chain of dependent lookups times the
   latency:
   a. the chain our code makes, measured from the queries' dependency structure in a separate
      run against an in-memory copy of the zone where every answer takes exactly one time unit
      (0.5 s, far above the CPU time between lookups) and identical queries share one lookup,
      as with the real resolver. A query issued after k units can only have been waiting for k
      earlier answers in sequence, so its level is k + 1; the deepest level is the chain length.
      Code that asks needlessly in sequence lengthens this chain, so it flatters sequential code;
   b. the inherent chain, read from the zone's data alone: a name that can only be known from an
      answer is one level below that answer (SPF record -> include -> the address lookups its
      mechanisms need; DMARC record -> report-destination authorization; PTR -> forward A/AAAA).
      No implementation of the same checks can need fewer levels. Targets use this bound;
2. checkdmarc (a test-free, benchmark-only dependency) on the same zones in the same run,
   pointed at the lab server through ``dns.nameserver.Do53Nameserver("127.0.0.1", port)``,
   which its ``nameservers`` argument passes straight to dnspython;
3. the same report with the server's latency set to 0, and the client thread's CPU time: the
   cost that no amount of concurrency hides.

The lab server runs in a thread of this process by default, where its CPU time competes with the
report's for the GIL; ``--server process`` runs it in its own process, as a real DNS server
would be (on a loaded machine that adds scheduling delays instead). Ours and checkdmarc use the
same server in each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import multiprocessing
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from publicsuffixlist import PublicSuffixList

from diag.dmarc import NotDmarcRecord, parse_dmarc, walk_targets
from diag.errors import ParseError
from diag.resolver import Answer, DnsPythonResolver, MemoryResolver, ZoneData, normalize_name
from diag.senders import SenderReport, SenderSpec, check_sender
from diag.spf import Mechanism, Modifier, parse_spf
from maildiag.lab.dns import lab_dns_in_thread
from maildiag.lab.kit import HEALTHY, lab_senders, prepare_lab
from maildiag.services.identities import sender_spec

LATENCY = 0.03  # seconds from a query's arrival at the lab server to its reply
UNIT = 0.5  # seconds per answer in the dependency run
SERVER_START_TIMEOUT = 30.0  # seconds for the server process to import and bind
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


Chain = tuple[str, ...]
_AFTER_RECORD = {"a": 1, "exists": 1, "mx": 2, "ptr": 2}  # RFC 7208 §5: lookups a term needs


def _texts(zone: ZoneData, name: str, rdtype: str = "TXT") -> list[str]:
    types = {n.lower().rstrip("."): t for n, t in zone.items()}.get(name, {})
    return [getattr(r, "text", str(r)) for r in types.get(rdtype, ())]


def spf_chain(zone: ZoneData, domain: str, depth: int = 0) -> Chain:
    """The longest data-dependent chain of an SPF evaluation or lint from ``domain``'s record.

    Each include/redirect target is known only from the record naming it; ``a``/``exists``
    need one lookup after the record, ``mx`` and ``ptr`` two (MX or PTR, then addresses).
    """
    qname = f"{domain} TXT"
    records = [t for t in _texts(zone, domain) if t.lower().startswith("v=spf1")]
    if len(records) != 1 or depth > 10:  # RFC 7208 §4.6.4 ends deeper trees anyway
        return (qname,)
    try:
        record = parse_spf(records[0])
    except ParseError:
        return (qname,)
    longest: Chain = ()
    for term in record.terms:
        if isinstance(term, Modifier) and term.name != "redirect":
            continue  # exp= is fetched only after a fail, not part of the check's chain
        target = term.domain_spec if isinstance(term, Mechanism) else term.value
        name = term.name
        if name in ("include", "redirect") and target and "%" not in target:
            below = spf_chain(zone, normalize_name(target), depth + 1)
        elif name in _AFTER_RECORD:
            host = target or domain
            below = tuple(f"{host} ({name} lookup {i + 1})" for i in range(_AFTER_RECORD[name]))
        else:
            continue
        longest = max(longest, below, key=len)
    return (qname, *longest)


def dmarc_chain(zone: ZoneData, domain: str) -> Chain:
    """The policy record (its name follows from the labels) -> report-destination lookups."""
    for target in walk_targets(domain):
        for text in _texts(zone, f"_dmarc.{target}"):
            try:
                record = parse_dmarc(text)
            except NotDmarcRecord:
                continue
            hosts = sorted({u.host for u in (*record.rua, *record.ruf) if u.valid and u.host})
            others = [h for h in hosts if h != target]
            first = f"_dmarc.{target} TXT"
            if not others:
                return (first,)
            return (first, f"{target}._report._dmarc.{others[0]} TXT")
    return (f"_dmarc.{domain} TXT",)


def reverse_chain(zone: ZoneData, ip: str) -> Chain:
    """PTR -> the forward A/AAAA of the name it gives (RFC 8601 §3 iprev's round trip)."""
    pointer = ipaddress.ip_address(ip).reverse_pointer
    names = _texts(zone, pointer, "PTR")
    if not names:
        return (f"{pointer} PTR",)
    return (f"{pointer} PTR", f"{normalize_name(names[0])} A/AAAA")


def inherent_chains(specs: Sequence[SenderSpec], zone: ZoneData) -> dict[str, Chain]:
    """The longest data-dependent chain per check and identity; DKIM keys, MX, DNSBL are 1."""
    chains: dict[str, Chain] = {}
    for spec in specs:
        chains[f"{spec.domain} spf"] = spf_chain(zone, spec.envelope)
        chains[f"{spec.domain} dmarc"] = dmarc_chain(zone, spec.domain)
        for ip in spec.egress_ips:
            chains[f"{spec.domain} reverse {ip}"] = reverse_chain(zone, ip)
    return chains


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
) -> tuple[float, list[SenderReport], int, float]:
    """Wall time, the reports, queries logged, and the CPU time of this (the client) thread."""
    resolver = DnsPythonResolver([address], timeout=2.0)
    started, cpu = time.perf_counter(), time.thread_time()
    reports = await _reports(specs, resolver, psl)
    return time.perf_counter() - started, reports, len(resolver.log), time.thread_time() - cpu


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


def _serve(zone: ZoneData, latency: float, conn: Connection) -> None:
    """In the server process: serve ``zone`` until the parent writes or closes the pipe."""
    with lab_dns_in_thread(zone, latency=latency) as server:
        conn.send(server.port)
        with contextlib.suppress(EOFError):
            conn.recv()


@contextlib.contextmanager
def dns_server(
    zone: ZoneData, latency: float, where: str, *, start_timeout: float = SERVER_START_TIMEOUT
) -> Iterator[int]:
    """The lab DNS server in a thread of this process or in its own process; yields its port.
    ``start_timeout`` bounds the server process's start (a big zone takes a while)."""
    if where == "thread":
        with lab_dns_in_thread(zone, latency=latency) as server:
            yield server.port
        return
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(zone, latency, child), daemon=True)
    process.start()
    try:
        if not parent.poll(start_timeout):
            raise TimeoutError("the lab DNS server process did not start")
        yield int(parent.recv())
    finally:
        parent.close()
        process.join(5.0)
        if process.is_alive():
            process.terminate()
            process.join()


def _measure(runs: int, latency: float, where: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        keys, zone = prepare_lab(Path(tmp))
        specs = [sender_spec(s) for s in lab_senders(keys) if s.domain in HEALTHY]
        psl = PublicSuffixList()  # loaded once, as checkdmarc loads its own once per process
        asyncio.run(_reports(specs, MemoryResolver(zone, strict=False), psl))  # warm-up
        levels, level_resolver = asyncio.run(critical_path(specs, zone, psl))
        with dns_server(zone, latency, where) as port:
            address = f"127.0.0.1:{port}"
            timed = [asyncio.run(timed_report(specs, address, psl)) for _ in range(runs)]
            theirs = [timed_checkdmarc(HEALTHY, port) for _ in range(runs)]
        with dns_server(zone, 0.0, where) as port:  # instant answers: the cost beyond waiting
            address = f"127.0.0.1:{port}"
            instant = [asyncio.run(timed_report(specs, address, psl)) for _ in range(runs)]
    return {
        "specs": specs,
        "levels": levels,
        "inherent": inherent_chains(specs, zone),
        "queries": level_resolver.levels,
        "walls": [t[0] for t in timed],
        "cpu": [t[3] for t in timed],
        "instant": [t[0] for t in instant],
        "logged": timed[0][2],
        "errors": [
            f.code
            for _, reports, _, _ in timed
            for r in reports
            for f in r.findings
            if f.severity == "error"
        ],
        "checkdmarc": [t[0] for t in theirs],
        "checkdmarc_subset": [t[1] for t in theirs],
    }


def parse_dns_args(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    runs: int,
    latency: float,
    servers: Sequence[str] = ("thread", "process"),
) -> argparse.Namespace:
    """``--runs``, ``--latency`` and ``--server`` (one of ``servers``, the first the default;
    see ``dns_server``), as the benchmarks against the lab DNS server take them."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--runs", type=int, default=runs, help="timed runs (median reported)")
    parser.add_argument("--latency", type=float, default=latency, help="seconds per DNS answer")
    parser.add_argument(
        "--server",
        choices=servers,
        default=servers[0],
        help="where the lab DNS server runs: "
        "loop (the benchmark's event loop, as in serve --lab), thread (a thread of this process) "
        "or process (its own)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_dns_args(
        argv,
        prog="python -m bench.sender",
        description="sender report benchmark",
        runs=5,
        latency=LATENCY,
    )
    load_before = os.getloadavg()[0]
    m = _measure(args.runs, args.latency, args.server)
    load_after = os.getloadavg()[0]
    inherent = max(len(chain) for chain in m["inherent"].values())
    bound = inherent * args.latency
    our_bound = m["levels"] * args.latency
    ours = statistics.median(m["walls"])
    full = statistics.median(m["checkdmarc"])
    subset = statistics.median(m["checkdmarc_subset"])
    per_level = dict(sorted(Counter(m["queries"].values()).items()))
    chain = sorted(m["queries"].items(), key=lambda item: item[1])
    print(f"identities: {', '.join(s.address for s in m['specs'])}")
    print(
        f"latency {args.latency * 1000:.0f} ms per answer; DNS server in a {args.server};"
        f" {args.runs} runs; medians below"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.1f} before,"
        f" {load_after:.1f} after (other jobs slow the report, which is mostly CPU)"
    )
    print("inherent chains (from the zone's data):")
    for check, links in m["inherent"].items():
        print(f"  {len(links)}: {check}: {' -> '.join(links)}")
    print(f"inherent critical path: {inherent} levels; lower bound {bound * 1000:.0f} ms")
    print(f"distinct queries: {len(m['queries'])}; per level of our code: {per_level}")
    for (name, rdtype), level in chain:
        print(f"  level {level}: {name} {rdtype}")
    print(
        f"our code's critical path: {m['levels']} dependent lookups;"
        f" bound {our_bound * 1000:.0f} ms"
    )
    print(
        f"sender report: {median_text(m['walls'])}; {m['logged']} queries logged;"
        f" {ours / bound:.2f}x the inherent bound, {ours / our_bound:.2f}x our code's bound"
    )
    print(f"CPU time of the client thread during those runs: {median_text(m['cpu'])}")
    print(f"same report with instant answers (latency 0): {median_text(m['instant'])}")
    print(f"errors in the healthy identities: {m['errors'] or 'none'}")
    print(
        f"checkdmarc check_domains: {median_text(m['checkdmarc'])};"
        f" ours is {full / ours:.1f}x faster"
    )
    print(
        f"checkdmarc SPF+DMARC+MX only: {median_text(m['checkdmarc_subset'])};"
        f" ours is {subset / ours:.1f}x faster"
    )
    met_bound = ours / bound <= TARGET_BOUND_RATIO
    met_speed = full / ours >= TARGET_SPEEDUP
    print(
        f"targets: <= {TARGET_BOUND_RATIO}x the inherent bound: {_verdict(met_bound)};"
        f" >= {TARGET_SPEEDUP}x checkdmarc: {_verdict(met_speed)}"
    )
    return 0


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def median_text(values: Sequence[float]) -> str:
    """The median in milliseconds, then every value."""
    runs = ", ".join(f"{v * 1000:.0f}" for v in values)
    return f"median {statistics.median(values) * 1000:.0f} ms ({runs})"


if __name__ == "__main__":
    raise SystemExit(main())
