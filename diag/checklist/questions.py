"""When the checklist's first DNS questions are out: the moment its other work may start.

That other work (a caller's session read, the account read, where our own mails were filed)
runs in worker threads. A worker thread that holds the GIL while the event loop still has
questions to send delays each send by up to the interpreter's switch interval (5 ms), and every
answer by as much; started once the questions are out, the same work runs while the loop waits
for the answers. This module counts questions and loop turns; it never reads a clock.
"""

from __future__ import annotations

import asyncio

from diag.resolver import Answer, Resolver

QUIET_TURNS = 3  # loop turns without a new question before the first questions count as out
MAX_TURNS = 64  # a bound: lookups that keep asking (instant answers) do not hold the work back


class CountingResolver:
    """``resolver``, counting the questions asked through it (a ``diag.resolver.Resolver``)."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.asked = 0
        self.answered = 0  # questions that came back, answered or failed

    async def query(self, name: str, rdtype: str) -> Answer:
        """``resolver.query(name, rdtype)``; raises what it raises."""
        self.asked += 1
        try:
            return await self.resolver.query(name, rdtype)
        finally:
            self.answered += 1


async def first_questions_out(
    resolver: CountingResolver, *, quiet: int = QUIET_TURNS, turns: int = MAX_TURNS
) -> None:
    """Return once ``quiet`` turns of the event loop in a row have passed without a new question
    through ``resolver`` after at least one was asked (a question asked in one turn is sent in
    the next, so the lookups started so far then wait for their answers), as soon as one
    question has come back (the answers are quick: nothing is gained by waiting), or after
    ``turns`` turns in all."""
    seen, still = 0, 0
    for _ in range(turns):
        await asyncio.sleep(0)
        if resolver.answered:
            return
        still = still + 1 if resolver.asked == seen and seen > 0 else 0
        if still >= quiet:
            return
        seen = resolver.asked


__all__ = ["MAX_TURNS", "QUIET_TURNS", "CountingResolver", "first_questions_out"]
