"""Server-sent events: the ``text/event-stream`` response relaying a ``Broadcaster``.

The wire format follows the HTML Living Standard, "Server-sent events" §9.2.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import StreamingResponse

from maildiag.sink.events import Broadcaster, Event

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 3000  # the client's reconnection time (the "retry:" field)


async def _stream(
    request: Request, broadcaster: Broadcaster, keepalive: float
) -> AsyncIterator[bytes]:
    with broadcaster.subscribe() as queue:
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        while not await request.is_disconnected():
            try:
                event = await asyncio.wait_for(queue.get(), timeout=keepalive)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            yield event.encode()


def event_stream(
    request: Request, broadcaster: Broadcaster, *, keepalive: float = KEEPALIVE_SECONDS
) -> StreamingResponse:
    """A ``text/event-stream`` response relaying ``broadcaster``'s events until disconnect."""
    return StreamingResponse(
        _stream(request, broadcaster, keepalive),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


__all__ = ["Broadcaster", "Event", "event_stream"]
