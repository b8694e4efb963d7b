"""Rate limits per IP and per normalized address, and per outside target, in memory and (when
configured) in Redis."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from limits.aio.storage.memory import Entry as MemoryEntry

import reset
from reset import ratelimit

REDIS_ENV = "MAILDIAG_TEST_REDIS_URL"


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(
    request: pytest.FixtureRequest,
) -> AsyncIterator[type[reset.ResetRateLimiter]]:
    created: list[reset.ResetRateLimiter | reset.TargetRateLimiter] = []
    url: str | None = None
    if request.param == "redis":
        url = os.environ.get(REDIS_ENV)
        if not url:
            pytest.skip(f"{REDIS_ENV} is not set; Redis tests skipped")
    namespace = f"maildiag-test-{uuid.uuid4().hex[:10]}"

    def factory(
        kind: type[reset.ResetRateLimiter | reset.TargetRateLimiter] = reset.ResetRateLimiter,
        **kwargs: str,
    ) -> reset.ResetRateLimiter | reset.TargetRateLimiter:
        limiter = kind(redis_url=url, namespace=namespace, **kwargs)
        created.append(limiter)
        return limiter

    yield factory  # type: ignore[misc]
    for limiter in created:
        if url:
            await limiter.reset()
        await limiter.aclose()


async def test_per_address_default_is_three(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter()
    results = [await limiter.hit(f"198.51.100.{i}", "Kari@Kunde-OK.example") for i in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert results[-1].limited_by == "address"
    assert 0 < results[-1].retry_after <= 15 * 60


async def test_case_and_spacing_do_not_dodge_the_address_limit(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(per_address="2/hour")
    variants = ["kari@kunde-ok.example", " KARI@KUNDE-OK.EXAMPLE ", "Kari@kunde-ok.example."]
    assert [(await limiter.hit("198.51.100.1", a)).allowed for a in variants] == [True, True, False]


async def test_unknown_addresses_are_limited_exactly_like_known(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter()
    known = [(await limiter.hit("203.0.113.1", "kari@kunde-ok.example")) for _ in range(5)]
    unknown = [(await limiter.hit("203.0.113.2", "nobody@kunde-ok.example")) for _ in range(5)]
    assert [(r.allowed, r.limited_by) for r in known] == [
        (r.allowed, r.limited_by) for r in unknown
    ]
    # even text that is not an address is counted
    junk = [(await limiter.hit("203.0.113.3", "not an address")).allowed for _ in range(4)]
    assert junk == [True, True, True, False]


async def test_per_ip_limit(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(per_ip="5/minute")
    results = [await limiter.hit("192.0.2.9", f"user{i}@kunde-ok.example") for i in range(6)]
    assert [r.allowed for r in results] == [True] * 5 + [False]
    assert results[-1].limited_by == "ip"
    assert (await limiter.hit("192.0.2.10", "user0b@kunde-ok.example")).allowed


async def test_check_asks_without_counting(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(per_address="2/hour", per_ip="3/hour")
    for _ in range(5):
        assert (await limiter.check("192.0.2.1", "kari@kunde-ok.example")).allowed
    await limiter.hit("192.0.2.1", "kari@kunde-ok.example")
    await limiter.hit("192.0.2.1", "kari@kunde-ok.example")
    refused = await limiter.check("192.0.2.1", "KARI@kunde-ok.example")
    assert (refused.allowed, refused.limited_by) == (False, "address")
    assert 0 < refused.retry_after <= 3600
    assert (await limiter.check("192.0.2.1", "ola@kunde-ok.example")).allowed
    await limiter.hit("192.0.2.1", "ola@kunde-ok.example")
    by_ip = await limiter.check("192.0.2.1", "per@kunde-ok.example")
    assert (by_ip.allowed, by_ip.limited_by) == (False, "ip")


async def test_reset_forgets_counters(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(per_address="1/hour")
    assert (await limiter.hit("192.0.2.1", "kari@kunde-ok.example")).allowed
    assert not (await limiter.hit("192.0.2.1", "kari@kunde-ok.example")).allowed
    await limiter.reset()
    assert (await limiter.hit("192.0.2.1", "kari@kunde-ok.example")).allowed


def test_defaults_and_repr() -> None:
    limiter = reset.ResetRateLimiter()
    assert "30 per 1 minute" in repr(limiter)
    assert "3 per 15 minute" in repr(limiter)


async def test_a_target_is_limited_for_everyone_under_each_of_its_names(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(reset.TargetRateLimiter, per_target="2/hour")
    first = await limiter.hit("mx.kunde-ok.example", "192.0.2.25")
    second = await limiter.hit("MX.Kunde-OK.example", "192.0.2.25")
    assert (first.allowed, second.allowed) == (True, True)
    third = await limiter.hit("mx.kunde-ok.example", "192.0.2.25")
    assert (third.allowed, third.limited_by) == (False, "target")
    assert 0 < third.retry_after <= 3600
    # another name for the same server, or another server behind the same name
    assert not (await limiter.hit("mx.other.example", "192.0.2.25")).allowed
    assert not (await limiter.hit("mx.kunde-ok.example", "192.0.2.26")).allowed
    # a refused use counts against none of its keys
    assert (await limiter.hit("mx.other.example")).allowed
    assert (await limiter.hit("192.0.2.26")).allowed
    assert (await limiter.hit("mx.third.example", "192.0.2.27")).allowed


def test_target_limiter_repr() -> None:
    assert "5 per 10 minute" in repr(reset.TargetRateLimiter(per_target="5/10 minutes"))


def _no_thread(*args: object, **kwargs: object) -> object:
    raise AssertionError("a worker thread was started")


async def test_the_memory_store_expires_without_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the library's expiry pass ran asyncio.to_thread per key after every hit, and each thread
    # held the event loop up (a checklist's first DNS questions waited for it)
    monkeypatch.setattr(asyncio, "to_thread", _no_thread)
    limiter = reset.ResetRateLimiter(per_ip="5/minute", per_address="5/minute")
    try:
        for _ in range(3):
            assert (await limiter.hit("192.0.2.1", "kari@example.com")).allowed
            timer = limiter._storage.timer  # type: ignore[attr-defined]  # the expiry pass
            assert isinstance(timer, asyncio.Task)
            await timer
            assert timer.exception() is None
    finally:
        await limiter.aclose()


async def test_the_expiry_pass_drops_exactly_the_expired_entries() -> None:
    storage = ratelimit._LoopMemoryStorage()
    now = time.time()

    def entry(expires_in: float) -> MemoryEntry:
        made = MemoryEntry(60)
        made.expiry = now + expires_in
        return made

    fresh, stale = entry(30), entry(-1)
    storage.events["kept"] = [fresh, entry(10), stale]  # newest first, as the library keeps them
    storage.events["gone"] = [entry(-5)]
    storage.storage.update({"counter": 1, "old": 2})
    storage.expirations.update({"counter": now + 60, "old": now - 1})
    await storage._MemoryStorage__expire_events()
    assert storage.events["kept"][0] is fresh
    assert len(storage.events["kept"]) == 2
    assert "gone" not in storage.events
    assert dict(storage.storage) == {"counter": 1}
    assert list(storage.expirations) == ["counter"]
