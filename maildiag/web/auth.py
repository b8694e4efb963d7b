"""Login sessions for the pages: the services the account pages share, the session cookie,
``current_user`` and role checks.

The cookie carries a random session id; only its SHA-256 is stored (``reset.start_session``).
Database work runs in a thread, one short transaction per call. Owns no state of its own: the
``ResetServices`` object lives on ``AppState``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy as sa
from fastapi import HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

import reset
from maildiag.db import create_engine
from maildiag.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
SESSION_COOKIE = "maildiag_session"
MAX_SESSION_ID = 128  # a session id is 43 characters; anything longer is not ours
ROLE_RANK = {"user": 0, "support": 1, "admin": 2}
LOGIN_NAMESPACE = "maildiag-login"  # failed sign-ins, apart from the reset form's counters
_BUSY_ATTEMPTS = 5  # SQLite: a writer that lost the race for the write lock starts over


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class ResetServices:
    """What the account pages use: database, hashing, policy, rate limits, captcha, clock.

    Mutable on purpose: tests and the benchmark swap a part (a cheap hasher, a stub captcha).
    """

    engine: sa.Engine
    sessions: sessionmaker[Session]
    hasher: reset.PasswordHasher
    policy: reset.PasswordPolicy
    limiter: reset.ResetRateLimiter
    captcha: reset.CaptchaVerifier
    login_limiter: reset.ResetRateLimiter
    clock: Callable[[], dt.datetime] = utc_now
    session_ttl: dt.timedelta = dt.timedelta(hours=8)
    # SQLite takes one writer at a time and makes the others poll with growing sleeps; taking
    # turns in the process instead keeps the tail latency down. None on PostgreSQL.
    turns: threading.Lock | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.turns is None and self.engine.dialect.name == "sqlite":
            self.turns = threading.Lock()

    async def aclose(self) -> None:
        """Release connections and background tasks (application shutdown)."""
        await self.limiter.aclose()
        await self.login_limiter.aclose()
        closer = getattr(getattr(self.captcha, "replay_store", None), "aclose", None)
        if closer is not None:
            await closer()
        self.engine.dispose()


def build_policy(settings: Settings) -> reset.PasswordPolicy:
    """The password policy from the ``password_*`` settings."""
    policy = reset.PasswordPolicy(
        min_length=settings.password_min_length,
        min_upper=settings.password_min_upper,
        min_lower=settings.password_min_lower,
        min_digit=settings.password_min_digit,
        min_special=settings.password_min_special,
    )
    if settings.password_refuse_common:
        return policy
    return dataclasses.replace(policy, common=frozenset())


def build_reset_services(
    settings: Settings,
    *,
    engine: sa.Engine | None = None,
    hasher: reset.PasswordHasher | None = None,
) -> ResetServices:
    """The services for ``settings``; ``engine`` and ``hasher`` replace the defaults (the
    settings' database; argon2id at the RFC 9106 second recommended cost)."""
    from maildiag.web.routes.captcha_routes import build_verifier  # import cycle

    engine = engine or create_engine(settings.database)
    return ResetServices(
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        hasher=hasher or reset.PasswordHasher(),
        policy=build_policy(settings),
        limiter=reset.ResetRateLimiter(
            per_ip=settings.rate_limit_per_ip,
            per_address=settings.rate_limit_per_address,
            redis_url=settings.redis_url or None,
        ),
        captcha=build_verifier(settings),
        login_limiter=reset.ResetRateLimiter(
            per_ip=settings.login_failures_per_ip,
            per_address=settings.login_failures_per_address,
            redis_url=settings.redis_url or None,
            namespace=LOGIN_NAMESPACE,
        ),
        session_ttl=dt.timedelta(hours=settings.session_hours),
    )


def services(request: Request) -> ResetServices:
    """The request's ``ResetServices`` (built on first use from the settings)."""
    state = request.app.state.maildiag
    if state.reset is None:
        state.reset = build_reset_services(state.settings)
    found: ResetServices = state.reset
    return found


def _sqlite_busy(exc: OperationalError) -> bool:
    return "database is locked" in str(exc.orig) or "busy" in str(exc.orig).lower()


def _transaction(svc: ResetServices, work: Callable[[Session], T]) -> T:
    for attempt in range(_BUSY_ATTEMPTS):
        try:
            turn = svc.turns or contextlib.nullcontext()
            with turn, svc.sessions() as session, session.begin():
                return work(session)
        except OperationalError as exc:
            if not _sqlite_busy(exc) or attempt == _BUSY_ATTEMPTS - 1:
                raise
            log.info("db.retry attempt=%s", attempt + 1)
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def in_transaction(svc: ResetServices, work: Callable[[Session], T]) -> Awaitable[T]:
    """Run ``work`` in one committed transaction in a worker thread.

    Exceptions from ``work`` roll the transaction back and propagate. On SQLite a transaction
    that lost the write lock to a concurrent one is started over.
    """
    return asyncio.to_thread(_transaction, svc, work)


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


def session_id_of(request: Request) -> str | None:
    """The session id from the cookie, when it is plausibly one of ours."""
    settings = request.app.state.maildiag.settings
    value = request.cookies.get(cookie_name(settings, SESSION_COOKIE))
    if not value or len(value) > MAX_SESSION_ID:
        return None
    return value


async def optional_user(request: Request) -> SignedIn | None:
    """Dependency: the logged-in user, or None."""
    session_id = session_id_of(request)
    if session_id is None:
        return None
    svc = services(request)

    def work(session: Session) -> SignedIn | None:
        user = reset.session_user(session, session_id, now=svc.clock())
        return None if user is None else SignedIn.of(user)

    return await in_transaction(svc, work)


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
