"""Login sessions for the pages: the session cookie, ``current_user`` and role checks.

The cookie carries a random session id; only its SHA-256 is stored (``reset.start_session``).
Database work runs in a thread, one short transaction per call
(``maildiag.services.accounts.in_transaction``). Owns no state of its own: the
``ResetServices`` object lives on ``AppState``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

import reset
from maildiag.services.accounts import ResetServices, in_transaction
from maildiag.settings import Settings
from maildiag.web import deps

log = logging.getLogger(__name__)

SESSION_COOKIE = "maildiag_session"
MAX_SESSION_ID = 128  # a session id is 43 characters; anything longer is not ours
ROLE_RANK = {"user": 0, "support": 1, "admin": 2}


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """The logged-in user of a request, as a plain value (no live ORM row)."""

    user_id: int
    email: str
    role: str
    language: str

    @classmethod
    def of(cls, user: reset.User) -> SignedIn:
        return cls(user.id, user.email, user.role, user.language)

    def has_role(self, role: str) -> bool:
        """True for ``role`` and every role above it (admin > support > user)."""
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


def staff(user: SignedIn | None) -> bool:
    """Whether ``user`` is signed in with the support role or above (the receivers' reports
    are shown to staff only)."""
    return user is not None and user.has_role("support")


def secure_cookies(settings: Settings) -> bool:
    """Cookies get ``Secure`` (and the ``__Host-`` prefix) when the site is served over https."""
    return settings.public_base_url.startswith("https://")


def cookie_name(settings: Settings, name: str) -> str:
    """``name``, with the ``__Host-`` prefix on https (no Domain, Path=/, Secure)."""
    return f"__Host-{name}" if secure_cookies(settings) else name


async def log_in(svc: ResetServices, address: str, password: str) -> tuple[SignedIn, str] | None:
    """Check the password (argon2id, equal work for unknown addresses) and open a session.

    Returns the user and the clear session id for the cookie, or None.
    """

    def work(session: Session) -> tuple[SignedIn, str] | None:
        user = reset.authenticate(session, address, password, hasher=svc.hasher)
        if user is None:
            return None
        secret = reset.start_session(session, user, now=svc.clock(), ttl=svc.session_ttl)
        return SignedIn.of(user), secret.reveal()

    result = await in_transaction(svc, work)
    log.info("auth.login ok=%s", result is not None)
    return result


async def log_out(svc: ResetServices, session_id: str) -> None:
    """End the session ``session_id`` (nothing happens for an unknown id)."""

    def work(session: Session) -> None:
        row = session.get(reset.UserSession, reset.hash_secret(session_id))
        if row is not None and row.ended is None:
            row.ended = svc.clock()

    await in_transaction(svc, work)


def set_host_cookie(response: Response, settings: Settings, name: str, value: str) -> None:
    """A browser-session cookie ``name`` (``__Host-`` on https): HttpOnly, SameSite=Lax,
    Path=/, Secure on https."""
    response.set_cookie(
        cookie_name(settings, name),
        value,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
        path="/",
    )


def set_session_cookie(response: Response, settings: Settings, session_id: str) -> None:
    """The login cookie: HttpOnly, SameSite=Lax, Secure on https; a browser-session cookie."""
    set_host_cookie(response, settings, SESSION_COOKIE, session_id)


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings, SESSION_COOKIE),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
        path="/",
    )


def safe_next(target: str | None) -> str:
    """A local path to go to after login, or ``""``: never another site (no scheme, no
    ``//host``, no backslash tricks), so ``?next=`` cannot become an open redirect."""
    if not target or len(target) > 512 or not target.startswith("/"):
        return ""
    if target.startswith(("//", "/\\")) or "\\" in target or any(ord(c) < 32 for c in target):
        return ""
    return target


def session_id_of(request: Request) -> str | None:
    """The session id from the cookie, when it is plausibly one of ours."""
    value = request.cookies.get(cookie_name(deps.settings(request), SESSION_COOKIE))
    if not value or len(value) > MAX_SESSION_ID:
        return None
    return value


async def optional_user(request: Request) -> SignedIn | None:
    """Dependency: the logged-in user, or None. Looked up once per request (the answer is
    kept on ``request.state``, where the pages' layout finds it: ``signed_in``)."""
    if hasattr(request.state, "signed_in"):
        known: SignedIn | None = request.state.signed_in
        return known
    session_id = session_id_of(request)
    found = None if session_id is None else await _session_user(request, session_id)
    request.state.signed_in = found
    return found


async def _session_user(request: Request, session_id: str) -> SignedIn | None:
    svc = deps.reset_services(request)

    def work(session: Session) -> SignedIn | None:
        user = reset.session_user(session, session_id, now=svc.clock())
        return None if user is None else SignedIn.of(user)

    return await in_transaction(svc, work)


def signed_in(request: Request) -> SignedIn | None:
    """The user ``optional_user`` found for this request (None when nobody is signed in or
    nobody looked yet)."""
    found: SignedIn | None = getattr(request.state, "signed_in", None)
    return found


class SignedInLookup:
    """ASGI middleware: finds the signed-in user of every request for a page (not for static
    files or the JSON API, which look for themselves when they need to), so every page's
    navigation can offer the sign-out. Requests without a session cookie cost nothing."""

    SKIP = ("/static/", "/docs/assets/", "/api/", "/metrics", "/healthz", "/captcha/")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope["path"]).startswith(self.SKIP):
            await optional_user(Request(scope))
        await self.app(scope, receive, send)


async def current_user(request: Request) -> SignedIn:
    """Dependency: the logged-in user; 401 when there is none."""
    user = await optional_user(request)
    if user is None:
        raise HTTPException(401, "login required: sign in at /login")
    return user


def require_role(role: str) -> Callable[[Request], Awaitable[SignedIn]]:
    """Dependency factory: the logged-in user with ``role`` or higher; 401 or 403 otherwise.

    Raises KeyError at once for an unknown role name.
    """
    if role not in ROLE_RANK:
        raise KeyError(role)

    async def dependency(request: Request) -> SignedIn:
        user = await current_user(request)
        if not user.has_role(role):
            raise HTTPException(403, f"this page needs the {role} role")
        return user

    return dependency
