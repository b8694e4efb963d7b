"""In-process event fan-out: the sink announces stored and deleted messages here, and the
web app relays them as server-sent events (``maildiag.web.sse``).

The broadcaster lives on one event loop; publishers on other threads (the sink's store runs in
a worker thread) use ``publish_threadsafe`` or ``publish_all_threadsafe``. A slow subscriber
loses its oldest events rather than growing memory (bounded queues).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from smtp_sink import JsonObject, JsonValue

log = logging.getLogger(__name__)

QUEUE_SIZE = 100


@dataclass(frozen=True)
class Event:
    """One event: its type (the ``event:`` field) and JSON data."""

    name: str
    data: JsonObject

    def encode(self) -> bytes:
        """The event on the wire: ``event:`` and one ``data:`` line, then a blank line."""
        payload = json.dumps(self.data, separators=(",", ":"), ensure_ascii=True)
        return f"event: {self.name}\ndata: {payload}\n\n".encode()


class Broadcaster:
    """Fan-out of events to every current subscriber (one queue each)."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self._queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def subscribers(self) -> int:
        """How many subscribers are listening now."""
        return len(self._queues)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that ``publish_threadsafe`` hands events to."""
        self._loop = loop

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[Event]]:
        """A queue receiving every event published while the block runs."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def publish(self, name: str, **data: JsonValue) -> None:
        """Send an event to every subscriber (call on the broadcaster's loop)."""
        event = Event(name, data)
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()  # drop the oldest: the page only needs "changed"
            queue.put_nowait(event)

    def publish_threadsafe(self, name: str, **data: JsonValue) -> None:
        """``publish`` from any thread; dropped when no loop is bound or it has closed."""
        self.publish_all_threadsafe([Event(name, data)])

    def publish_all_threadsafe(self, events: Sequence[Event]) -> None:
        """``publish`` each event, in order, from any thread, waking the loop once for all."""
        loop = self._loop
        if not events or loop is None or loop.is_closed():
            return

        def publish_all() -> None:
            for event in events:
                self.publish(event.name, **event.data)

        try:
            loop.call_soon_threadsafe(publish_all)
        except RuntimeError:  # the loop closed between the check and the call
            log.debug("sse.publish_dropped events=%d", len(events))


__all__ = ["Broadcaster", "Event"]
