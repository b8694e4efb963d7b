"""The sink's JSON API under ``/api/v1/sink``: captured messages, their raw bytes, policies.

Store calls block, so they run in a worker thread. Bad ids and dates are 404/422 with a reason;
unusable policy entries are 422 naming the key. Nothing here parses untrusted mail beyond the
header list it returns.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import Field

from maildiag.web.sink_access import SinkViewer, sink_admin, sink_viewer
from maildiag.web.sink_reveal import shown_list, shown_message
from smtp_sink import (
    CapturedMessage,
    ConfigError,
    MessageNotFound,
    PolicyBook,
    SinkStore,
    StoreError,
    clean_text,
    parse_policies,
    parse_policy,
)

if TYPE_CHECKING:
    from maildiag.sinkservice import SinkHandle

router = APIRouter(prefix="/sink", tags=["sink"], dependencies=[Depends(sink_viewer)])
T = TypeVar("T")

MAX_HEADER_FIELDS = 200
MAX_HEADER_VALUE = 4000
MAX_POLICY_BODY = 64 * 1024
MAX_ID = 2**62
MessageId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
PositiveId = Annotated[int, Field(ge=1, le=MAX_ID)]


def sink_of(request: Request) -> SinkHandle:
    """The running sink's handle. Raises HTTPException(503) when this process runs no sink."""
    handle: SinkHandle | None = getattr(request.app.state.maildiag, "sink", None)
    if handle is None:
        raise HTTPException(503, "the SMTP sink does not run in this process")
    return handle


async def in_store(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
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
    parsed = BytesHeaderParser(policy=compat32).parsebytes(raw)
    fields: list[tuple[str, str]] = []
    for name, value in list(parsed.raw_items())[:MAX_HEADER_FIELDS]:
        text = value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        unfolded = " ".join(text.split())[:MAX_HEADER_VALUE]
        fields.append((clean_text(name), clean_text(unfolded)))
    return fields


def describe(message: CapturedMessage) -> dict[str, Any]:
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


def _summary(message: CapturedMessage) -> dict[str, Any]:
    data = message.as_json()
    data.pop("verdict", None)
    data["dmarc"] = message.verdict.get("dmarc_result", "none")
    return data


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@router.get("/messages", summary="List captured messages, newest first")
async def list_messages(
    request: Request,
    viewer: Annotated[SinkViewer, Depends(sink_viewer)],
    to: Annotated[str | None, Query(max_length=320, description="recipient address")] = None,
    sender: Annotated[str | None, Query(max_length=320)] = None,
    subject: Annotated[str | None, Query(max_length=998)] = None,
    since: Annotated[dt.datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[dt.datetime | None, Query(description="ISO 8601, exclusive")] = None,
    folder: Literal["inbox", "junk"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    store = sink_of(request).store
    found = await in_store(
        store.list,
        to=to or None,
        sender=sender or None,
        subject=subject or None,
        since=_utc(since),
        until=_utc(until),
        folder=folder,
        limit=limit,
        offset=offset,
    )
    found = await shown_list(request, viewer, found, "api.list")
    return {"messages": [_summary(m) for m in found], "limit": limit, "offset": offset}


@router.get(
    "/messages/{message_id}",
    summary="One captured message with its verdict (reset links masked below admin)",
)
async def get_message(
    request: Request,
    message_id: MessageId,
    viewer: Annotated[SinkViewer, Depends(sink_viewer)],
) -> dict[str, Any]:
    message = await load_message(sink_of(request).store, message_id)
    shown = await shown_message(request, viewer, message, "api.message")
    data = describe(shown.message)
    data["reset_links"] = {"found": shown.links, "masked": shown.masked}
    return data


@router.get(
    "/messages/{message_id}/raw",
    summary="The message as filed (RFC 5322 bytes, the sink's added header fields first)",
    description=(
        "An admin (or the token) gets the exact bytes, and the view is recorded when the "
        "message holds reset links. Below admin the message comes with each reset link's "
        "token masked, its parts written back in their transfer encodings (so a DKIM "
        "signature over it no longer verifies); X-Reset-Links-Masked says how many."
    ),
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)
async def get_raw(
    request: Request,
    message_id: MessageId,
    viewer: Annotated[SinkViewer, Depends(sink_viewer)],
) -> Response:
    message = await load_message(sink_of(request).store, message_id)
    shown = await shown_message(request, viewer, message, "api.raw")
    headers = {"Content-Disposition": f'attachment; filename="message-{message_id}.eml"'}
    if shown.masked:
        headers["X-Reset-Links-Masked"] = str(shown.links)
    return Response(shown.message.delivered_bytes, media_type="message/rfc822", headers=headers)


@router.delete(
    "/messages",
    summary="Delete messages: all, one mailbox (?to=) or by ?id=",
    dependencies=[Depends(sink_admin)],
)
async def delete_messages(
    request: Request,
    to: Annotated[str | None, Query(max_length=320)] = None,
    id: Annotated[list[PositiveId] | None, Query(max_length=500)] = None,
) -> dict[str, int]:
    store = sink_of(request).store
    if to and id:
        raise HTTPException(422, "give ?to= or ?id=, not both")
    if to:
        removed = await in_store(store.delete, mailbox=to)
    elif id:
        removed = await in_store(store.delete, id)
    else:
        removed = await in_store(store.delete, all_messages=True)
    return {"deleted": removed}


@router.get("/info", summary="Where the sink listens")
async def info(request: Request) -> dict[str, Any]:
    return sink_of(request).info()


@router.get("/policies", summary="The sink's recipient policies")
async def get_policies(request: Request) -> dict[str, Any]:
    return sink_of(request).policies.as_json()


async def _json_body(request: Request) -> Any:
    if int(request.headers.get("content-length") or 0) > MAX_POLICY_BODY:
        raise HTTPException(413, f"a policy document is at most {MAX_POLICY_BODY} bytes")
    body = await request.body()
    if len(body) > MAX_POLICY_BODY:
        raise HTTPException(413, f"a policy document is at most {MAX_POLICY_BODY} bytes")
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise HTTPException(422, f"not JSON: {exc}") from exc
    except RecursionError:
        raise HTTPException(422, "not JSON: nested too deeply") from None


def _replace(book: PolicyBook, new: PolicyBook) -> None:
    """Swap the live book's contents in place (the SMTP listeners hold this object)."""
    book.default = new.default
    book.domains.clear()
    book.domains.update(new.domains)
    book.addresses.clear()
    book.addresses.update(new.addresses)


@router.put(
    "/policies",
    summary="Replace every policy ({default, domains, addresses}, as in a policy file)",
    dependencies=[Depends(sink_admin)],
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def put_policies(request: Request) -> dict[str, Any]:
    handle = sink_of(request)
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise HTTPException(422, "expected an object {default, domains, addresses}")
    try:
        book = parse_policies(data, source="request")
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from exc
    _replace(handle.policies, book)
    return handle.policies.as_json()


@router.put(
    "/policies/{kind}/{name}",
    summary="Set the policy of one domain or one address",
    dependencies=[Depends(sink_admin)],
)
async def put_policy(
    request: Request,
    kind: Literal["domains", "addresses"],
    name: Annotated[str, PathParam(max_length=320)],
) -> dict[str, Any]:
    handle = sink_of(request)
    name = name.strip().lower()
    if not name or (kind == "addresses" and "@" not in name):
        raise HTTPException(422, f"not a {'domain' if kind == 'domains' else 'address'}: {name!r}")
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise HTTPException(422, "expected a policy object")
    try:
        policy = parse_policy(data, key=f"{kind}.{name}")
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from exc
    if kind == "domains":
        handle.policies.set_domain(name, policy)
    else:
        handle.policies.set_address(name, policy)
    return policy.as_json()


@router.delete(
    "/policies/{kind}/{name}",
    summary="Remove the policy of one domain or one address",
    dependencies=[Depends(sink_admin)],
)
async def delete_policy(
    request: Request,
    kind: Literal["domains", "addresses"],
    name: Annotated[str, PathParam(max_length=320)],
) -> dict[str, bool]:
    book = sink_of(request).policies
    table = book.domains if kind == "domains" else book.addresses
    key = name.strip().lower().rstrip(".") if kind == "domains" else name.strip().lower()
    existed = key in table
    table.pop(key, None)
    return {"removed": existed}


__all__ = ["describe", "header_fields", "in_store", "load_message", "router", "sink_of"]
