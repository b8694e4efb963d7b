"""Benchmark of the SMTP sink service (not a test): run ``python -m bench.sink``.

The sink runs as ``maildiag serve --lab`` runs it (``maildiag.sinkservice.run_sink`` on the lab
zone served by the lab DNS server, SQLite in WAL mode with ``synchronous=FULL``, one commit per
message). Eight SMTP clients in a separate process send small DKIM-signed messages over the
PROXY listener from the healthy sender's egress IP, several transactions per connection.

1. throughput with verdicts (``diag.authenticate``: SPF, DKIM, DMARC, ARC) and durable storage;
2. the same server with the no-op judge (``sink_judge = false``), in the same run: the ratio
   is the cost of judging;
3. memory: the sink's RSS, sampled every 10,000 stored messages while 100,000 small messages
   are stored with the no-op judge (with verdicts 100,000 would take several minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import sqlalchemy as sa

from diag.dkim import sign_message
from diag.resolver import DnsPythonResolver
from maildiag.db import create_engine
from maildiag.lab.dns import LabDnsServer
from maildiag.lab.zones import LAB_EGRESS
from maildiag.labkit import lab_settings, prepare_lab
from maildiag.settings import Settings
from maildiag.sinkservice import SinkHandle, run_sink

CLIENTS = 8
SENDER = "do.not.reply@platform.visma.com"
ENVELOPE = "bounce+1@platform.visma.com"
RECIPIENT = "kari@kunde-ok.example"


def _message(key_pem: bytes, selector: str) -> bytes:
    text = (
        f"From: Visma <{SENDER}>\r\nTo: {RECIPIENT}\r\nSubject: Tilbakestill passordet\r\n"
        "Message-ID: <bench@platform.visma.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hei Kari, folg lenken for a sette nytt passord.\r\n"
    ).encode()
    return sign_message(text, domain="platform.visma.com", selector=selector, private_key=key_pem)


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
        started = time.perf_counter()
        await asyncio.gather(*(_client(port, per_client, message) for _ in range(CLIENTS)))
        result.put(time.perf_counter() - started)

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


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _drive(
    sink: SinkHandle, total: int, message: bytes, *, sample_every: int = 0
) -> tuple[float, list[tuple[int, float]]]:
    """Send ``total`` messages from the client process; seconds taken and RSS samples."""
    samples: list[tuple[int, float]] = [(0, _rss_mib())]
    result: Any = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(
        target=_client_process, args=(sink.proxy_port, total // CLIENTS, message, result)
    )
    with sink.events.subscribe() as queue:
        process.start()
        stored = 0
        while stored < total - total % CLIENTS:
            await queue.get()
            stored += 1
            if sample_every and stored % sample_every == 0:
                samples.append((stored, _rss_mib()))
                print(f"  stored {stored:>7}: RSS {samples[-1][1]:.1f} MiB", flush=True)
    elapsed = float(await asyncio.to_thread(result.get))
    await asyncio.to_thread(process.join)
    return elapsed, samples


async def _phase(
    data: Path,
    keys: Any,
    zone: Any,
    dns: LabDnsServer,
    *,
    judge: bool,
    total: int,
    sample_every: int = 0,
    processes: int = 0,
    durable: bool = True,
) -> tuple[float, list[tuple[int, float]], int]:
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
            elapsed, samples = await _drive(sink, total, message, sample_every=sample_every)
            stored = await asyncio.to_thread(sink.store.count)
            newest = (await asyncio.to_thread(sink.store.list, limit=1))[0]
            if judge:
                assert "dmarc=pass" in newest.authentication_results, newest.authentication_results
    finally:
        engine.dispose()
    return elapsed, samples, stored


async def main(messages: int, memory_messages: int, durable_memory_run: bool) -> None:
    data = Path(tempfile.mkdtemp(prefix="sink-bench-lab-"))
    keys, zone = prepare_lab(data)
    async with LabDnsServer(zone, port=0) as dns:
        runs = [("verdicts, judge on the loop", True, 0), ("verdicts, judge in 1 process", True, 1)]
        runs.append(("no-op judge", False, 0))
        rates: dict[str, float] = {}
        for label, judge, processes in runs:
            took, _, stored = await _phase(
                data, keys, zone, dns, judge=judge, total=messages, processes=processes
            )
            rates[label] = stored / took
            print(f"{label:<30} {stored} messages in {took:5.1f} s = {rates[label]:4.0f} msg/s")
        for label, _, _ in runs[:2]:
            print(f"ratio {label} / no-op: {rates[label] / rates['no-op judge']:.2f}")
        if memory_messages:
            took, samples, stored = await _phase(
                data,
                keys,
                zone,
                dns,
                judge=False,
                total=memory_messages,
                sample_every=10_000,
                durable=durable_memory_run,
            )
            print(f"memory run: {stored} messages in {took:.0f} s = {stored / took:.0f} msg/s")
            print(f"RSS at start {samples[0][1]:.1f} MiB, at the end {samples[-1][1]:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--memory-messages", type=int, default=100_000)
    parser.add_argument(
        "--durable-memory-run", action="store_true", help="fsync every commit in the memory run"
    )
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.memory_messages, args.durable_memory_run))
