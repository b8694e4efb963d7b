"""The account pages' services: database, password hashing and policy, rate limits, the
captcha verifier and the clock, built once from the settings; the one way to run a short
database transaction off the event loop; and what support reads of an account. Account
administration is ``maildiag.services.account_admin``.

Owns no request handling; the web's ``auth`` module keeps sessions and roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

import reset
from diag.checklist import AccountFacts
from maildiag.db import create_engine
from maildiag.facts import facts_in
from maildiag.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
LOGIN_NAMESPACE = "maildiag-login"  # failed sign-ins, apart from the reset form's counters
_BUSY_ATTEMPTS = 5  # SQLite: a writer that lost the race for the write lock starts over
DEFAULT_MAX_NUMBER = 100_000
LAB_MAX_NUMBER = 2_000  # the lab solves at once; production makes a bot pay
SITEVERIFY_URLS = {
    "recaptcha": reset.RECAPTCHA_URL,
    "hcaptcha": reset.HCAPTCHA_URL,
    "turnstile": reset.TURNSTILE_URL,
}


class RedisReplayStore:
    """A ``reset.ReplayStore`` in Redis, so app replicas refuse each other's solved challenges.

    One ``SET key NX PX ttl`` per claim: atomic, and the key expires with its challenge.
    """

    def __init__(self, url: str, *, namespace: str = "maildiag-altcha") -> None:
        self._client = redis.asyncio.Redis.from_url(url)
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"RedisReplayStore(namespace={self.namespace!r})"

    async def claim(self, key: str, *, expires_at: dt.datetime, now: dt.datetime) -> bool:
        ttl_ms = max(1, int((expires_at - now).total_seconds() * 1000))
        digest = hashlib.sha256(key.encode()).hexdigest()
        created = await self._client.set(f"{self.namespace}:{digest}", b"1", nx=True, px=ttl_ms)
        return bool(created)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_verifier(settings: Settings) -> reset.CaptchaVerifier:
    """The configured verifier. ALTCHA signs with a key derived from ``secret_key`` and keeps
    solved challenges in Redis when ``redis_url`` is set (else in this process)."""
    if settings.captcha_kind == "altcha":
        default = LAB_MAX_NUMBER if settings.lab else DEFAULT_MAX_NUMBER
        key = hashlib.sha256(
            b"maildiag-altcha\0" + settings.secret_key.get_secret_value().encode()
        ).hexdigest()
        store = RedisReplayStore(settings.redis_url) if settings.redis_url else None
        return reset.AltchaVerifier(
            hmac_key=key, max_number=settings.altcha_max_number or default, replay_store=store
        )
    return reset.SiteverifyVerifier(
        url=settings.captcha_siteverify_url or SITEVERIFY_URLS[settings.captcha_kind],
        secret=reset.Secret(settings.captcha_secret.get_secret_value()),
    )


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


def _sqlite_busy(exc: OperationalError) -> bool:
    return "database is locked" in str(exc.orig) or "busy" in str(exc.orig).lower()


def transaction(svc: ResetServices, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one committed transaction in this thread (see ``in_transaction``)."""
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
    return asyncio.to_thread(transaction, svc, work)


async def account_facts(svc: ResetServices, address: str) -> AccountFacts:
    """What the reset database knows about ``address`` (for the support audience only)."""
    return await in_transaction(svc, lambda s: facts_in(s, address))


@dataclasses.dataclass(frozen=True)
class AccountInfo:
    """The account row as support sees it (no hash, no sessions' secrets)."""

    role: str
    language: str
    created: dt.datetime
    password_changed_at: dt.datetime
    open_sessions: int


def _info_query(session: Session, address: str, now: dt.datetime) -> AccountInfo | None:
    user = reset.find_user(session, address)
    if user is None:
        return None
    open_sessions = session.scalar(
        sa.select(sa.func.count())
        .select_from(reset.UserSession)
        .where(reset.UserSession.user_id == user.id)
        .where(reset.UserSession.ended.is_(None))
        .where(reset.UserSession.expires > now)
    )
    return AccountInfo(
        user.role, user.language, user.created, user.password_changed_at, int(open_sessions or 0)
    )


async def account_lookup(
    svc: ResetServices, address: str
) -> tuple[AccountFacts, AccountInfo | None]:
    """The support console's view of ``address``: its account facts and the account row."""
    now = svc.clock()
    return await in_transaction(svc, lambda s: (facts_in(s, address), _info_query(s, address, now)))
