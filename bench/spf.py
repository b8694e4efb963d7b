"""Benchmark of SPF evaluation (not a test): run ``python -m bench.spf [--write]``.

Evaluations per second of our ``check_host`` on a three-level include tree (a domain including
two domains, each including two more; ip4 terms everywhere; the client's address only in the
last domain at the deepest level, so every evaluation walks the whole tree: 7 TXT queries),
served over the wire by the lab DNS server in its own process with 0 ms and 20 ms added
latency. Our side uses ``DnsPythonResolver(cache=False)``, one resolver per worker, so every
evaluation makes its own real queries. pyspf (a test-only dependency) runs in the same run
against the same server, through its own ``DNSLookup_dnspython`` with dnspython's default
resolver pointed at the server's port. Results are stated as ratios against pyspf.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import multiprocessing
import os
import platform
import re
import textwrap
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import dns.asyncresolver
import dns.resolver

from diag.resolver import TXT, DnsPythonResolver, MemoryResolver, Record
from diag.spf.evaluate import check_host
from diag.spf.parse import PARSE_CACHE_SIZE, parse_spf, parse_spf_cached

TOP = "bench.example"
CLIENT = "203.0.113.77"
SENDER = f"bounce@{TOP}"
LATENCIES = (0.0, 0.02)  # seconds from a query's arrival at the lab server to its reply
PHASE_SECONDS = 3.0  # wall time per row
ROUNDS = 3  # interleaved slices per row
CONCURRENCY = 32  # evaluations in flight (ours) / threads (pyspf, threaded)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADING = "## SPF evaluation (bench/spf.py)"

Zone = dict[str, dict[str, list[Record]]]


def build_zone() -> Zone:
    """bench.example -> l1a, l1b -> l2aa, l2ab, l2ba, l2bb; the client only in l2bb."""
    zone: Zone = {}

    def record(name: str, text: str) -> None:
        zone[name] = {"TXT": [TXT((text.encode(),))]}

    record(TOP, f"v=spf1 ip4:198.51.100.0/28 include:l1a.{TOP} include:l1b.{TOP} -all")
    for i, first in enumerate(("a", "b")):
        children = " ".join(f"include:l2{first}{second}.{TOP}" for second in ("a", "b"))
        record(f"l1{first}.{TOP}", f"v=spf1 ip4:198.51.100.{16 + 16 * i}/28 {children} -all")
        for j, second in enumerate(("a", "b")):
            last = f"ip4:{CLIENT}" if (first, second) == ("b", "b") else "ip4:192.0.2.200"
            net = f"ip4:203.0.113.{64 * i + 32 * j}/30"
            other = f"ip4:192.0.2.{10 + 2 * i + j}"
            record(f"l2{first}{second}.{TOP}", f"v=spf1 {net} {other} {last} -all")
    return zone


QUERIES_PER_EVALUATION = 7  # one TXT per domain in the tree


# -- the lab server in its own process -----------------------------------------------------


def _serve(zone: Zone, conn: Connection) -> None:
    """Child process: run the lab server; answer control messages on ``conn``."""
    from maildiag.lab.dns import LabDnsServer

    async def main() -> None:
        server = LabDnsServer(zone)
        await server.start()
        conn.send(server.port)
        loop = asyncio.get_running_loop()
        while True:
            command, value = await loop.run_in_executor(None, conn.recv)
            if command == "latency":
                server.latency = float(value)
                conn.send(server.latency)
            elif command == "count":
                conn.send(server.query_count)
            else:
                break
        await server.stop()
        conn.send("stopped")

    asyncio.run(main())


class ServerProcess:
    """The lab DNS server in a child process, so it does not share the benchmark's GIL."""

    def __init__(self, zone: Zone) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(zone, child), daemon=True)
        self._process.start()
        self.port: int = self._conn.recv()

    def call(self, command: str, value: Any = None) -> Any:
        self._conn.send((command, value))
        return self._conn.recv()

    def stop(self) -> None:
        self.call("stop")
        self._process.join(5)


# -- the measurements ------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    name: str
    evaluations: int
    seconds: float
    queries: int
    cpu_seconds: float  # this process's CPU time (all its threads); the server is apart

    @property
    def rate(self) -> float:
        return self.evaluations / self.seconds

    @property
    def cpu_ms(self) -> float:
        """Client CPU per evaluation, in milliseconds."""
        return self.cpu_seconds * 1000 / max(self.evaluations, 1)


async def _ours(port: int, concurrency: int, seconds: float) -> int:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        resolver = DnsPythonResolver(nameservers=[f"127.0.0.1:{port}"], cache=False, timeout=5.0)
        while time.perf_counter() < deadline:
            result = await check_host(CLIENT, TOP, SENDER, resolver=resolver)
            if result.result != "pass":
                raise RuntimeError(f"unexpected result {result.result}: {result.problem}")
            done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def _pyspf_setup(port: int) -> Callable[[], str]:
    """pyspf's own dnspython lookup, with dnspython's default resolver aimed at the server."""
    import spf

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 5.0
    dns.resolver.default_resolver = resolver
    spf.DNSLookup = spf.DNSLookup_dnspython
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # dns.resolver.query

    def evaluate() -> str:
        result: str = spf.query(i=CLIENT, s=SENDER, h=TOP).check()[0]
        return result

    return evaluate


def _pyspf(port: int, threads: int, seconds: float) -> int:
    evaluate = _pyspf_setup(port)
    deadline = time.perf_counter() + seconds
    counts = [0] * threads
    lock = threading.Lock()
    failures: list[str] = []

    def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            result = evaluate()
            if result != "pass":
                with lock:
                    failures.append(result)
                return
            counts[index] += 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(worker, range(threads)))
    if failures:
        raise RuntimeError(f"pyspf gave {failures[0]}")
    return sum(counts)


def measure(server: ServerProcess, run: Callable[[], int]) -> tuple[int, float, int, float]:
    """One timed run: (evaluations, seconds, DNS queries the server received, CPU seconds)."""
    before = server.call("count")
    started = time.perf_counter()
    cpu = time.process_time()
    evaluations = run()
    cpu = time.process_time() - cpu
    elapsed = time.perf_counter() - started
    return evaluations, elapsed, server.call("count") - before, cpu


def run_all(
    seconds: float, concurrency: int, rounds: int
) -> tuple[dict[float, list[Measure]], Breakdown]:
    """Every row gets ``seconds`` in all, split into ``rounds`` interleaved slices, so that
    changes in the machine's load during the run fall on all rows alike."""
    server = ServerProcess(build_zone())
    port = server.port
    part = seconds / rounds
    phases: list[tuple[str, Callable[[], int]]] = [
        ("pyspf, sequential", lambda: _pyspf(port, 1, part)),
        (f"pyspf, {concurrency} threads", lambda: _pyspf(port, concurrency, part)),
        ("ours, 1 in flight", lambda: asyncio.run(_ours(port, 1, part))),
        (f"ours, {concurrency} in flight", lambda: asyncio.run(_ours(port, concurrency, part))),
    ]
    results: dict[float, list[Measure]] = {}
    try:
        for latency in LATENCIES:
            server.call("latency", latency)
            totals = {name: (0, 0.0, 0, 0.0) for name, _ in phases}
            for _ in range(rounds):
                for name, run in phases:
                    evaluations, elapsed, queries, cpu = measure(server, run)
                    done, spent, asked, used = totals[name]
                    totals[name] = (
                        done + evaluations,
                        spent + elapsed,
                        asked + queries,
                        used + cpu,
                    )
            results[latency] = [Measure(name, *totals[name]) for name, _ in phases]
        server.call("latency", 0.0)
        query_ms = _query_cost(port, seconds, rounds)
    finally:
        server.stop()
    engine_ms = _engine_only(seconds, rounds)
    parse_ms = _parse_only(seconds / rounds)
    return results, Breakdown(*engine_ms, parse_ms, *query_ms)


@dataclass(frozen=True)
class Breakdown:
    """Where an evaluation's time goes: the engine alone, and one query on the wire."""

    ours_engine_ms: float
    pyspf_engine_ms: float
    ours_cold_engine_ms: float
    ours_parse_ms: float
    ours_query_ms: float
    pyspf_query_ms: float
    raw_async_query_ms: float


def _cpu_ms_per_call(call: Callable[[], int], totals: list[float]) -> None:
    """Run ``call`` (which returns how many units it did) and add (CPU ms, units) to totals."""
    started = time.process_time()
    units = call()
    totals[0] += (time.process_time() - started) * 1000
    totals[1] += units


def _interleaved(rows: list[Callable[[], int]], rounds: int) -> list[float]:
    """CPU ms per unit of each row, the rows interleaved in ``rounds`` slices."""
    totals = [[0.0, 0.0] for _ in rows]
    for _ in range(rounds):
        for row, total in zip(rows, totals, strict=True):
            _cpu_ms_per_call(row, total)
    return [spent / max(units, 1) for spent, units in totals]


def _engine_only(seconds: float, rounds: int) -> tuple[float, float, float]:
    """CPU ms per evaluation with DNS answered from memory: ours (MemoryResolver) with the
    parse cache warm, pyspf (hook), and ours with the parse cache emptied before every
    evaluation. ``seconds`` per row in all, interleaved in ``rounds`` slices."""
    import spf

    zone = build_zone()
    part = seconds / rounds

    async def ours_loop(cold: bool) -> int:
        done = 0
        deadline = time.perf_counter() + part
        while time.perf_counter() < deadline:
            if cold:
                parse_spf_cached.cache_clear()
            result = await check_host(CLIENT, TOP, SENDER, resolver=MemoryResolver(zone))
            if result.result != "pass":
                raise RuntimeError(f"unexpected result {result.result}")
            done += 1
        return done

    def lookup(name: str, qtype: str, *_: Any) -> list[Any]:
        records = zone.get(name.lower().rstrip("."), {}).get(qtype, [])
        return [((name, qtype), list(r.strings)) for r in records if isinstance(r, TXT)]

    def theirs() -> int:
        saved = spf.DNSLookup
        spf.DNSLookup = lookup
        try:
            done = 0
            deadline = time.perf_counter() + part
            while time.perf_counter() < deadline:
                if spf.query(i=CLIENT, s=SENDER, h=TOP).check()[0] != "pass":
                    raise RuntimeError("pyspf did not pass")
                done += 1
            return done
        finally:
            spf.DNSLookup = saved

    warm, pyspf_ms, cold = _interleaved(
        [
            lambda: asyncio.run(ours_loop(cold=False)),
            theirs,
            lambda: asyncio.run(ours_loop(cold=True)),
        ],
        rounds,
    )
    return warm, pyspf_ms, cold


def _parse_only(seconds: float) -> float:
    """CPU ms for ``parse_spf`` on the tree's 7 records, uncached (evaluations reuse parses)."""
    texts = [r.text for types in build_zone().values() for r in types["TXT"] if isinstance(r, TXT)]

    def run() -> int:
        done = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for text in texts:
                parse_spf(text)
            done += 1
        return done

    return _interleaved([run], 1)[0]


def _query_cost(port: int, seconds: float, rounds: int) -> tuple[float, float, float]:
    """Client CPU ms per sequential TXT query: ours (DnsPythonResolver), dnspython's sync
    resolver, and dnspython's asyncio resolver alone with our settings; ``seconds`` per row in
    all, interleaved in ``rounds`` slices."""
    part = seconds / rounds
    resolver = DnsPythonResolver(nameservers=[f"127.0.0.1:{port}"], cache=False, timeout=5.0)
    plain = dns.asyncresolver.Resolver(configure=False)
    plain.nameservers = ["127.0.0.1"]
    plain.port = port
    plain.retry_servfail = False
    plain.use_edns(0, 0, 1232)
    sync = dns.resolver.Resolver(configure=False)
    sync.nameservers = ["127.0.0.1"]
    sync.port = port

    async def timed(ask: Callable[[], Any]) -> int:
        done = 0
        deadline = time.perf_counter() + part
        while time.perf_counter() < deadline:
            await ask()
            done += 1
        return done

    def synchronous() -> int:
        done = 0
        deadline = time.perf_counter() + part
        while time.perf_counter() < deadline:
            sync.resolve(f"{TOP}.", "TXT", raise_on_no_answer=False, search=False)
            done += 1
        return done

    ours, theirs, raw = _interleaved(
        [
            lambda: asyncio.run(timed(lambda: resolver.query(TOP, "TXT"))),
            synchronous,
            lambda: asyncio.run(
                timed(
                    lambda: plain.resolve(f"{TOP}.", "TXT", raise_on_no_answer=False, search=False)
                )
            ),
        ],
        rounds,
    )
    return ours, theirs, raw


# -- reporting -------------------------------------------------------------------------------


def table(results: dict[float, list[Measure]]) -> str:
    lines = [
        "| latency | engine | evaluations/s | vs pyspf sequential | client CPU ms/evaluation "
        "| vs pyspf sequential | DNS queries/evaluation |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for latency, measures in results.items():
        base = measures[0]
        for m in measures:
            per_eval = m.queries / m.evaluations if m.evaluations else 0.0
            lines.append(
                f"| {latency * 1000:.0f} ms | {m.name} | {m.rate:.1f} | "
                f"{m.rate / base.rate:.2f}x | {m.cpu_ms:.2f} | {m.cpu_ms / base.cpu_ms:.2f}x "
                f"| {per_eval:.2f} |"
            )
    return "\n".join(lines)


def breakdown_table(parts: Breakdown) -> str:
    rows = [
        (
            "engine alone, DNS answered from memory (CPU ms/evaluation)",
            parts.ours_engine_ms,
            parts.pyspf_engine_ms,
        ),
        (
            "one TXT query to the lab server at 0 ms, sequential (client CPU ms/query)",
            parts.ours_query_ms,
            parts.pyspf_query_ms,
        ),
    ]
    lines = ["| part | ours | pyspf / dnspython sync | ours / theirs |", "|---|---:|---:|---:|"]
    for label, mine, theirs in rows:
        lines.append(f"| {label} | {mine:.2f} | {theirs:.2f} | {mine / theirs:.2f}x |")
    cold = parts.ours_cold_engine_ms
    lines.insert(
        3,
        f"| the same, every record parsed afresh (CPU ms/evaluation) | {cold:.2f} "
        f"| {parts.pyspf_engine_ms:.2f} | {cold / parts.pyspf_engine_ms:.2f}x |",
    )
    lines.insert(
        4,
        f"| `parse_spf` on the 7 records, uncached (CPU ms) | {parts.ours_parse_ms:.2f} | | |",
    )
    raw = parts.raw_async_query_ms
    lines.append(
        f"| the same query, dnspython's asyncio resolver alone (client CPU ms/query) | {raw:.2f} "
        f"| {parts.pyspf_query_ms:.2f} | {raw / parts.pyspf_query_ms:.2f}x |"
    )
    return "\n".join(lines)


# The published run before the CPU work on the engine (commit b6fcac5, 2026-11-26 15:39 UTC,
# load average 10.6-11.2): ratios against pyspf measured in that run.
BEFORE: dict[str, float] = {
    "0 ms, ours 1 in flight / pyspf sequential": 0.43,
    "0 ms, ours 32 in flight / pyspf sequential": 0.69,
    "20 ms, ours 1 in flight / pyspf sequential": 0.84,
    "20 ms, ours 32 in flight / pyspf 32 threads": 0.31,
    "engine alone, ms/evaluation ours / pyspf (before: wall time)": 2.50,
    "one TXT query, ours / dnspython sync (before: wall time)": 1.87,
}


def before_after(results: dict[float, list[Measure]], parts: Breakdown, concurrency: int) -> str:
    def rate(latency: float, name: str) -> float:
        return next(m.rate for m in results[latency] if m.name == name)

    slow = max(results)
    now = [
        rate(0.0, "ours, 1 in flight") / rate(0.0, "pyspf, sequential"),
        rate(0.0, f"ours, {concurrency} in flight") / rate(0.0, "pyspf, sequential"),
        rate(slow, "ours, 1 in flight") / rate(slow, "pyspf, sequential"),
        rate(slow, f"ours, {concurrency} in flight") / rate(slow, f"pyspf, {concurrency} threads"),
        parts.ours_engine_ms / parts.pyspf_engine_ms,
        parts.ours_query_ms / parts.pyspf_query_ms,
    ]
    lines = ["| ratio | before | now |", "|---|---:|---:|"]
    for (label, before), after in zip(BEFORE.items(), now, strict=True):
        lines.append(f"| {label} | {before:.2f}x | {after:.2f}x |")
    return "\n".join(lines)


def section(
    results: dict[float, list[Measure]],
    parts: Breakdown,
    seconds: float,
    concurrency: int,
    rounds: int,
    load: tuple[float, float],
) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = _cpu_model()
    return f"""{HEADING}

Evaluations per second of `check_host` on a three-level include tree: `{TOP}` includes two
domains, each of which includes two more, all with ip4 terms; the client address is listed only
in the last domain at the deepest level, so each evaluation walks the whole tree (7 TXT queries,
6 lookups). The lab DNS server (`maildiag.lab.dns.LabDnsServer`) runs in its own process on
127.0.0.1, sends each reply the stated latency after its query arrived and answers a repeated
question from its reply cache (both engines ask the same questions over and over). Ours:
`DnsPythonResolver(cache=False)`, one resolver per worker, so every evaluation makes its own
queries over UDP. pyspf 2.0.14: its own `DNSLookup_dnspython`, with dnspython's default
resolver pointed at the same server, in the same run. Each row runs for {seconds:.0f} s in all,
in {rounds} slices interleaved with the other rows; every evaluation is checked to give `pass`,
and the server counts the queries. Client CPU is this benchmark process's CPU time (all its
threads) per evaluation; the DNS server's own CPU is not in it.

- Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}. The cores are
  shared with other work (load average {load[0]:.1f} at the start, {load[1]:.1f} at the end),
  so absolute figures drift between runs; compare the ratios within one run.
- Command: `python -m bench.spf --write`
- Date: {today}

{table(results)}

At 0 ms both engines are CPU-bound (client and server share the two cores); at 20 ms a
sequential evaluation waits for 7 answers in turn (at least 140 ms), so throughput comes from
having evaluations in flight: {concurrency} coroutines on one event loop for ours, {concurrency}
threads for pyspf.

{_summary(results, concurrency)}

Where the CPU goes (same run, measured separately in this process's CPU time, each row
{seconds:.0f} s in all in {rounds} interleaved slices):

{breakdown_table(parts)}

Ours keeps parsed records in a bounded LRU keyed on the record text (`parse_spf_cached`,
{PARSE_CACHE_SIZE} texts; `parse_spf` itself stays pure and uncached), so after the first
evaluation the tree's records are not parsed again; the "parsed afresh" row empties that cache
before every evaluation. pyspf parses each record on every evaluation. `DnsPythonResolver`
writes and reads the common case itself: an A, AAAA, TXT, SPF, MX, PTR or NS query to a plain
UDP nameserver goes out and comes back through `diag.resolver.codec` (one non-blocking socket
per query, read through the event loop), without dnspython's message objects, which cost about
0.1 ms to build a query and 0.13 ms to parse a small reply. A reply the codec does not read
exactly as dnspython would (truncation, a CNAME loop, an unusual record, anything malformed)
and every other query type go through dnspython's asyncio resolver, which asks again; around
both come the query log, the sharing of identical queries in flight and the `Answer` values.
The last row is dnspython's asyncio resolver alone, with the same settings, for comparison.

Before and after the CPU work (faster `parse_spf`, the parse cache, cheaper trace steps and
target names, the resolver's UDP exchange and codec), as ratios within each run; "before" is the
published run of commit b6fcac5 (2026-11-26 15:39 UTC, load average 10.6 to 11.2):

{before_after(results, parts, concurrency)}
"""


def _summary(results: dict[float, list[Measure]], concurrency: int) -> str:
    slow = results[max(results)]
    rates = {m.name: m.rate for m in slow}
    ours = rates[f"ours, {concurrency} in flight"]
    threads = rates[f"pyspf, {concurrency} threads"]
    sequential = rates["pyspf, sequential"]
    fast = {m.name: m.cpu_ms for m in results[min(results)]}
    cpu = fast["ours, 1 in flight"] / fast["pyspf, sequential"]
    return textwrap.fill(
        f"At {max(results) * 1000:.0f} ms, ours with {concurrency} in flight does "
        f"{ours / sequential:.1f}x pyspf's sequential rate and {ours / threads:.2f}x pyspf's "
        f"rate with {concurrency} threads: with evaluations in flight, the rate is bounded by "
        f"CPU per evaluation. Over the wire, one evaluation at a time, ours takes {cpu:.2f}x "
        "pyspf's client CPU per evaluation; the tables below split that into the engine and "
        "the 7 queries.",
        width=100,
    )


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def write_docs(text: str, path: Path = DOCS) -> None:
    """Replace this benchmark's section of ``path`` (or add it), leaving the others alone."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip() + "\n\n", current)
    else:
        updated = current.rstrip() + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated.rstrip() + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.spf", description=__doc__)
    parser.add_argument("--seconds", type=float, default=PHASE_SECONDS, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved slices per row")
    parser.add_argument("--write", action="store_true", help=f"update {DOCS}")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    results, parts = run_all(args.seconds, args.concurrency, args.rounds)
    load = (load_before, os.getloadavg()[0])
    text = section(results, parts, args.seconds, args.concurrency, args.rounds, load)
    print(text)
    if args.write:
        write_docs(text)


if __name__ == "__main__":
    main()
