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
import multiprocessing
import os
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

import dns.asyncresolver
import dns.resolver

from bench.spf_report import DOCS, TOP, Breakdown, Measure, section, write_docs
from diag.resolver import TXT, DnsPythonResolver, MemoryResolver, Record
from diag.spf.evaluate import check_host
from diag.spf.parse import parse_spf, parse_spf_cached

CLIENT = "203.0.113.77"
SENDER = f"bounce@{TOP}"
LATENCIES = (0.0, 0.02)  # seconds from a query's arrival at the lab server to its reply
PHASE_SECONDS = 3.0  # wall time per row
ROUNDS = 3  # interleaved slices per row
CONCURRENCY = 32  # evaluations in flight (ours) / threads (pyspf, threaded)

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
