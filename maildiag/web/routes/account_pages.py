"""The account page ``/account``: the signed-in person's address, language (changeable, and
stored on the account), last password change and open sessions, each of which can be ended,
and "sign out everywhere".

Who may see it: anyone signed in, whatever the role, sees their own account only. A logged-out
visitor is sent to ``/login?next=/account``, for the forms as for the page. Every form is a
CSRF-protected POST answered with a redirect (post/redirect/get).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import reset
from maildiag.services.own_account import (
    AccountOverview,
    account_overview,
    change_language,
    end_every_session,
    end_one_session,
)
from maildiag.web import deps, i18n
from maildiag.web.auth import SignedIn, optional_user, session_id_of
from maildiag.web.checklist_web import private
from maildiag.web.csrf import csrf_protect, field, read_form
from maildiag.web.render import error_page, form_page, set_language_cookie
from maildiag.web.signout import signed_out
from reports import format_when

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

PATH = "/account"
NOTICES = ("language", "session")  # ?done=… after a change: which one to confirm
MAX_HANDLE = 64  # a session's handle is the 64 hex digits of its id's SHA-256


async def _holder(request: Request) -> tuple[SignedIn, str] | Response:
    """The signed-in person and their session id, or the redirect to the sign-in."""
    user, session_id = await optional_user(request), session_id_of(request)
    if user is None or session_id is None:
        return private(RedirectResponse(f"/login?next={PATH}", status_code=303))
    return user, session_id


def _rows(account: AccountOverview, lang: str) -> list[dict[str, object]]:
    return [
        {
            "handle": s.handle,
            "current": s.current,
            "created": format_when(s.created, lang),
            "created_iso": s.created.isoformat(),
            "last_seen": format_when(s.last_seen, lang),
            "last_seen_iso": s.last_seen.isoformat(),
        }
        for s in account.sessions
    ]


@router.get(PATH, response_class=HTMLResponse)
async def account_page(request: Request, done: str = "") -> Response:
    found = await _holder(request)
    if isinstance(found, Response):
        return found
    user, session_id = found
    account = await account_overview(deps.reset_services(request), user.user_id, session_id)
    lang = deps.lang_of(request)
    return private(
        form_page(
            request,
            "account.html",
            account=account,
            changed=format_when(account.password_changed_at, lang),
            changed_iso=account.password_changed_at.isoformat(),
            sessions=_rows(account, lang),
            notice=i18n.text(f"account.done_{done}", lang) if done in NOTICES else None,
        )
    )


def _back(done: str) -> Response:
    return private(RedirectResponse(f"{PATH}?done={done}", status_code=303))


@router.post(f"{PATH}/language", dependencies=[Depends(csrf_protect)])
async def language(request: Request) -> Response:
    """Store the account's language and show the pages in it from now on."""
    found = await _holder(request)
    if isinstance(found, Response):
        return found
    chosen = field(await read_form(request), "language")
    try:
        await change_language(deps.reset_services(request), found[0].user_id, chosen)
    except reset.AccountError as exc:
        log.info("account.language_refused reason=%s", exc.reason)
        reason = i18n.text("account.bad_language", deps.lang_of(request))
        return private(error_page(request, 400, reason))
    response = _back("language")
    set_language_cookie(response, deps.settings(request), chosen)
    return response


@router.post(f"{PATH}/sessions/end", dependencies=[Depends(csrf_protect)])
async def end_session(request: Request) -> Response:
    """End one of the account's sessions (this one too: then it is a sign-out)."""
    found = await _holder(request)
    if isinstance(found, Response):
        return found
    user, session_id = found
    handle = field(await read_form(request), "session")[:MAX_HANDLE]
    await end_one_session(deps.reset_services(request), user.user_id, handle)
    if handle == reset.hash_secret(session_id):
        return signed_out(request)
    return _back("session")


@router.post(f"{PATH}/sessions/end-all", dependencies=[Depends(csrf_protect)])
async def end_all_sessions(request: Request) -> Response:
    """Sign out everywhere: every session of the account ends, this one included."""
    found = await _holder(request)
    if isinstance(found, Response):
        return found
    await end_every_session(deps.reset_services(request), found[0].user_id)
    return signed_out(request)
