"""The order in which the sender report's checks ask and handle answers: waves of jobs that
report when each has asked (and asked again after an answer), and a resolver that holds
answers back until a wave has advanced. Only the order depends on them, never a result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial

from diag.resolver import Answer, Resolver
from diag.senders.checks import Part

Starter = Callable[[], Coroutine[object, object, Part]]


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
