"""The sender report's ordering helpers: when a wave of checks has asked, and has advanced to its
next level, and how the one-level checks' answers wait for that."""

from __future__ import annotations

import asyncio

from diag.resolver import TXT, Answer, MemoryResolver, Resolver, ZoneData
from diag.senders.checks import Part
from diag.senders.waves import GatedResolver, Wave

ZONE: ZoneData = {name: {"TXT": [TXT((b"x",))]} for name in ("a.test", "b.test", "c.test")}


async def test_a_wave_advances_once_each_job_asks_again_after_an_answer_or_ends() -> None:
    wave = Wave(MemoryResolver(ZONE))
    step = asyncio.Event()

    async def two_levels(resolver: Resolver) -> Part:
        await resolver.query("a.test", "TXT")
        await step.wait()
        await resolver.query("b.test", "TXT")
        return Part("two", "levels")

    async def one_level(resolver: Resolver) -> Part:
        await resolver.query("c.test", "TXT")
        return Part("one", "level")

    starts = [wave.job(two_levels), wave.job(one_level)]
    assert not wave.asked.is_set()
    first = asyncio.ensure_future(starts[0]())
    await asyncio.sleep(0)
    assert not wave.asked.is_set()  # the second job has not asked yet
    second = asyncio.ensure_future(starts[1]())
    await second
    assert wave.asked.is_set()
    assert not wave.advanced.is_set()  # the first job has its answer but has not asked again
    step.set()
    await first
    assert wave.advanced.is_set()


async def test_a_failing_job_still_counts_as_asked_and_advanced() -> None:
    wave = Wave(MemoryResolver(ZONE))

    async def fails(resolver: Resolver) -> Part:
        raise RuntimeError("before any query")

    task = asyncio.ensure_future(wave.job(fails)())
    await asyncio.gather(task, return_exceptions=True)
    assert wave.asked.is_set()
    assert wave.advanced.is_set()


async def test_gated_answers_are_handed_over_only_once_the_gate_opens() -> None:
    gate = asyncio.Event()
    resolver = GatedResolver(MemoryResolver(ZONE), gate)
    query = asyncio.ensure_future(resolver.query("a.test", "TXT"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not query.done()
    gate.set()
    answer: Answer = await query
    assert answer.texts == ("x",)
