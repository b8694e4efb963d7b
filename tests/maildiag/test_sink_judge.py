"""The sink's judge never runs on the event loop that answers SMTP and HTTP: with no worker
process (``sink_judge_processes = 0``), and when the workers cannot start, a thread judges.

The judge's resolver is held at its first query, blocking the thread it runs in as a long
verification would; a second client's NOOP must be answered before it is let go. Order is
compared, never time: the waits' bounds only keep a broken sink from hanging the test.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from diag.resolver import Answer, Resolver
from maildiag.lab.kit import LabKey, prepare_lab
from maildiag.sink.judge import ThreadJudge
from smtp_sink import EnvelopeFacts, Verdict
from tests.maildiag.sink_lab import lab_sink, make_message

OUTSIDER = "tester@lab-tests.example"
TO = "kari@kunde-ok.example"
BOUND = 20.0  # seconds: only a guard against a hang


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LabKey], Any]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    return data, keys, zone


class HeldResolver:
    """The lab's resolver, whose first query blocks its thread until ``release`` is set."""

    def __init__(self, inner: Resolver, gate: Gate) -> None:
        self.inner = inner
        self.gate = gate

    async def query(self, name: str, rdtype: str) -> Answer:
        self.gate.threads.add(threading.get_ident())
        if not self.gate.held.is_set():
            self.gate.held.set()
            released = self.gate.release.wait(BOUND)  # blocks, as CPU-bound work would
            self.gate.order.append("judge released" if released else "judge gave up waiting")
        return await self.inner.query(name, rdtype)


class Gate:
    def __init__(self) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.order: list[str] = []
        self.threads: set[int] = set()

    def wrap(self, resolver: Resolver) -> Resolver:
        return HeldResolver(resolver, self)


async def _send(port: int) -> Any:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        return await client.sendmail(OUTSIDER, [TO], make_message(OUTSIDER, TO))


async def _noop_while_judging(port: int, gate: Gate) -> None:
    """Send a message; while its judge is held, a second client's EHLO and NOOP."""
    sending = asyncio.create_task(_send(port))
    try:
        assert await asyncio.to_thread(gate.held.wait, BOUND)
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as other:
            await other.ehlo()
            code, _ = await other.noop()
        gate.order.append(f"noop answered {code}")
    finally:
        gate.release.set()
        await sending


@pytest.mark.parametrize("workers", ["none configured", "cannot start"])
async def test_the_judge_runs_in_a_thread_while_the_loop_answers_smtp(
    lab_data: tuple[Path, list[LabKey], Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
) -> None:
    data, keys, zone = lab_data
    gate = Gate()
    processes = 0
    if workers == "cannot start":
        monkeypatch.setattr(sys, "executable", "/bin/false")  # every worker exits at once
        processes = 1
    async with lab_sink(
        data, keys, zone, tmp_path, wrap_resolver=gate.wrap, sink_judge_processes=processes
    ) as lab:
        await _noop_while_judging(lab.sink.port, gate)
        [stored] = await asyncio.to_thread(lab.sink.store.list, to=TO)
    assert gate.order == ["noop answered 250", "judge released"]
    assert threading.get_ident() not in gate.threads
    assert stored.authentication_results.startswith("sink.maildiag.localhost; spf=none")
    assert "judge_error" not in stored.verdict["data"]


FACTS = EnvelopeFacts(client_ip="192.0.2.1", helo="x.example", mail_from="", rcpt_tos=())


async def test_thread_judge_cancels_a_judgment_whose_caller_went_away() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def slow(raw: bytes, facts: EnvelopeFacts) -> Verdict:
        started.set()
        try:
            await asyncio.sleep(BOUND)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Verdict(authentication_results="x; none")

    judge = ThreadJudge(slow)
    try:
        pending = asyncio.create_task(judge(b"", FACTS))
        assert await asyncio.to_thread(started.wait, BOUND)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert await asyncio.to_thread(cancelled.wait, BOUND)
    finally:
        await judge.aclose()
    assert judge.thread_id != threading.get_ident()


async def test_thread_judge_lets_only_its_bound_of_judgments_in() -> None:
    inside: list[int] = []
    most = 0
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def counted(raw: bytes, facts: EnvelopeFacts) -> Verdict:
        nonlocal most
        inside.append(1)
        most = max(most, len(inside))
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(release.wait(), loop))
        inside.pop()
        return Verdict(authentication_results="x; none")

    judge = ThreadJudge(counted, concurrency=2)
    try:
        calls = [asyncio.create_task(judge(b"", FACTS)) for _ in range(5)]
        for _ in range(int(BOUND / 0.01)):
            if len(inside) >= 2:
                break
            await asyncio.sleep(0.01)
        for _ in range(20):  # turns of both loops in which a third could get in
            await asyncio.sleep(0.005)
        assert (len(inside), most) == (2, 2)
        release.set()
        verdicts = await asyncio.gather(*calls)
    finally:
        await judge.aclose()
    assert most == 2
    assert [v.authentication_results for v in verdicts] == ["x; none"] * 5
