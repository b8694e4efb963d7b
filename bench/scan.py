"""Benchmark of bulk scans (not a test): run ``python -m bench.scan [--write]``.

The lab DNS server, in a process of its own, serves ``c0.scan.example`` …
``c<N-1>.scan.example`` (``maildiag.lab.bulk``: null MX, implicit MX, Microsoft 365, Google
and own MX hosts) with 20 ms of latency on every answer. Then, in the same run:

1. ``maildiag scan FILE --resume --format jsonl`` in one process (results into a fresh SQLite
   database and to /dev/null) for 10,000 and for 100,000 domains: domains per second, and the
   process's peak RSS (``VmHWM``, read every 50 ms), which must not grow with the count;
2. ``maildiag scan FILE --queue`` over 10,000 domains taken by one and then by two
   ``maildiag worker`` processes: domains per second from the moment the jobs are queued
   until the scan is done, and the ratio of two workers to one. Each worker has the scan
   command's default of 10 lookups in flight (``--scan-concurrency 10``), so one worker is
   bound by its lookups in flight and the 20 ms answers rather than by this machine's CPU,
   as a worker with a core of its own would be: the ratio shows whether the queue adds a
   worker's worth. Then the same with 100 in flight each, where one worker already takes
   a core and the lab DNS server most of the other (the ratio is then this machine's CPU,
   printed with the workers' CPU per domain);
3. checkdmarc's ``check_mx`` (what the scan asks of a domain: MX, addresses; its TLS checks
   skipped) on a 20-domain sample, one domain after another as checkdmarc runs them, against
   the same server. A socket guard in this process refuses any connection or datagram that is
   not to loopback while it runs.

Every run checks its answer: each domain once, and the counts by status and provider that
the zone's shapes give. The machine is shared: absolute rates drift with its load (printed
beside the figures); the ratios measured within one run are what to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import multiprocessing
import os
import platform
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.proc import cpu_seconds
from bench.sender import dns_server
from bench.spf_report import write_docs
from maildiag.commands.scan import DEFAULT_CONCURRENCY
from maildiag.lab.bulk import bulk_expected, bulk_name, bulk_zone

HEADING = "## Bulk scans (bench/scan.py)"
LATENCY = 0.02  # seconds before every answer
SIZES = (10_000, 100_000)  # domains scanned in one process
QUEUED = 10_000  # domains scanned through the queue
SAMPLE = 20  # domains given to checkdmarc
TARGET = 1.7  # two workers against one (issue #15)
CONCURRENCY = 100  # lookups in flight (the one-process scan's, and each worker's CPU-bound runs)
QUEUE_CONCURRENCY = DEFAULT_CONCURRENCY  # each worker's in the scale-out runs: the scan's default
REPO = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT = 300.0  # compiling a zone of 100,000 domains takes a while


class PeakRss:
    """The peak RSS (``VmHWM``) of process ``pid``, read every 50 ms on a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.path = Path(f"/proc/{pid}/status")
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            for line in self.path.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._read()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


@dataclass(frozen=True)
class Run:
    what: str
    domains: int
    seconds: float
    peak_rss: int  # bytes; the scan command's (one process) or the largest worker's
    cpu: float = 0.0  # CPU seconds of the scanning processes (0: not measured)
    dns_cpu: float = 0.0  # CPU seconds of the lab DNS server's process during the run

    @property
    def rate(self) -> float:
        return self.domains / self.seconds


def _env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILDIAG_")}
    env.update(
        PYTHONWARNINGS="ignore",
        MAILDIAG_DATA_DIR=str(directory),
        MAILDIAG_DATABASE_URL=f"sqlite:///{directory / 'maildiag.sqlite3'}",
        MAILDIAG_ALLOW_PRIVATE_TARGETS="true",
        MAILDIAG_LANG="en",
    )
    return env


def _maildiag(port: int, *argv: str) -> list[str]:
    return [sys.executable, "-m", "maildiag", "--nameserver", f"127.0.0.1:{port}", *argv]


def _list(directory: Path, count: int) -> Path:
    path = directory / f"domains-{count}.txt"
    path.write_text("".join(f"{bulk_name(n)}\n" for n in range(count)), encoding="utf-8")
    return path


def _check(output: Path, count: int) -> None:
    """Every domain once, and the summary's counts as the zone's shapes give them."""
    seen: set[str] = set()
    summary: dict[str, Any] = {}
    with output.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if "summary" in row:
                summary = row["summary"]
            else:
                assert row["domain"] not in seen, row["domain"]
                seen.add(row["domain"])
    expected = bulk_expected(count)
    assert len(seen) == count, (len(seen), count)
    assert summary["statuses"] == {k: expected["statuses"][k] for k in summary["statuses"]}
    assert summary["providers"] == dict(expected["providers"]), summary["providers"]


def one_process(port: int, directory: Path, count: int) -> Run:
    """``maildiag scan --resume`` over ``count`` domains in one process."""
    work = directory / f"one-{count}"
    work.mkdir()
    output = work / "out.jsonl"
    argv = _maildiag(port, "scan", str(_list(work, count)), "--resume", "--format", "jsonl")
    argv += ["--concurrency", str(CONCURRENCY)]
    with output.open("wb") as out:
        before = _children_cpu()
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=REPO, env=_env(work), stdout=out, stderr=subprocess.PIPE
        )
        rss = PeakRss(process.pid)
        _, err = process.communicate()
        seconds = time.perf_counter() - started
        cpu = _children_cpu() - before
    peak = rss.stop()
    assert process.returncode == 1, err.decode()  # the null MX domains
    _check(output, count)
    return Run(f"one process, {count:,} domains", count, seconds, peak, cpu)


def _dns_cpu() -> float:
    """CPU seconds so far of this process's live multiprocessing children: the lab DNS
    server's process."""
    return sum(cpu_seconds(child.pid) for child in multiprocessing.active_children() if child.pid)


def _children_cpu() -> float:
    """CPU seconds (user and system) of this process's children that have been waited for."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@contextlib.contextmanager
def workers(port: int, work: Path, count: int, concurrency: int) -> Iterator[list[PeakRss]]:
    env = dict(
        _env(work),
        MAILDIAG_SECRET_KEY=secrets.token_urlsafe(32),
        MAILDIAG_PUBLIC_BASE_URL="https://konto.visma.example",
        MAILDIAG_RELAY__HOST="127.0.0.1",
        MAILDIAG_RELAY__PORT="9",
    )
    argv = _maildiag(port, "worker", "--scan-concurrency", str(concurrency))
    processes = [
        subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().startswith(b"maildiag worker:")
        yield [PeakRss(p.pid) for p in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def through_queue(
    port: int, directory: Path, count: int, worker_count: int, concurrency: int
) -> Run:
    """``maildiag scan --queue`` over ``count`` domains taken by ``worker_count`` workers with
    ``concurrency`` lookups in flight each; timed from the line saying the jobs are queued to
    the scan's end, and so is its CPU: the workers' and the scan command's in that time."""
    work = directory / f"queue-{worker_count}-{concurrency}"
    work.mkdir()
    subprocess.run(
        _maildiag(port, "migrate"), cwd=REPO, env=_env(work), check=True, capture_output=True
    )
    output = work / "out.jsonl"
    argv = _maildiag(port, "scan", str(_list(work, count)), "--queue", "--format", "jsonl")
    with workers(port, work, worker_count, concurrency) as samplers, output.open("wb") as out:
        reaped = _children_cpu()
        process = subprocess.Popen(
            argv, cwd=REPO, env=_env(work), stdout=out, stderr=subprocess.PIPE
        )
        assert process.stderr is not None
        line = process.stderr.readline()
        started = time.perf_counter()
        pids = [s.pid for s in samplers]
        command_before, dns_before = cpu_seconds(process.pid), _dns_cpu()
        workers_before = sum(cpu_seconds(pid) for pid in pids)
        assert b"queued" in line, line
        process.wait()
        seconds = time.perf_counter() - started
        cpu = sum(cpu_seconds(pid) for pid in pids) - workers_before
        dns = _dns_cpu() - dns_before
        cpu += _children_cpu() - reaped - command_before  # the scan command, reaped by wait
        err = process.stderr.read()
        process.stderr.close()
        peak = max(s.stop() for s in samplers)
    assert process.returncode == 1, err.decode()
    _check(output, count)
    what = f"queue, {worker_count} worker(s) × {concurrency} in flight, {count:,} domains"
    return Run(what, count, seconds, peak, cpu, dns)


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Refuse, in this process, every socket connection or datagram to a non-loopback address."""
    originals = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex", "sendto")}

    def guard(name: str) -> Any:
        original = originals[name]

        def guarded(self: socket.socket, *args: Any) -> Any:
            address = args[-1]
            host = address[0] if isinstance(address, tuple) else address
            if not ipaddress.ip_address(host).is_loopback:
                raise PermissionError(f"bench.scan: {host} is not loopback")
            return original(self, *args)

        return guarded

    for name in originals:
        setattr(socket.socket, name, guard(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(socket.socket, name, original)


def checkdmarc_rate(port: int, sample: Sequence[str]) -> float:
    """checkdmarc's ``check_mx`` on ``sample`` one after another (TLS skipped): domains/s.
    Each answer is checked: a domain's hosts, or its error for the null MX and A-only ones."""
    import checkdmarc  # benchmark-only dependency
    import dns.nameserver

    nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    with loopback_only():
        started = time.perf_counter()
        results = [
            checkdmarc.check_mx(domain, skip_tls=True, nameservers=nameservers, timeout=2.0)
            for domain in sample
        ]
        seconds = time.perf_counter() - started
    for domain, result in zip(sample, results, strict=True):
        number = int(domain.split(".")[0][1:])
        if number % 10 not in (0, 1):
            assert result.get("hosts"), (domain, result)
    return len(sample) / seconds


def section(runs: list[Run], checkdmarc: float, load: tuple[float, float]) -> str:
    mib = 1024 * 1024
    small, large, one, two, busy_one, busy_two = runs
    rows = "\n".join(
        f"| {r.what} | {r.rate:,.0f} | {r.seconds:,.1f} s | {r.peak_rss / mib:,.0f} MiB |"
        for r in runs
    )
    return f"""{HEADING}

`python -m bench.scan --write` on {platform.machine()} ({os.cpu_count()} cores, shared with
other work: load average {load[0]:.1f} before, {load[1]:.1f} after), Python
{platform.python_version()}, {time.strftime("%Y-%m-%d")}. The lab DNS server runs in its own
process and answers after {LATENCY * 1000:.0f} ms; each domain needs its MX and its hosts'
addresses. Results go to a fresh SQLite database and as JSON lines to a file; every run checks
each domain came out once and the counts by status and provider.

| run | domains/s | wall time | peak RSS |
|---|---:|---:|---:|
{rows}
| checkdmarc `check_mx`, {SAMPLE} domains one after another | {checkdmarc:,.1f} | – | – |

- One process: {large.rate / checkdmarc:,.0f}× checkdmarc's rate at 100,000 domains
  ({small.rate / checkdmarc:,.0f}× at 10,000); target ≥ 1,000 domains/s.
- CPU: the one-process scan used {large.cpu / large.domains * 1000:.2f} ms of CPU per domain
  at 100,000 domains (start, input, database and output included), {large.domains / large.cpu:,.0f}
  domains per CPU second: the rate it reaches on a core of its own, while the 20 ms answers
  allow {CONCURRENCY / (2 * LATENCY):,.0f} domains/s at {CONCURRENCY} lookups in flight. On this
  shared machine it got {large.cpu / large.seconds:.0%} of a core.
- Peak RSS at 100,000 domains is {large.peak_rss / small.peak_rss:.2f}× the peak at 10,000:
  results stream to the output and the database, domains are read a batch at a time, and each
  batch gets a fresh resolver.
- **Two workers: {two.rate / one.rate:.2f}× one worker** (target ≥ 1.7×), each with
  {QUEUE_CONCURRENCY} lookups in flight (the scan command's default): one worker is bound by
  its lookups in flight and the {LATENCY * 1000:.0f} ms answers, not by the machine's CPU, as a
  worker on a machine of its own is; the queue hands the second worker its share (the workers
  and the scan command used {_cores(two)} of a core, the lab DNS server {_dns_cores(two)}).
- With {CONCURRENCY} lookups in flight each, two workers are {busy_two.rate / busy_one.rate:.2f}×
  one, and here this machine's CPU is the limit: with two workers, the workers and the scan
  command spent {busy_two.cpu / busy_two.domains * 1000:.2f} ms of CPU per domain and the lab DNS
  server {busy_two.dns_cpu / busy_two.domains * 1000:.2f} ms, so its {os.cpu_count()} cores allow
  about {_ceiling(busy_two):,.0f} domains/s for the whole, and two workers ran at
  {busy_two.rate:,.0f} ({busy_two.rate / _ceiling(busy_two):.0%} of that); one worker alone
  ran at {busy_one.rate:,.0f} with {_cores(busy_one)} of a core for the workers and the
  command and {_dns_cores(busy_one)} for the DNS server.
"""


def _cores(run: Run) -> str:
    return f"{run.cpu / run.seconds:.2f}"


def _dns_cores(run: Run) -> str:
    return f"{run.dns_cpu / run.seconds:.2f}"


def _ceiling(run: Run) -> float:
    """Domains per second when every core works for the scan at ``run``'s CPU per domain
    (the workers, the scan command and the lab DNS server)."""
    return (os.cpu_count() or 1) * run.domains / (run.cpu + run.dns_cpu)


def result_line(runs: list[Run]) -> str:
    one, two = runs[2], runs[3]
    ratio = two.rate / one.rate
    met = "met" if ratio >= TARGET else "NOT met"
    return f"RESULT: two workers = {ratio:.2f} x one worker (target >= {TARGET}: {met})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scan", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs=2, default=SIZES, metavar="N")
    parser.add_argument("--queued", type=int, default=QUEUED)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    zone = bulk_zone(max(*args.sizes, args.queued))
    server = dns_server(zone, LATENCY, "process", start_timeout=SERVER_START_TIMEOUT)
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as name, server as port:
        directory = Path(name)
        runs = [one_process(port, directory, n) for n in args.sizes]
        for concurrency in (QUEUE_CONCURRENCY, CONCURRENCY):
            runs += [through_queue(port, directory, args.queued, w, concurrency) for w in (1, 2)]
        theirs = checkdmarc_rate(port, [bulk_name(n) for n in range(SAMPLE)])
    text = section(runs, theirs, (load_before, os.getloadavg()[0]))
    print(text)
    print(result_line(runs))
    if args.write:
        write_docs(text, heading=HEADING)


if __name__ == "__main__":
    main()
