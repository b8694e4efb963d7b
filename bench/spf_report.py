"""The SPF benchmark's report (see bench/spf.py): its measurements as values, the tables and
prose of its section in docs/benchmarks.md, and the writing of that section.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from diag.spf.parse import PARSE_CACHE_SIZE

TOP = "bench.example"  # the top of the benchmark's include tree
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADING = "## SPF evaluation (bench/spf.py)"


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


def write_docs(text: str, path: Path = DOCS, heading: str = HEADING) -> None:
    """Replace the section under ``heading`` of ``path`` (or add it), leaving the others
    alone; the SPF benchmark's section unless another heading is given."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip() + "\n\n", current)
    else:
        updated = current.rstrip() + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated.rstrip() + "\n")
