"""Running several coroutines under one deadline: what finished, what failed, what was cut off.

A coroutine the deadline cuts off is cancelled and awaited, never left running; one that fails
is reported with its exception, never raised. Nothing here logs or decides what a failure means.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

__all__ = ["Gathered", "cancel_all", "gather_within"]


@dataclass(frozen=True)
class Gathered(Generic[K, T]):
    """The outcome of ``gather_within``, by the keys it was given: ``results`` of the ones that
    finished, ``errors`` of the ones that raised, and the ``late`` ones, in the given order."""

    results: dict[K, T]
    errors: dict[K, BaseException]
    late: tuple[K, ...]


async def gather_within(jobs: Mapping[K, Awaitable[T]], seconds: float) -> Gathered[K, T]:
    """Run ``jobs`` concurrently for at most ``seconds`` (0 when negative), then cancel
    what has not finished. If the caller is cancelled meanwhile, every job is cancelled too."""
    tasks = {key: asyncio.ensure_future(job) for key, job in jobs.items()}
    try:
        if tasks:
            await asyncio.wait(tasks.values(), timeout=max(0.0, seconds))
    finally:
        await cancel_all(tasks.values())
    results: dict[K, T] = {}
    errors: dict[K, BaseException] = {}
    late: list[K] = []
    for key, task in tasks.items():
        if task.cancelled():
            late.append(key)
        elif (error := task.exception()) is not None:
            errors[key] = error
        else:
            results[key] = task.result()
    return Gathered(results, errors, tuple(late))


async def cancel_all(tasks: Iterable[asyncio.Future[T]]) -> None:
    """Cancel the ones of ``tasks`` that are not done, and wait until they have ended."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
