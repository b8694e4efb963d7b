"""Durability: a sink process killed with SIGKILL loses no message it answered 250 for.

Concurrent clients send 200 distinct messages to ``python -m smtp_sink._runner``; the process
is killed at a random point; after a restart, the clients retry what was not acknowledged,
and every acknowledged message must be in the store byte for byte.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import aiosmtplib
import pytest

from smtp_sink import SinkStore, create_store_engine

REPO = Path(__file__).resolve().parents[2]
MESSAGES = 200
CLIENTS = 8


async def start_runner(db: Path) -> tuple[asyncio.subprocess.Process, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smtp_sink._runner",
        "--port",
        "0",
        "--db",
        str(db),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    assert line.startswith(b"PORT "), line
    return process, int(line.split()[1])


def make_message(i: int, rng: random.Random) -> bytes:
    body = "".join(
        f"line {n} of message {i}: {'z' * rng.randint(0, 300)}\r\n"
        for n in range(rng.randint(1, 40))
    )
    if i % 5 == 0:
        body = ".leading dot\r\n" + body
    return (
        f"From: sender{i % 7}@platform.visma.example\r\nTo: kari@kunde-ok.example\r\n"
        f"Subject: durability {i}\r\nMessage-ID: <dur-{i}@platform.visma.example>\r\n\r\n{body}"
    ).encode()


async def client(
    port: int,
    todo: asyncio.Queue[int],
    sent: dict[int, bytes],
    acked: set[int],
    on_ack: asyncio.Event,
    kill_after: int,
) -> None:
    while not todo.empty():
        i = todo.get_nowait()
        try:
            await aiosmtplib.send(
                sent[i],
                sender=f"sender{i % 7}@platform.visma.example",
                recipients=["kari@kunde-ok.example"],
                hostname="127.0.0.1",
                port=port,
                start_tls=False,
                timeout=10,
            )
        except (aiosmtplib.SMTPException, OSError):
            todo.put_nowait(i)  # not acknowledged: retry after the restart
            return
        acked.add(i)
        if len(acked) >= kill_after:
            on_ack.set()


@pytest.mark.slow
async def test_sigkill_loses_no_acknowledged_message(tmp_path: Path) -> None:
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    db = tmp_path / "durable.db"
    sent = {i: make_message(i, rng) for i in range(MESSAGES)}
    todo: asyncio.Queue[int] = asyncio.Queue()
    for i in range(MESSAGES):
        todo.put_nowait(i)
    acked: set[int] = set()
    kill_after = rng.randint(10, MESSAGES - 60)
    reached = asyncio.Event()

    process, port = await start_runner(db)
    try:
        clients = [
            asyncio.create_task(client(port, todo, sent, acked, reached, kill_after))
            for _ in range(CLIENTS)
        ]
        await asyncio.wait_for(reached.wait(), 60)
        await asyncio.sleep(rng.uniform(0, 0.02))
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await asyncio.gather(*clients)
        acked_before_kill = set(acked)
        assert len(acked_before_kill) < MESSAGES, f"seed={seed}: nothing was in flight"

        process, port = await start_runner(db)
        await asyncio.gather(
            *(client(port, todo, sent, acked, reached, MESSAGES + 1) for _ in range(CLIENTS))
        )
        assert acked == set(range(MESSAGES)), f"seed={seed}"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 20)

    engine = create_store_engine(db)
    try:
        stored = SinkStore(engine).list(limit=500)
    finally:
        engine.dispose()
    by_id: dict[str, list[bytes]] = {}
    for item in stored:
        by_id.setdefault(item.summary.message_id, []).append(item.raw)
    for i in range(MESSAGES):
        copies = by_id.get(f"<dur-{i}@platform.visma.example>", [])
        # a message in flight at the kill may be stored twice (at-least-once), never lost
        assert copies, f"seed={seed}: message {i} acknowledged but lost"
        assert all(c == sent[i] for c in copies), f"seed={seed}: message {i} changed"
    assert len(stored) <= MESSAGES + CLIENTS


async def test_runner_applies_a_policy_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    policies = tmp_path / "policies.toml"
    policies.write_text('[addresses."kari@kunde-ukjent.example"]\npreset = "user_unknown"\n')
    db = tmp_path / "runner.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smtp_sink._runner",
        "--port",
        "0",
        "--db",
        str(db),
        "--policies",
        str(policies),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        port = int((await asyncio.wait_for(process.stdout.readline(), 20)).split()[1])
        errors, _ = await aiosmtplib.send(
            make_message(1, random.Random(1)),
            sender="a@x.example",
            recipients=["kari@kunde-ukjent.example", "ola@kunde-ukjent.example"],
            hostname="127.0.0.1",
            port=port,
            start_tls=False,
        )
        assert errors["kari@kunde-ukjent.example"][0] == 550
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    engine = create_store_engine(db)
    try:
        assert SinkStore(engine).list()[0].rcpt_tos == ("ola@kunde-ukjent.example",)
    finally:
        engine.dispose()
