"""Rate limits per client IP and per submitted address (the forgot-password form, the
checklist pages, failed sign-ins), and per outside target (the SMTP probe's mail servers).

A thin wrapper over the ``limits`` library (async API): in-process memory storage by default,
Redis when a URL is given, so app replicas share counters. The per-address limit is keyed on
the normalized, case-folded address (hashed, so the store holds no addresses), which limits an
unknown address exactly like a known one: nothing here looks at accounts.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import hashlib
import time

import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from reset.accounts import address_key
from reset.errors import InvalidAddressError

DEFAULT_PER_IP = "30/minute"
DEFAULT_PER_ADDRESS = "3 per 15 minutes"


@dataclasses.dataclass(frozen=True)
class RateDecision:
    """``allowed`` or not; ``limited_by`` is ``ip``, ``address``, ``target`` or None;
    ``retry_after`` in seconds."""

    allowed: bool
    limited_by: str | None = None
    retry_after: float = 0.0


def _address_id(address: str) -> str:
    try:
        key = address_key(address)
    except InvalidAddressError:
        key = address.strip().casefold()
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class _LoopMemoryStorage(MemoryStorage):
    """``limits``' in-process storage, with its expiry pass run on the event loop.

    The library's pass, started after each hit once the previous one has ended, bisects every
    key's entries in a worker thread (one ``asyncio.to_thread`` per key): microseconds of work,
    each handed to a thread whose start and return of the GIL held the event loop up for
    milliseconds (a checklist's first DNS questions waited for them). The pass below does the
    same without a thread; nothing in it awaits, so it needs none of the per-key locks.
    """

    async def _MemoryStorage__expire_events(self) -> None:  # the library's private pass
        now = time.time()
        for key in list(self.events):
            entries = self.events[key]  # newest first (acquire_entry inserts at the front)
            cutoff = bisect.bisect_left(entries, -now, key=lambda entry: -entry.expiry)
            if cutoff:
                self.events[key] = entries[:cutoff]
            else:
                self.events.pop(key, None)
                self.locks.pop(key, None)
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)


class _Counters:
    """The ``limits`` storage and moving-window limiter behind one rate limiter: in this
    process, or in Redis when ``redis_url`` (redis:// or rediss://) is given, under
    ``namespace``."""

    def __init__(self, *, redis_url: str | None, namespace: str) -> None:
        self.namespace = namespace
        storage: Storage
        self._pool: redis.asyncio.ConnectionPool | None = None
        if redis_url:
            self._pool = redis.asyncio.ConnectionPool.from_url(redis_url)
            storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=namespace,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            storage = _LoopMemoryStorage()
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def _refusal(self, item: RateLimitItem, by: str, *ids: str) -> RateDecision:
        stats = await self._limiter.get_window_stats(item, self.namespace, *ids)
        return RateDecision(False, by, max(0.0, stats.reset_time - time.time()))

    async def aclose(self) -> None:
        """Stop background work and close connections (call at application shutdown)."""
        if self._pool is not None:
            await self._pool.disconnect()
        await self._stop_expiry_task()

    async def _stop_expiry_task(self) -> None:
        timer = getattr(self._storage, "timer", None)  # MemoryStorage's expiry task
        if isinstance(timer, asyncio.Task) and not timer.done():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def reset(self) -> None:
        """Forget every counter (an operator's "clear limits"; tests sharing one Redis)."""
        await self._stop_expiry_task()  # it would race the clearing of the memory store
        await self._storage.reset()


class ResetRateLimiter(_Counters):
    """Per-IP and per-address limits for reset requests.

    ``per_ip`` and ``per_address`` use the ``limits`` notation ("30/minute",
    "3 per 15 minutes"). ``redis_url`` (redis:// or rediss://) selects shared storage;
    ``namespace`` separates deployments or tests that share one Redis.
    """

    def __init__(
        self,
        *,
        per_ip: str = DEFAULT_PER_IP,
        per_address: str = DEFAULT_PER_ADDRESS,
        redis_url: str | None = None,
        namespace: str = "maildiag-reset",
    ) -> None:
        self.per_ip: RateLimitItem = parse(per_ip)
        self.per_address: RateLimitItem = parse(per_address)
        super().__init__(redis_url=redis_url, namespace=namespace)

    def __repr__(self) -> str:
        return f"ResetRateLimiter(per_ip={self.per_ip}, per_address={self.per_address})"

    async def hit(self, ip: str, address: str) -> RateDecision:
        """Count one request from ``ip`` for ``address`` and say whether it may proceed.

        Both counters are always consulted, in the same order, whatever the address is.
        """
        addr = _address_id(address)
        ip_ok = await self._limiter.hit(self.per_ip, self.namespace, "ip", ip)
        addr_ok = await self._limiter.hit(self.per_address, self.namespace, "addr", addr)
        return await self._decision(ip_ok, addr_ok, ip, addr)

    async def check(self, ip: str, address: str) -> RateDecision:
        """Whether one more request from ``ip`` for ``address`` would be allowed, without
        counting it (the login form counts only failed attempts, after checking)."""
        addr = _address_id(address)
        ip_ok = await self._limiter.test(self.per_ip, self.namespace, "ip", ip)
        addr_ok = await self._limiter.test(self.per_address, self.namespace, "addr", addr)
        return await self._decision(ip_ok, addr_ok, ip, addr)

    async def _decision(self, ip_ok: bool, addr_ok: bool, ip: str, addr: str) -> RateDecision:
        if ip_ok and addr_ok:
            return RateDecision(True)
        if not ip_ok:
            return await self._refusal(self.per_ip, "ip", "ip", ip)
        return await self._refusal(self.per_address, "address", "addr", addr)


class TargetRateLimiter(_Counters):
    """One limit per outside target, whoever asks: how often we may contact one mail server.

    ``per_target`` uses the ``limits`` notation. A use names the target by several keys (a
    host name and its IP addresses); it is allowed only when every key is under the limit,
    and then counts against each, so neither another name for the same server nor another
    server behind the same name escapes the limit. ``limited_by`` is ``target``.
    """

    def __init__(
        self,
        *,
        per_target: str,
        redis_url: str | None = None,
        namespace: str = "maildiag-targets",
    ) -> None:
        self.per_target: RateLimitItem = parse(per_target)
        super().__init__(redis_url=redis_url, namespace=namespace)

    def __repr__(self) -> str:
        return f"TargetRateLimiter(per_target={self.per_target})"

    async def hit(self, *keys: str) -> RateDecision:
        """Count one use of the target named by ``keys`` (case-insensitive), if allowed."""
        ids = sorted({key.strip().lower() for key in keys if key.strip()})
        for key in ids:
            if not await self._limiter.test(self.per_target, self.namespace, "target", key):
                return await self._refusal(self.per_target, "target", "target", key)
        for key in ids:
            if not await self._limiter.hit(self.per_target, self.namespace, "target", key):
                return await self._refusal(self.per_target, "target", "target", key)
        return RateDecision(True)
