"""Group commit: each message answered once the transaction holding it has committed."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from smtp_sink.capture import CapturedMessage
from smtp_sink.errors import StoreError
from smtp_sink.store import SinkStore

log = logging.getLogger(__name__)

GROUP_COMMIT_MAX = 64  # messages in one transaction
GROUP_COMMIT_LINGER = 0.0  # seconds a batch may wait for more (when others wait); none


_Waiter = tuple[CapturedMessage, "asyncio.Future[int]"]


class GroupCommit:
    """Group commit for an event loop: ``await save(message)`` returns once it is committed.

    One batch at a time runs ``store.save_many`` on ``executor``; messages that arrive while
    it commits wait and go together in the next transaction (at most ``max_batch``), which
    starts as soon as the previous one has committed. With ``linger`` (none by default: the
    wait is the commit's latency, which the clients' next messages pay) a batch of more than
    one message may wait up to that many seconds for more.
    If a batch fails, its messages are saved one by one, so only a bad message fails (with
    ``StoreError``). Nothing resolves before the transaction holding it has committed. A batch
    of one goes through ``store.save``, larger ones through ``store.save_many``.
    """

    def __init__(
        self,
        store: SinkStore,
        executor: Executor | None = None,
        *,
        max_batch: int = GROUP_COMMIT_MAX,
        linger: float = GROUP_COMMIT_LINGER,
    ) -> None:
        self.store = store
        self._executor = executor
        self.max_batch = max(1, max_batch)
        self.linger = max(0.0, linger)
        self._waiting: list[_Waiter] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (for tests and benchmarks)

    async def save(self, message: CapturedMessage) -> int:
        """Queue ``message``; its id once the transaction holding it has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._waiting.append((message, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            if self.linger and 1 < len(self._waiting) < self.max_batch:
                await asyncio.sleep(self.linger)
            batch, self._waiting = (
                self._waiting[: self.max_batch],
                self._waiting[self.max_batch :],
            )
            try:
                ids = await loop.run_in_executor(self._executor, self._commit, batch)
            except StoreError as error:
                if len(batch) == 1:
                    _settle(batch[0][1], error=error)
                    continue
                log.warning("sink.group_commit_failed size=%d error=%s", len(batch), error)
                await self._one_by_one(batch)
                continue
            except (Exception, asyncio.CancelledError) as error:  # no message may hang
                for _, future in batch + self._waiting:
                    _settle(future, error=StoreError(repr(error), operation="save"))
                self._waiting = []
                if isinstance(error, asyncio.CancelledError):
                    raise
                log.error("sink.group_commit_stopped error=%r", error)
                return
            self.batches += 1
            for (_, future), new_id in zip(batch, ids, strict=True):
                _settle(future, value=new_id)

    def _commit(self, batch: list[_Waiter]) -> list[int]:
        if len(batch) == 1:
            return [self.store.save(batch[0][0])]
        return self.store.save_many([m for m, _ in batch])

    async def _one_by_one(self, batch: list[_Waiter]) -> None:
        loop = asyncio.get_running_loop()
        for message, future in batch:
            try:
                new_id = await loop.run_in_executor(self._executor, self.store.save, message)
            except StoreError as error:
                _settle(future, error=error)
            else:
                self.batches += 1
                _settle(future, value=new_id)

    async def drain(self) -> None:
        """Wait until every queued message is committed (or has failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.wait([self._flusher])


def _settle(
    future: asyncio.Future[int], *, value: int = 0, error: BaseException | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
