"""Greylisting state: the (client IP, sender, recipient) triplets the sink has seen.

The first ``attempts`` tries of a triplet within ``window`` seconds get a temporary failure;
later tries are accepted (the usual greylisting shape, RFC 6647 §2.1). State lives in the
instance, and the clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Triplet = tuple[str, str, str]
MAX_ENTRIES = 100_000


@dataclass
class _Entry:
    first_seen: float
    attempts: int


class Greylist:
    """Counts attempts per triplet and says whether this one must be deferred."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[Triplet, _Entry] = {}

    def defer(self, triplet: Triplet, *, attempts: int, window: float) -> bool:
        """Record one attempt; True when it falls within the first ``attempts`` of the window."""
        now = self._clock()
        key = (triplet[0], triplet[1].lower(), triplet[2].lower())
        entry = self._entries.get(key)
        if entry is None or now - entry.first_seen > window:
            if len(self._entries) >= MAX_ENTRIES:
                self._expire(now, window)
            entry = self._entries[key] = _Entry(first_seen=now, attempts=0)
        entry.attempts += 1
        return entry.attempts <= attempts

    def _expire(self, now: float, window: float) -> None:
        stale = [k for k, e in self._entries.items() if now - e.first_seen > window]
        for key in stale or list(self._entries)[: MAX_ENTRIES // 2]:
            del self._entries[key]
