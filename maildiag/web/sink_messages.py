"""Reading the sink's store for the sink's pages and API: the running sink, store calls off
the event loop (503 when the store fails, 404 for a missing message), one message as the API
shows it, and times taken in UTC.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import sqlalchemy as sa
from fastapi import HTTPException, Request

from diag.jsonvalue import JsonObject
from maildiag.web import deps
from smtp_sink import (
    CapturedMessage,
    MessageNotFound,
    SinkStore,
    StoreError,
    clean_text,
    header_block,
)

if TYPE_CHECKING:
    from maildiag.sink.service import SinkHandle

T = TypeVar("T")
P = ParamSpec("P")

MAX_HEADER_FIELDS = 200
MAX_HEADER_VALUE = 4000
MAX_ID = 2**62


def sink_of(request: Request) -> SinkHandle:
    """The running sink's handle. Raises HTTPException(503) when this process runs no sink."""
    handle: SinkHandle | None = deps.sink(request)
    if handle is None:
        raise HTTPException(503, "the SMTP sink does not run in this process")
    return handle


async def in_store(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking store call in a thread. Raises HTTPException(503) when the store fails."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except MessageNotFound:
        raise
    except (StoreError, sa.exc.SQLAlchemyError) as exc:
        raise HTTPException(503, "the message store is not available; try again") from exc


async def load_message(store: SinkStore, message_id: int) -> CapturedMessage:
    """The stored message. Raises HTTPException(404) when there is none."""
    try:
        return await in_store(store.get, message_id)
    except MessageNotFound as exc:
        raise HTTPException(404, f"no stored message with id {message_id}") from exc


def header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The message's header fields in order, unfolded and decoded leniently; bounded."""
    parsed = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    fields: list[tuple[str, str]] = []
    for name, value in list(parsed.raw_items())[:MAX_HEADER_FIELDS]:
        text = value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        unfolded = " ".join(text.split())[:MAX_HEADER_VALUE]
        fields.append((clean_text(name), clean_text(unfolded)))
    return fields


def describe(message: CapturedMessage) -> JsonObject:
    """One message as the API shows it: envelope, peer, verdict, mailboxes, headers, sizes."""
    data = message.as_json()
    delivered = message.delivered_bytes
    end = delivered.find(b"\r\n\r\n")
    header_size = end + 4 if end >= 0 else len(delivered)
    data["headers"] = [{"name": n, "value": v} for n, v in header_fields(delivered)]
    data["sizes"] = {
        "raw": message.size,
        "delivered": len(delivered),
        "headers": header_size,
        "body": len(delivered) - header_size,
    }
    return data


def in_utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC (a naive time is taken as UTC). Raises ValueError when UTC cannot hold
    it: an offset that moves the first or the last day of the calendar past its end."""
    try:
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    except OverflowError:
        raise ValueError("the time is out of the range of dates") from None
