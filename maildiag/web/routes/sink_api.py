"""The sink's JSON API under ``/api/v1/sink``: captured messages, their raw bytes, policies.

Store calls block, so they run in a worker thread. Bad ids and dates are 404/422 with a reason;
unusable policy entries are 422 naming the key. Nothing here parses untrusted mail beyond the
header list it returns, which is made off the event loop and cached (``sink_render``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import AfterValidator, Field

from diag.jsonvalue import JsonObject
from maildiag.sink.records import forget_policies, save_book, save_policy
from maildiag.web import deps
from maildiag.web.sink_access import SinkViewer, sink_admin, sink_viewer
from maildiag.web.sink_messages import MAX_ID, describe, in_store, in_utc, load_message, sink_of
from maildiag.web.sink_reveal import shown_list, shown_message
from smtp_sink import (
    CapturedMessage,
    ConfigError,
    Policy,
    PolicyBook,
    parse_policies,
    parse_policy,
)

if TYPE_CHECKING:
    from maildiag.sink.service import SinkHandle

router = APIRouter(prefix="/sink", tags=["sink"], dependencies=[Depends(sink_viewer)])
MAX_POLICY_BODY = 64 * 1024
MessageId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
PositiveId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _plain(data: Mapping[str, object]) -> dict[str, object]:
    """A JSON object as an endpoint returns it: FastAPI documents ``dict[str, object]`` as an
    object of any values (it cannot model the recursive JSON type)."""
    return dict(data)


def _summary(message: CapturedMessage) -> JsonObject:
    data = message.as_json()
    data.pop("verdict", None)
    data["dmarc"] = message.verdict.get("dmarc_result", "none")
    return data


UtcMoment = Annotated[dt.datetime, AfterValidator(in_utc)]


@router.get("/messages", summary="List captured messages, newest first")
async def list_messages(
    request: Request,
    viewer: Annotated[SinkViewer, Depends(sink_viewer)],
    to: Annotated[str | None, Query(max_length=320, description="recipient address")] = None,
    sender: Annotated[str | None, Query(max_length=320)] = None,
    subject: Annotated[str | None, Query(max_length=998)] = None,
    since: Annotated[UtcMoment | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[UtcMoment | None, Query(description="ISO 8601, exclusive")] = None,
    folder: Literal["inbox", "junk"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, object]:
    store = sink_of(request).store
    found = await in_store(
        store.list,
        to=to or None,
        sender=sender or None,
        subject=subject or None,
        since=since,
        until=until,
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
) -> dict[str, object]:
    message = await load_message(sink_of(request).store, message_id)
    shown = await shown_message(request, viewer, message, "api.message")
    data = await deps.sink_views(request).details(shown.message, describe, masked=shown.masked)
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
async def info(request: Request) -> dict[str, object]:
    return _plain(sink_of(request).info())


@router.get("/policies", summary="The sink's recipient policies")
async def get_policies(request: Request) -> dict[str, object]:
    return _plain(sink_of(request).policies.as_json())


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


Admin = Annotated[SinkViewer, Depends(sink_admin)]
PolicyKind = Literal["domains", "addresses"]
PolicyName = Annotated[str, PathParam(max_length=320)]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _entry_key(kind: str, name: str) -> str:
    """The book's key for ``name``. Raises HTTPException(422) for an unusable one."""
    key = name.strip().lower()
    key = key.rstrip(".") if kind == "domains" else key
    if not key or (kind == "addresses" and "@" not in key):
        raise HTTPException(422, f"not a {'domain' if kind == 'domains' else 'address'}: {key!r}")
    return key


@router.put(
    "/policies",
    summary="Replace every policy ({default, domains, addresses}, as in a policy file)",
    description="Kept in the database over the defaults (so it outlasts a restart) and audited.",
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def put_policies(request: Request, viewer: Admin) -> dict[str, object]:
    handle = sink_of(request)
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise HTTPException(422, "expected an object {default, domains, addresses}")
    try:
        book = parse_policies(data, source="request")
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from exc
    engine, actor, now = handle.store.engine, viewer.actor, _now()
    return _plain(
        await _swap_book(
            handle,
            lambda before: save_book(engine, actor=actor, before=before, after=book, now=now),
            book,
        )
    )


@router.post(
    "/policies/reset",
    summary="Forget every policy change: back to the defaults (the lab's and the policy file's)",
)
async def reset_policies(request: Request, viewer: Admin) -> dict[str, object]:
    handle = sink_of(request)
    engine, actor, now, defaults = handle.store.engine, viewer.actor, _now(), handle.defaults
    return _plain(
        await _swap_book(
            handle,
            lambda before: forget_policies(
                engine, actor=actor, before=before, defaults=defaults, now=now
            ),
            defaults.copy(),
        )
    )


async def _swap_book(
    handle: SinkHandle, keep: Callable[[PolicyBook], None], new: PolicyBook
) -> JsonObject:
    """Keep and audit the change from the live book (``keep(before)``), then take ``new``."""
    async with handle.changes:
        await in_store(keep, handle.policies.copy())
        handle.policies.replace_with(new)
    return handle.policies.as_json()


@router.put("/policies/{kind}/{name}", summary="Set the policy of one domain or one address")
async def put_policy(
    request: Request, kind: PolicyKind, name: PolicyName, viewer: Admin
) -> dict[str, object]:
    handle = sink_of(request)
    key = _entry_key(kind, name)
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise HTTPException(422, "expected a policy object")
    try:
        policy = parse_policy(data, key=f"{kind}.{key}")
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from exc
    await _change(handle, viewer, kind, key, policy)
    return _plain(policy.as_json())


@router.delete("/policies/{kind}/{name}", summary="Remove the policy of one domain or one address")
async def delete_policy(
    request: Request, kind: PolicyKind, name: PolicyName, viewer: Admin
) -> dict[str, bool]:
    handle = sink_of(request)
    key = _entry_key(kind, name)
    table = handle.policies.domains if kind == "domains" else handle.policies.addresses
    if key not in table:
        return {"removed": False}
    await _change(handle, viewer, kind, key, None)
    return {"removed": True}


async def _change(
    handle: SinkHandle, viewer: SinkViewer, kind: str, key: str, policy: Policy | None
) -> None:
    """Keep and audit one entry's change (None: removed), then apply it to the live book."""
    book = handle.policies
    async with handle.changes:
        table = book.domains if kind == "domains" else book.addresses
        await in_store(
            save_policy,
            handle.store.engine,
            actor=viewer.actor,
            kind=kind,
            name=key,
            before=table.get(key),
            after=policy,
            now=_now(),
        )
        if policy is None:
            table.pop(key, None)
        elif kind == "domains":
            book.set_domain(key, policy)
        else:
            book.set_address(key, policy)


__all__ = ["router"]
