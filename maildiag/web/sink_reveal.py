"""What a viewer is shown of captured mail (DESIGN.md, the sink's API): below admin, every
reset link masked (``sink_mask``); an admin, or the token, sees them, and each such view is
recorded in the audit trail before anything is shown.

Masking parses the message, so it runs in the sink views' worker processes, cached (apart
from the unmasked form). A message that cannot be masked is refused (403) rather than shown;
an audit row that cannot be written is 503.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from fastapi import HTTPException, Request

from maildiag.sink.records import record_unmasked_view
from maildiag.web import deps
from maildiag.web.sink_access import SinkViewer
from maildiag.web.sink_mask import mask_summary
from smtp_sink import CapturedMessage

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Shown:
    """A message as one viewer sees it: ``links`` reset links, ``masked`` or not."""

    message: CapturedMessage
    links: int
    masked: bool


async def _record(
    request: Request, viewer: SinkViewer, message: CapturedMessage, view: str, links: int
) -> None:
    engine: sa.Engine = deps.sink_store(request).engine
    assert message.id is not None
    try:
        await asyncio.to_thread(
            record_unmasked_view,
            engine,
            actor=viewer.actor,
            message_id=message.id,
            view=view,
            links=links,
            now=dt.datetime.now(dt.UTC),
        )
    except sa.exc.SQLAlchemyError as exc:
        raise HTTPException(503, "the audit trail is not available; try again") from exc
    log.info("sink.unmasked_view id=%s view=%s links=%d", message.id, view, links)


async def shown_message(
    request: Request, viewer: SinkViewer, message: CapturedMessage, view: str
) -> Shown:
    """``message`` for ``viewer``: masked below admin; for an admin, unmasked once the view
    (``view`` names the page or API route) is recorded. Raises HTTPException 403 or 503."""
    result = await deps.sink_views(request).masked(message)
    if not viewer.is_admin:
        masked = result.applied_to(message)
        if masked is None:
            log.warning("sink.mask_refused id=%s", message.id)
            raise HTTPException(
                403, "this message cannot be shown with its reset links masked; ask an admin"
            )
        return Shown(masked, result.links, masked=True)
    if result.links:
        await _record(request, viewer, message, view, result.links)
    return Shown(message, result.links, masked=False)


async def shown_list(
    request: Request, viewer: SinkViewer, messages: Sequence[CapturedMessage], view: str
) -> list[CapturedMessage]:
    """A list's messages for ``viewer``, of which it shows only subject and From."""
    shown = [mask_summary(m) for m in messages]
    if not viewer.is_admin:
        return [m for m, _ in shown]
    for message, (_, links) in zip(messages, shown, strict=True):
        if links:
            await _record(request, viewer, message, view, links)
    return list(messages)


__all__ = ["Shown", "shown_list", "shown_message"]
