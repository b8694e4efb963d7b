"""The sink's pages: ``/sink`` (mailboxes and their messages), one message, its sanitized
HTML in a sandboxed iframe, its raw bytes, delete (CSRF-checked by ``maildiag.web.csrf``), and
live updates (``/sink/events``, server-sent events).

All message text reaches templates as plain strings (autoescaped). The HTML part is only ever
served from its own endpoint with a CSP that forbids scripts and any network access. Reading a
message (MIME, header fields, the HTML sanitizer) happens off the event loop, within caps, and
is cached (``maildiag.web.sink_render``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from diag.mime import MAX_MIME_DEPTH, MAX_MIME_PARTS
from maildiag.web import deps, i18n
from maildiag.web.csrf import csrf_protect, field, read_form
from maildiag.web.render import form_page
from maildiag.web.sink_access import SinkViewer, sink_page_admin, sink_page_viewer
from maildiag.web.sink_messages import MAX_ID, describe, in_store, in_utc, load_message, sink_of
from maildiag.web.sink_render import MAX_HTML_DEPTH, refused_html
from maildiag.web.sink_reveal import shown_list, shown_message
from maildiag.web.sink_view import explain_verdict
from maildiag.web.sse import event_stream
from smtp_sink import SinkStore

router = APIRouter(include_in_schema=False, dependencies=[Depends(sink_page_viewer)])

PAGE_SIZE = 50
MAX_MAILBOXES = 500
HTML_PART_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)
MessageId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
MIME_LIMITS = {"depth": MAX_MIME_DEPTH, "parts": MAX_MIME_PARTS}  # for a refused structure's note


def _standalone(request: Request) -> bool:
    """True in the sink-only app (``maildiag sink``), which has no other pages to link to."""
    return bool(deps.sink_only(request))


def _mailboxes(store: SinkStore) -> list[dict[str, object]]:
    """Every mailbox address with its inbox and junk counts."""
    b = store.tables.mailboxes
    stmt = (
        sa.select(b.c.address, b.c.folder, sa.func.count())
        .group_by(b.c.address, b.c.folder)
        .order_by(b.c.address)
    )
    boxes: dict[str, dict[str, object]] = {}
    with store.engine.connect() as conn:
        for address, folder, count in conn.execute(stmt):
            box = boxes.setdefault(address, {"address": address, "inbox": 0, "junk": 0})
            box[folder] = int(count)
    return list(boxes.values())[:MAX_MAILBOXES]


def _day(value: str, name: str, *, end: bool = False) -> dt.datetime | None:
    """``YYYY-MM-DD`` (or a full ISO time) as UTC; the next midnight for an ``until`` day."""
    if not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return start + dt.timedelta(days=1) if end else start
        return in_utc(dt.datetime.fromisoformat(text))
    except (ValueError, OverflowError):  # not a date, or the day after the calendar's last
        raise HTTPException(422, f"{name}: not a date (YYYY-MM-DD): {text[:40]!r}") from None


@router.get("/sink", response_class=HTMLResponse)
async def sink_list(
    request: Request,
    viewer: Annotated[SinkViewer, Depends(sink_page_viewer)],
    to: Annotated[str, Query(max_length=320)] = "",
    sender: Annotated[str, Query(max_length=320)] = "",
    subject: Annotated[str, Query(max_length=998)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    folder: Annotated[str, Query(pattern="^(|inbox|junk)$")] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    store = sink_of(request).store
    start, stop = _day(since, "since"), _day(until, "until", end=True)
    messages = await in_store(
        store.list,
        to=to.strip() or None,
        sender=sender.strip() or None,
        subject=subject.strip() or None,
        since=start,
        until=stop,
        folder=folder or None,
        limit=PAGE_SIZE + 1,
        offset=(page_number - 1) * PAGE_SIZE,
    )
    messages = await shown_list(request, viewer, messages, "page.list")
    boxes = await in_store(_mailboxes, store)
    rows = [
        {
            "message": m,
            "folder": m.folder_for(to) if to else None,
            "dmarc": m.verdict.get("dmarc_result", "none"),
        }
        for m in messages[:PAGE_SIZE]
    ]
    form = {
        "to": to,
        "sender": sender,
        "subject": subject,
        "since": since,
        "until": until,
        "folder": folder,
    }
    return form_page(
        request,
        "sink_list.html",
        form=form,
        rows=rows,
        mailboxes=boxes,
        page_number=page_number,
        more=len(messages) > PAGE_SIZE,
        info=sink_of(request).info(),
        standalone=_standalone(request),
        nav_current=True,
    )


@router.get("/sink/events")
async def sink_events(request: Request) -> Response:
    """``text/event-stream``: ``stored`` and ``deleted`` events as they happen."""
    return event_stream(request, sink_of(request).events)


@router.get("/sink/messages/{message_id}", response_class=HTMLResponse)
async def sink_message(
    request: Request,
    message_id: MessageId,
    viewer: Annotated[SinkViewer, Depends(sink_page_viewer)],
) -> Response:
    message = await load_message(sink_of(request).store, message_id)
    shown = await shown_message(request, viewer, message, "page.message")
    message = shown.message
    views = deps.sink_views(request)
    parts = await views.parts(message, masked=shown.masked)
    return form_page(
        request,
        "sink_message.html",
        message=message,
        details=await views.details(message, describe, masked=shown.masked),
        lines=explain_verdict(message.verdict),
        parts=parts,
        mime_limits=MIME_LIMITS,
        reveal=shown,
        standalone=_standalone(request),
        nav_current=False,
    )


@router.get("/sink/messages/{message_id}/html")
async def sink_message_html(
    request: Request,
    message_id: MessageId,
    viewer: Annotated[SinkViewer, Depends(sink_page_viewer)],
) -> Response:
    """The sanitized HTML part, for the sandboxed iframe only: no scripts, no network."""
    message = await load_message(sink_of(request).store, message_id)
    shown = await shown_message(request, viewer, message, "page.html")
    part = await deps.sink_views(request).html(shown.message, masked=shown.masked)
    if part is None:
        raise HTTPException(404, "this message has no HTML part")
    body = part.body
    if part.refused:
        lang = deps.lang_of(request)
        body = refused_html(part, i18n.text("sink.html_refused", lang, limit=MAX_HTML_DEPTH))
    return HTMLResponse(
        f'<!doctype html><meta charset="utf-8">{body}',
        headers={
            "Content-Security-Policy": HTML_PART_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


@router.get("/sink/messages/{message_id}/raw")
async def sink_message_raw(
    request: Request,
    message_id: MessageId,
    viewer: Annotated[SinkViewer, Depends(sink_page_viewer)],
) -> Response:
    """The message as filed, as a text/plain download (reset links masked below admin)."""
    message = await load_message(sink_of(request).store, message_id)
    message = (await shown_message(request, viewer, message, "page.raw")).message
    return Response(
        message.delivered_bytes,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="message-{message_id}.txt"'},
    )


@router.post(
    "/sink/messages/{message_id}/delete",
    dependencies=[Depends(sink_page_admin), Depends(csrf_protect)],
)
async def sink_message_delete(request: Request, message_id: MessageId) -> Response:
    """Delete after the confirmation box was ticked (the form's CSRF token checked first)."""
    if field(await read_form(request), "confirm") != "yes":
        lang = deps.lang_of(request)
        raise HTTPException(422, i18n.text("sink.delete.unconfirmed", lang))
    store = sink_of(request).store
    removed = await in_store(store.delete, [message_id])
    if not removed:
        raise HTTPException(404, f"no stored message with id {message_id}")
    return RedirectResponse("/sink?deleted=1", status_code=303)


__all__ = ["HTML_PART_CSP", "router"]
