"""The sink's judge: the receiver's verdict of ``diag.authenticate`` on one message, and the
thread that runs it off the sink's event loop.

``authenticate_judge`` is the judgment itself (SPF, DKIM, DMARC, ARC through one shared
resolver and Public Suffix List); the worker processes of ``maildiag.sink.pool`` run it, and so
does ``ThreadJudge`` in the sink's own process. Verifying a message (RSA, MIME and header
parsing, DNS answers) costs CPU that depends on the sender's input, so it never runs on the
loop that answers SMTP and HTTP. This module imports neither the pool nor the service.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from publicsuffixlist import PublicSuffixList

from diag.authenticate import authenticate
from diag.dmarc import default_psl
from diag.resolver import Resolver
from smtp_sink import EnvelopeFacts, Judge, Verdict, summarize_headers

log = logging.getLogger(__name__)

SINK_HOSTNAME = "sink.maildiag.localhost"
RESOLVER_MAX_USES = 500  # a judge's resolver (cache and query log) is renewed after this many
RESOLVER_MAX_AGE = 60.0  # ... or after this many seconds
THREAD_CONCURRENCY = 32  # judgments in flight in the judge thread (they overlap DNS waits)
STOP_TIMEOUT = 5.0  # seconds the judge thread gets to finish after ``aclose``


class _ResolverPool:
    """One resolver shared by many judgments (its cache helps), renewed so its log stays small."""

    def __init__(self, factory: Callable[[], Resolver]) -> None:
        self._factory = factory
        self._current: Resolver | None = None
        self._uses = 0
        self._born = 0.0

    def get(self) -> Resolver:
        now = time.monotonic()
        stale = self._uses >= RESOLVER_MAX_USES or now - self._born > RESOLVER_MAX_AGE
        if self._current is None or stale:
            self._current, self._uses, self._born = self._factory(), 0, now
        self._uses += 1
        return self._current


def authenticate_judge(
    resolver_factory: Callable[[], Resolver],
    *,
    authserv_id: str = SINK_HOSTNAME,
    psl: PublicSuffixList | None = None,
) -> Judge:
    """A ``Judge`` giving the receiver's verdict of ``diag.authenticate`` (SPF, DKIM, DMARC, ARC).

    ``data`` holds ``Verdict.to_dict()`` (the ``authenticate`` JSON keys) and ``summary`` the
    message's header summary, read here so the sink's loop need not hand it to a thread of its
    own (the judge runs in a worker process or the judge thread). One Public Suffix
    List serves every judgment (building one costs a third of a second of CPU). The resolver
    is made on first use, on the event loop the judge is awaited on; await it on one loop only.
    """
    pool = _ResolverPool(resolver_factory)
    suffixes = psl or default_psl()

    async def judge(raw: bytes, facts: EnvelopeFacts) -> Verdict:
        verdict = await authenticate(
            raw,
            ip=facts.client_ip,
            helo=facts.helo or None,
            mail_from=facts.mail_from or None,
            resolver=pool.get(),
            authserv_id=authserv_id,
            psl=suffixes,
        )
        return Verdict(
            authentication_results=verdict.authentication_results,
            dmarc_result=verdict.dmarc.result,
            dmarc_policy=verdict.dmarc.policy,
            data=verdict.to_dict(),
            summary=summarize_headers(raw),
        )

    return judge


class ThreadJudge:
    """A ``Judge`` that runs ``inner`` on an event loop of its own, in one daemon thread.

    The caller's loop only hands the message over and waits: while a judgment computes, that
    loop keeps answering SMTP and HTTP (the two share the interpreter, so the judge's CPU is
    interleaved with the loop's work, never in front of it). At most ``concurrency``
    judgments are in the thread at once; more wait their turn on the caller's loop (one loop
    only). A judgment whose caller is cancelled is cancelled in the thread.
    ``await aclose()`` stops the thread; it is a daemon, so a sink that never closes it still
    exits.
    """

    def __init__(self, inner: Judge, *, concurrency: int = THREAD_CONCURRENCY) -> None:
        self._inner = inner
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="sink-judge", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    @property
    def thread_id(self) -> int | None:
        """The judging thread's identifier."""
        return self._thread.ident

    async def __call__(self, raw: bytes, facts: EnvelopeFacts) -> Verdict:
        async with self._slots:
            future = asyncio.run_coroutine_threadsafe(self._judge(raw, facts), self._loop)
            return await asyncio.wrap_future(future)

    async def _judge(self, raw: bytes, facts: EnvelopeFacts) -> Verdict:
        return await self._inner(raw, facts)  # on the judge thread's loop

    async def aclose(self) -> None:
        """Stop the judge thread; judgments still running there are cancelled."""
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, STOP_TIMEOUT)
        if self._thread.is_alive():
            log.warning("sink.judge_thread_lingers")


__all__ = ["SINK_HOSTNAME", "ThreadJudge", "authenticate_judge"]
