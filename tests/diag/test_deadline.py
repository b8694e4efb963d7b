"""diag.deadline: what one deadline leaves of several coroutines, and nothing left running."""

from __future__ import annotations

import asyncio

import pytest

from diag.deadline import cancel_all, gather_within


async def _value(value: int) -> int:
    return value


async def _fail() -> int:
    raise LookupError("nope")


async def _never(ended: list[str]) -> int:
    try:
        await asyncio.Event().wait()
    finally:
        ended.append("never")
    return 0


async def test_results_errors_and_late_by_key() -> None:
    ended: list[str] = []
    gathered = await gather_within({"a": _value(1), "b": _fail(), "c": _never(ended)}, 0)
    assert gathered.results == {"a": 1}
    assert list(gathered.errors) == ["b"]
    assert isinstance(gathered.errors["b"], LookupError)
    assert gathered.late == ("c",)
    assert ended == ["never"]  # cancelled and awaited, not left running


async def test_everything_in_time_and_nothing_to_do() -> None:
    gathered = await gather_within({1: _value(1), 2: _value(2)}, 60)
    assert (gathered.results, gathered.errors, gathered.late) == ({1: 1, 2: 2}, {}, ())
    empty = await gather_within({}, 60)
    assert (empty.results, empty.errors, empty.late) == ({}, {}, ())


async def test_a_cancelled_caller_cancels_every_job() -> None:
    ended: list[str] = []
    started = asyncio.Event()

    async def caller() -> None:
        started.set()
        await gather_within({"x": _never(ended)}, 60)

    task = asyncio.ensure_future(caller())
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended == ["never"]


async def test_cancel_all_leaves_done_tasks_alone() -> None:
    done = asyncio.ensure_future(_value(3))
    await done
    ended: list[str] = []
    pending = asyncio.ensure_future(_never(ended))
    await asyncio.sleep(0)
    await cancel_all([done, pending])
    assert done.result() == 3
    assert pending.cancelled()
    assert ended == ["never"]
