"""The order in which the sender report's checks ask and handle answers, chosen by the caller.

``WAVES`` (the default) runs the checks in waves: each check gets a resolver that reports when
it has asked (and asked again after an answer), and the one-level checks a resolver that holds
answers back until the chained checks have advanced. ``TOGETHER`` starts every check at once
with the caller's resolver. Only the order depends on the pacing, never a result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from diag.resolver import Answer, Resolver
from diag.senders.checks import Part

Starter = Callable[[], Coroutine[object, object, Part]]
Make = Callable[[Resolver], Coroutine[object, object, Part]]
Job = tuple[str, str, Coroutine[object, object, Part]]


@dataclass(frozen=True)
class Check:
    """One check of a report: the section and label of its part, and how it runs with a
    resolver. A ``chained`` check follows its answers to further lookups (DMARC discovery,
    SPF includes, PTR then A): the critical path."""

    section: str
    label: str
    run: Make
    chained: bool = False


@dataclass(frozen=True)
class Sample:
    """A sample mail: ``sign`` needs no DNS; ``verify`` checks the signed bytes once the check
    named ``after`` (section, label) has ended, whose key it asks for again."""

    section: str
    label: str
    sign: Callable[[], bytes | Part]
    verify: Callable[[bytes, Resolver], Coroutine[object, object, Part]]
    after: tuple[str, str]


class Pacing(Protocol):
    """Turns a report's checks into running jobs with ``resolver``."""

    def jobs(self, checks: Sequence[Check | Sample], resolver: Resolver) -> list[Job]: ...


class Together:
    """Every check at once, each with the caller's resolver."""

    def jobs(self, checks: Sequence[Check | Sample], resolver: Resolver) -> list[Job]:
        return [(c.section, c.label, _start(c, resolver)) for c in checks]


def _start(check: Check | Sample, resolver: Resolver) -> Coroutine[object, object, Part]:
    if isinstance(check, Check):
        return check.run(resolver)
    return _sample(check, resolver, None, None)


class Waves:
    """Three waves, so that the waiting overlaps the CPU work instead of following it:

    1. the chained checks: their questions go out first, so their answers come back first
       and are handled before the others;
    2. once each of those has asked, the one-level checks (DKIM keys, DNSBL, bounce MX),
       which handle their answers only once each chained check has sent its next level (or
       ended), so that those answers never delay the second level;
    3. once the one-level checks have asked too, the samples are signed (no DNS needed),
       while every first-level question is in flight; each is verified once the check it
       names has ended (its key record is then cached).
    """

    def jobs(self, checks: Sequence[Check | Sample], resolver: Resolver) -> list[Job]:
        chain = Wave(resolver)
        single = Wave(GatedResolver(resolver, chain.advanced))
        ended = {s.after: asyncio.Event() for s in checks if isinstance(s, Sample)}
        jobs: list[Job] = []
        for c in checks:
            if isinstance(c, Check) and c.chained:
                jobs.append((c.section, c.label, chain.job(c.run)()))
        for c in checks:
            if isinstance(c, Check) and not c.chained:
                done = ended.get((c.section, c.label))
                jobs.append((c.section, c.label, run_after(chain.asked, single.job(c.run), done)))
        for c in checks:
            if isinstance(c, Sample):
                jobs.append(
                    (c.section, c.label, _sample(c, resolver, single.asked, ended[c.after]))
                )
        return jobs


async def _sample(
    sample: Sample, resolver: Resolver, ready: asyncio.Event | None, ended: asyncio.Event | None
) -> Part:
    """Sign once ``ready`` is set; verify once ``ended`` is (either None: at once)."""
    if ready is not None:
        await ready.wait()
    signed = sample.sign()
    if not isinstance(signed, bytes):
        return signed
    if ended is not None:
        await ended.wait()
    return await sample.verify(signed, resolver)


WAVES = Waves()
TOGETHER = Together()


class Wave:
    """Jobs started together. ``asked`` is set once each has made its first query (or ended);
    ``advanced`` once each has asked again after an answer came back (or ended): for the
    chained checks, once their next level is in flight.

    Each job gets a resolver that reports this; ``job`` counts the job at once, so neither
    event can be set before every job of the wave has started. Only the order in which
    lookups are sent and answers handled depends on them, never a result.
    """

    def __init__(self, resolver: Resolver) -> None:
        self.asked = asyncio.Event()
        self.advanced = asyncio.Event()
        self._resolver = resolver
        self._silent = 0
        self._behind = 0

    def job(self, make: Callable[[Resolver], Coroutine[object, object, Part]]) -> Starter:
        """Count a job of this wave now; the returned callable starts it."""
        self._silent += 1
        self._behind += 1
        return partial(self._run, make)

    async def _run(self, make: Callable[[Resolver], Coroutine[object, object, Part]]) -> Part:
        tracking = TrackingResolver(self._resolver, self._heard, self._moved)
        try:
            return await make(tracking)
        finally:
            tracking.end()

    def _heard(self) -> None:
        self._silent -= 1
        if self._silent <= 0:
            self.asked.set()

    def _moved(self) -> None:
        self._behind -= 1
        if self._behind <= 0:
            self.advanced.set()


class TrackingResolver:
    """Passes every query on; calls ``on_first`` at the first query and ``on_advance`` at the
    first query made after an answer came back (each once, and both at ``end``)."""

    def __init__(
        self, inner: Resolver, on_first: Callable[[], None], on_advance: Callable[[], None]
    ) -> None:
        self._inner = inner
        self._on_first: Callable[[], None] | None = on_first
        self._on_advance: Callable[[], None] | None = on_advance
        self._answered = False

    def end(self) -> None:
        self._first()
        self._advance()

    def _first(self) -> None:
        if self._on_first is not None:
            on_first, self._on_first = self._on_first, None
            on_first()

    def _advance(self) -> None:
        if self._on_advance is not None:
            on_advance, self._on_advance = self._on_advance, None
            on_advance()

    async def query(self, name: str, rdtype: str) -> Answer:
        self._first()
        if self._answered:
            self._advance()
        answer = await self._inner.query(name, rdtype)
        self._answered = True
        return answer


class GatedResolver:
    """Hands each answer over only once ``gate`` is set: the one-level checks handle their
    answers after the chained checks have sent their next level, not before."""

    def __init__(self, inner: Resolver, gate: asyncio.Event) -> None:
        self._inner = inner
        self._gate = gate

    async def query(self, name: str, rdtype: str) -> Answer:
        answer = await self._inner.query(name, rdtype)
        await self._gate.wait()
        return answer


async def run_after(
    ready: asyncio.Event, start: Starter, done: asyncio.Event | None = None
) -> Part:
    """Run the job ``start`` makes once ``ready`` is set; set ``done`` however it ends."""
    try:
        await ready.wait()
        return await start()
    finally:
        if done is not None:
            done.set()
