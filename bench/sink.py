"""Benchmark of the SMTP sink service (not a test): run ``python -m bench.sink``.

The sink runs as ``maildiag serve --lab`` runs it (``maildiag.sink.service.run_sink`` on the lab
zone served by the lab DNS server, SQLite in WAL mode with ``synchronous=FULL``, group commit:
each message answered 250 only after the transaction holding it has committed). Eight SMTP
clients in a separate process send 1.5 kB DKIM-signed messages over the PROXY listener from
the healthy sender's egress IP, several transactions per connection.

1. the baseline: a bare aiosmtpd server (aiosmtpd's ``SMTP`` with a handler that accepts the
   PROXY header and answers every DATA 250 at once, storing and judging nothing), fed by the
   same clients; every rate is printed as a ratio to it, measured in the same round;
2. throughput with verdicts (``diag.authenticate``: SPF, DKIM, DMARC, ARC) and durable storage,
   with the judge in a thread of the sink (``sink_judge_processes = 0``), in one worker process,
   and as configured by default (``sink_judge_processes = "auto"``);
3. the same sink with the no-op judge (``sink_judge = false``): the cost of storing alone. The
   configurations are interleaved over ``--rounds`` rounds and the medians reported, with the
   CPU per message of the server process (the sink, with the lab DNS server in it), the
   judge's worker process and the client process, and messages per transaction;
   The summary ends with the RESULT line (the default sink's median ratio against the target)
   and the CPU ceilings: the rate that the CPU per message of the default sink (server, judge
   worker and client, each process on at most one core, on the machine's cores) and of the bare
   server allow; their ratio is what a quiet machine would give at best;
4. memory: the sink's RSS, sampled every 10,000 stored messages while ``--memory-messages``
   small messages are stored with the no-op judge (with verdicts it would take several minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.proc import cpu_seconds
from diag.dkim import sign_message
from diag.resolver import DnsPythonResolver
from maildiag.db import create_engine
from maildiag.lab.dns import LabDnsServer
from maildiag.lab.kit import lab_settings, prepare_lab
from maildiag.lab.zones import LAB_EGRESS
from maildiag.settings import Settings
from maildiag.sink.events import Broadcaster
from maildiag.sink.service import run_sink

CLIENTS = 8
SENDER = "do.not.reply@platform.visma.com"
ENVELOPE = "bounce+1@platform.visma.com"
RECIPIENT = "kari@kunde-ok.example"


MESSAGE_BYTES = 1500  # the signed message's size, as in the measurement
BODY_LINE = "Hei Kari, folg lenken for a sette nytt passord: https://konto.example.no/r/abc\r\n"


def _message(key_pem: bytes, selector: str) -> bytes:
    """A signed reset mail of about ``MESSAGE_BYTES`` octets (2048-bit RSA signature)."""
    head = (
        f"From: Visma <{SENDER}>\r\nTo: {RECIPIENT}\r\nSubject: Tilbakestill passordet\r\n"
        "Date: Thu, 26 Nov 2026 16:00:00 +0000\r\n"
        "Message-ID: <bench@platform.visma.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    body = ""
    while True:
        signed = sign_message(
            (head + body).encode(),
            domain="platform.visma.com",
            selector=selector,
            private_key=key_pem,
        )
        if len(signed) >= MESSAGE_BYTES:
            return signed
        body += BODY_LINE


class _BareHandler:
    """aiosmtpd handler that takes the PROXY header and accepts every message unread."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle_PROXY(
        self, server: SMTP, session: Session, envelope: Envelope, data: Any
    ) -> bool:
        return True

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.accepted += 1
        return "250 OK"


async def _client(port: int, count: int, message: bytes) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    ip = LAB_EGRESS["platform.visma.com"]
    sock.sendall(f"PROXY TCP4 {ip} 127.0.0.1 40000 25\r\n".encode())
    sock.setblocking(False)
    async with aiosmtplib.SMTP(
        sock=sock, start_tls=False, local_hostname="mail-out.platform.visma.com", timeout=120
    ) as client:
        for _ in range(count):
            await client.sendmail(ENVELOPE, [RECIPIENT], message)


def _client_process(port: int, per_client: int, message: bytes, result: Any) -> None:
    async def main() -> None:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(_client(port, per_client, message) for _ in range(CLIENTS)))
        result.put((time.perf_counter() - started, time.process_time() - cpu))

    asyncio.run(main())


def _fast_engine(url: str) -> sa.Engine:
    """SQLite in WAL mode without fsync (``synchronous=OFF``): for the memory run only."""
    engine = sa.create_engine(url)

    def pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    sa.event.listen(engine, "connect", pragmas)
    return engine


def _workers_cpu() -> float:
    """CPU so far of this process's live children (the judge's worker processes)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid():
                total += cpu_seconds(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total


@dataclass
class Phase:
    """One configuration's run: rate, messages per transaction, CPU ms per message."""

    stored: int
    seconds: float
    per_transaction: float
    sink_cpu_ms: float
    worker_cpu_ms: float
    client_cpu_ms: float
    samples: list[tuple[int, float]]

    @property
    def rate(self) -> float:
        return self.stored / self.seconds


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _drive(
    port: int,
    total: int,
    message: bytes,
    events: Broadcaster | None = None,
    *,
    sample_every: int = 0,
) -> tuple[float, float, list[tuple[int, float]]]:
    """Send ``total`` messages from the client process; seconds, client CPU, RSS samples.

    Every message is answered 250 only once it is stored, so the clients' time covers the
    storing. With ``events`` (the sink's, for the memory run) the RSS is sampled every
    ``sample_every`` stored messages; the rate runs pass none, so the sink process does no
    benchmark work of its own.
    """
    samples: list[tuple[int, float]] = [(0, _rss_mib())]
    result: Any = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(
        target=_client_process, args=(port, total // CLIENTS, message, result)
    )
    with contextlib.ExitStack() as stack:
        queue = stack.enter_context(events.subscribe()) if events is not None else None
        process.start()
        stored = 0
        while queue is not None and stored < total - total % CLIENTS:
            await queue.get()
            stored += 1
            if sample_every and stored % sample_every == 0:
                samples.append((stored, _rss_mib()))
                print(f"  stored {stored:>7}: RSS {samples[-1][1]:.1f} MiB", flush=True)
    elapsed, client_cpu = await asyncio.to_thread(result.get)
    await asyncio.to_thread(process.join)
    return float(elapsed), float(client_cpu), samples


async def _bare_phase(message: bytes, total: int) -> Phase:
    """The baseline: the same clients against a bare aiosmtpd server in this process."""
    handler = _BareHandler()

    def protocol() -> SMTP:
        return SMTP(handler, hostname="bare.localhost", proxy_protocol_timeout=30)

    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    try:
        cpu = time.process_time()
        elapsed, client_cpu, _ = await _drive(server.sockets[0].getsockname()[1], total, message)
        cpu = time.process_time() - cpu
    finally:
        server.close()
        await server.wait_closed()
    sent = total - total % CLIENTS
    assert handler.accepted == sent, (handler.accepted, sent)
    return Phase(sent, elapsed, 1.0, 1000 * cpu / sent, 0.0, 1000 * client_cpu / sent, [])


async def _phase(
    data: Path,
    keys: Any,
    dns: LabDnsServer,
    *,
    judge: bool,
    total: int,
    sample_every: int = 0,
    processes: int | Literal["auto"] = 0,
    durable: bool = True,
) -> Phase:
    db = Path(tempfile.mkdtemp(prefix="sink-bench-db-"))
    base = Settings(
        lab=True,
        data_dir=data,
        dns_port=dns.port,
        smtp_port=0,
        sink_judge=judge,
        sink_judge_processes=processes,
        database_url=f"sqlite:///{db / 'sink.sqlite3'}",
        sink_retention_count=0,
    )
    settings = lab_settings(base, keys)
    engine = create_engine(settings.database) if durable else _fast_engine(settings.database)

    def resolver() -> DnsPythonResolver:
        return DnsPythonResolver([dns.address], timeout=2.0)

    key = next(k for k in keys if k.domain == "platform.visma.com")
    message = _message(key.private_path.read_bytes(), key.selector)
    try:
        async with run_sink(settings, engine, resolver_factory=resolver) as sink:
            cpu, workers = time.process_time(), _workers_cpu()
            events = sink.events if sample_every else None
            elapsed, client_cpu, samples = await _drive(
                sink.proxy_port, total, message, events, sample_every=sample_every
            )
            cpu, workers = time.process_time() - cpu, _workers_cpu() - workers
            stored = await asyncio.to_thread(sink.store.count)
            assert stored == total - total % CLIENTS, (stored, total)
            transactions = sum(server.transactions for server in sink.servers)
            newest = (await asyncio.to_thread(sink.store.list, limit=1))[0]
            if judge:
                assert "dmarc=pass" in newest.authentication_results, newest.authentication_results
    finally:
        engine.dispose()
    return Phase(
        stored,
        elapsed,
        stored / max(1, transactions),
        1000 * cpu / stored,
        1000 * workers / stored,
        1000 * client_cpu / stored,
        samples,
    )


BARE = "bare aiosmtpd"
DEFAULT = "default (auto)"
TARGET = 0.25  # issue #11: the default sink at a quarter of the bare server, or more
RUNS: list[tuple[str, bool, int | Literal["auto"]]] = [
    (BARE, False, 0),  # the baseline: no sink at all (see _bare_phase)
    ("no-op judge", False, 0),
    ("judge in a thread", True, 0),
    ("judge in 1 process", True, 1),
    (DEFAULT, True, "auto"),
]


def _verdict(phases: dict[str, list[Phase]]) -> None:
    """The default sink against the target, and the rate its CPU per message allows at most."""
    bare = [p.rate for p in phases[BARE]]
    runs = phases[DEFAULT]
    ratio = statistics.median(p.rate / b for p, b in zip(runs, bare, strict=True))
    met = "met" if ratio >= TARGET else "NOT met"
    print(f"RESULT: default sink = {ratio:.2f} x bare aiosmtpd", end=" ")
    print(f"(median of the per-round ratios; target >= {TARGET:.2f}: {met})")
    cpu = statistics.median(p.sink_cpu_ms + p.worker_cpu_ms + p.client_cpu_ms for p in runs)
    server = statistics.median(p.sink_cpu_ms for p in runs)
    worker = statistics.median(p.worker_cpu_ms for p in runs)
    cores = os.cpu_count() or 1
    ceiling = 1000 * min(cores / cpu, 1 / server, 1 / worker)  # each process has one loop
    bare_server = statistics.median(p.sink_cpu_ms for p in phases[BARE])
    bare_all = statistics.median(p.sink_cpu_ms + p.client_cpu_ms for p in phases[BARE])
    bare_ceiling = 1000 * min(cores / bare_all, 1 / bare_server)
    print(
        f"CPU ceilings: default sink {cpu:.2f} ms per message in all (server {server:.2f}, judge"
        f" worker {worker:.2f}) = {ceiling:.0f} msg/s on {cores} cores; bare server"
        f" {bare_server:.2f} ms = {bare_ceiling:.0f} msg/s; ratio {ceiling / bare_ceiling:.2f}"
    )


def _report(phases: dict[str, list[Phase]], rounds: int) -> None:
    """The medians of every configuration; the ratio is the median of the per-round ratios."""
    print(
        f"{'median of ' + str(rounds):<20} {'msg/s':>6} {'/bare':>6} {'msg/txn':>7} "
        f"{'server ms':>9} {'judge ms':>8} {'client ms':>9}"
    )
    bare = [p.rate for p in phases[BARE]]
    for label, _, _ in RUNS:
        runs = phases[label]
        rate = statistics.median(p.rate for p in runs)
        ratio = statistics.median(p.rate / b for p, b in zip(runs, bare, strict=True))
        print(
            f"{label:<20} {rate:6.0f} {ratio:6.2f} "
            f"{statistics.median(p.per_transaction for p in runs):7.1f} "
            f"{statistics.median(p.sink_cpu_ms for p in runs):9.2f} "
            f"{statistics.median(p.worker_cpu_ms for p in runs):8.2f} "
            f"{statistics.median(p.client_cpu_ms for p in runs):9.2f}"
        )


async def main(messages: int, rounds: int, memory_messages: int, durable_memory_run: bool) -> None:
    data = Path(tempfile.mkdtemp(prefix="sink-bench-lab-"))
    keys, _zone = prepare_lab(data)
    key = next(k for k in keys if k.domain == "platform.visma.com")
    message = _message(key.private_path.read_bytes(), key.selector)
    print(f"message: {len(message)} bytes", flush=True)
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    async with LabDnsServer(_zone, port=0) as dns:
        phases: dict[str, list[Phase]] = {label: [] for label, _, _ in RUNS}
        for round_ in range(1, rounds + 1):
            for label, judge, processes in RUNS:
                if label == BARE:
                    phase = await _bare_phase(message, messages)
                else:
                    phase = await _phase(
                        data, keys, dns, judge=judge, total=messages, processes=processes
                    )
                phases[label].append(phase)
                ratio = phase.rate / phases[BARE][-1].rate
                print(
                    f"round {round_} {label:<20} {phase.stored} in {phase.seconds:5.1f} s "
                    f"= {phase.rate:4.0f} msg/s = {ratio:4.2f} x bare",
                    flush=True,
                )
        print(f"load average at the end: {os.getloadavg()}")
        if rounds:
            _report(phases, rounds)
            _verdict(phases)
        if memory_messages:
            phase = await _phase(
                data,
                keys,
                dns,
                judge=False,
                total=memory_messages,
                sample_every=10_000,
                durable=durable_memory_run,
            )
            samples = phase.samples
            took = f"{phase.seconds:.0f} s = {phase.rate:.0f} msg/s"
            print(f"memory run: {phase.stored} messages in {took}")
            print(f"RSS at start {samples[0][1]:.1f} MiB, at the end {samples[-1][1]:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="per configuration and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-messages", type=int, default=100_000)
    parser.add_argument(
        "--durable-memory-run", action="store_true", help="fsync every commit in the memory run"
    )
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds, args.memory_messages, args.durable_memory_run))
