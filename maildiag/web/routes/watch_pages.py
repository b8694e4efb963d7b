"""The watch on our senders: ``/watch``, the timeline of every check of every identity and
the changes from pass to fail or back; ``/api/v1/watch``, the same as JSON.

Who may see it: support and admin. Without a login the page sends the browser to
``/login?next=/watch`` and the API answers 401; a user gets 403. Only ``?rounds=`` is read
from the request, capped at ``MAX_RUNS_SHOWN``; the database is read off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from maildiag.services.watch import WATCHED, round_json
from maildiag.watch import CheckState, Round, recent_rounds
from maildiag.watch.store import MAX_RUNS_SHOWN
from maildiag.web import deps, i18n
from maildiag.web.auth import SignedIn, optional_user, require_role
from maildiag.web.checklist_web import private
from maildiag.web.render import error_page, page

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
api = APIRouter(tags=["watch"])

ROLE = "support"
DEFAULT_ROUNDS = 48
Staff = Annotated[SignedIn, Depends(require_role(ROLE))]


@dataclass(frozen=True)
class Timeline:
    """One check of one identity over the rounds shown, oldest first (``None``: not in that
    round)."""

    identity: str
    check: str
    cells: tuple[tuple[Round, CheckState | None], ...]

    @property
    def latest(self) -> CheckState | None:
        return next((c for _, c in reversed(self.cells) if c is not None), None)


def timelines(rounds: Sequence[Round]) -> dict[str, list[Timeline]]:
    """Identity -> its checks' timelines, in the order the watch runs them."""
    oldest_first = list(reversed(rounds))
    found = {(c.identity, c.check) for r in rounds for c in r.checks}
    identities = list(dict.fromkeys(c.identity for r in oldest_first for c in r.checks))
    shown: dict[str, list[Timeline]] = {}
    for identity in identities:
        for check in (k for k in WATCHED if (identity, k) in found):
            cells = tuple((r, _state(r, identity, check)) for r in oldest_first)
            shown.setdefault(identity, []).append(Timeline(identity, check, cells))
    return shown


def _state(stored: Round, identity: str, check: str) -> CheckState | None:
    return next((c for c in stored.checks if c.identity == identity and c.check == check), None)


async def _rounds(request: Request, count: int) -> list[Round]:
    engine = deps.reset_services(request).engine
    return await asyncio.to_thread(recent_rounds, engine, count)


@router.get("/watch")
async def watch_page(
    request: Request, rounds: int = Query(DEFAULT_ROUNDS, ge=1, le=MAX_RUNS_SHOWN)
) -> Response:
    user = await optional_user(request)
    if user is None:
        return private(RedirectResponse("/login?next=%2Fwatch", status_code=303))
    if not user.has_role(ROLE):
        log.info("watch.forbidden role=%s", user.role)
        reason = i18n.text("watch.forbidden", deps.lang_of(request))
        return private(error_page(request, 403, reason))
    shown = await _rounds(request, rounds)
    events = [(r, e) for r in shown for e in r.events]
    return private(
        page(
            request,
            "watch.html",
            rounds=shown,
            timelines=timelines(shown),
            events=events,
            latest=shown[0] if shown else None,
        )
    )


@api.get("/watch")
async def watch_api(
    request: Request,
    _: Staff,
    rounds: int = Query(DEFAULT_ROUNDS, ge=1, le=MAX_RUNS_SHOWN),
) -> Response:
    """The watch's last rounds, newest first: every check's status and codes, and the changes
    (``change``: failed or recovered). Needs the support or admin role."""
    shown = await _rounds(request, rounds)
    return private(JSONResponse({"rounds": [round_json(r) for r in shown]}))
