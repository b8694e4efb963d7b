"""Readiness: whether the parts this process needs answer within a timeout: the database
(``SELECT 1``), Redis when ``redis_url`` is set (``PING``) and the relay (its ``220``
greeting, after the PROXY header when the relay takes one). ``/readyz`` and
``maildiag ready`` report it; ``/healthz`` only says that the process answers.

Every check runs concurrently with its own timeout and never raises: a failure is a value
naming what went wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable

import redis.asyncio
import sqlalchemy as sa

import reset
from maildiag.settings import Settings

QUIT = b"QUIT\r\n"


@dataclasses.dataclass(frozen=True)
class Check:
    """One part's answer: ``ok``, how long it took, and what went wrong (``""`` when ok)."""

    name: str
    ok: bool
    seconds: float
    error: str = ""


def _database(engine: sa.Engine) -> Callable[[], Awaitable[None]]:
    def select_one() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    async def check() -> None:
        await asyncio.to_thread(select_one)

    return check


def _redis(url: str, timeout: float) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            await client.ping()
        finally:
            await client.aclose()

    return check


def _relay(settings: Settings) -> Callable[[], Awaitable[None]]:
    relay = settings.relay

    async def check() -> None:
        reader, writer = await asyncio.open_connection(relay.host, relay.port)
        try:
            if relay.proxy_source is not None:
                writer.write(reset.proxy_v1_line(str(relay.proxy_source), relay.port))
            greeting = await reader.readline()
            if not greeting.startswith(b"220"):
                raise ConnectionError(f"greeting {greeting[:60]!r}")
            writer.write(QUIT)
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return check


async def _run(name: str, check: Callable[[], Awaitable[None]], within: float) -> Check:
    started = time.perf_counter()
    timeout = within
    try:
        await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        return Check(name, False, time.perf_counter() - started, f"no answer in {timeout:g} s")
    except Exception as exc:  # any failure of the part is the answer, never a 500
        return Check(name, False, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
    return Check(name, True, time.perf_counter() - started)


async def readiness(settings: Settings, engine: sa.Engine) -> list[Check]:
    """The database, Redis (when configured) and the relay, checked concurrently, each
    within ``settings.readiness_timeout`` seconds."""
    timeout = settings.readiness_timeout
    checks = {"database": _database(engine), "relay": _relay(settings)}
    if settings.redis_url:
        checks["redis"] = _redis(settings.redis_url, timeout)
    return list(
        await asyncio.gather(*(_run(name, check, timeout) for name, check in checks.items()))
    )
