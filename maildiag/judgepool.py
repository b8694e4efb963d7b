"""The sink's judge in worker processes, so judging (about 3.5 ms of CPU per message) runs on
another core than the SMTP event loop and the store.

Each worker builds its own event loop, Public Suffix List and resolver once (in the pool's
initializer) and judges one message at a time with ``maildiag.sinkservice.authenticate_judge``.
The per-process ``_WORKER`` holder is the one piece of module state, and it exists only inside
the workers.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from diag.resolver import DnsPythonResolver, Resolver
from smtp_sink import EnvelopeFacts, Judge, Verdict

log = logging.getLogger(__name__)


@dataclass
class _WorkerState:
    loop: asyncio.AbstractEventLoop
    judge: Judge


_WORKER: list[_WorkerState] = []  # filled once per worker process by _start_worker


def _start_worker(nameservers: list[str] | None, timeout: float, authserv_id: str) -> None:
    from publicsuffixlist import PublicSuffixList

    from maildiag.sinkservice import authenticate_judge

    def resolver() -> Resolver:
        return DnsPythonResolver(nameservers, timeout=timeout)

    judge = authenticate_judge(resolver, authserv_id=authserv_id, psl=PublicSuffixList())
    _WORKER.append(_WorkerState(asyncio.new_event_loop(), judge))


def _judge_here(raw: bytes, ip: str, helo: str, mail_from: str) -> dict[str, Any]:
    state = _WORKER[0]
    facts = EnvelopeFacts(client_ip=ip, helo=helo, mail_from=mail_from, rcpt_tos=())
    return state.loop.run_until_complete(state.judge(raw, facts)).as_json()


def _ready() -> bool:
    return bool(_WORKER)


class ProcessJudge:
    """A ``Judge`` that runs ``diag.authenticate`` in ``processes`` worker processes.

    Use ``await start()`` before the first message and ``close()`` at the end. A failed or
    broken worker raises from the call; the sink then stores the message with no verdict.
    """

    def __init__(
        self, nameservers: list[str] | None, *, timeout: float, authserv_id: str, processes: int
    ) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=max(1, processes),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(nameservers, timeout, authserv_id),
        )
        self.processes = max(1, processes)

    async def start(self) -> None:
        """Start every worker (each loads its Public Suffix List) before mail arrives."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._pool, _ready) for _ in range(self.processes))
        )

    async def __call__(self, raw: bytes, facts: EnvelopeFacts) -> Verdict:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self._pool, _judge_here, raw, facts.client_ip, facts.helo, facts.mail_from
        )
        return Verdict(
            authentication_results=result["authentication_results"],
            dmarc_result=result["dmarc_result"],
            dmarc_policy=result["dmarc_policy"],
            data=result["data"],
        )

    def close(self) -> None:
        """Stop the workers (waiting for the one message each may be judging)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["ProcessJudge"]
