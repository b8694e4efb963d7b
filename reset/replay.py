"""A shared replay store for solved captcha challenges, in Redis.

Owns ``RedisReplayStore``: the same ``ReplayStore`` shape as the in-memory store in
``reset.captcha``, for app replicas that must refuse a challenge solved at another replica.
One atomic ``SET key NX PX ttl`` decides; the key expires with the challenge.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import redis.asyncio


class RedisReplayStore:
    """Remembers solved challenges in Redis until they expire. Call ``aclose()`` at shutdown."""

    def __init__(self, *, url: str, prefix: str = "maildiag:captcha:seen:") -> None:
        self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"RedisReplayStore(prefix={self.prefix!r})"

    async def claim(self, key: str, *, expires_at: dt.datetime, now: dt.datetime) -> bool:
        """True the first time ``key`` is seen before ``expires_at``; False after that."""
        ttl_ms = max(1, int((expires_at - now).total_seconds() * 1000))
        name = self.prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()
        created = await self._client.set(name, b"1", nx=True, px=ttl_ms)
        return bool(created)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
