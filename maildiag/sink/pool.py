"""The sink's judge in worker processes, so judging (about 2-5 ms of CPU per message) runs on
another core than the SMTP event loop and the store.

Each worker is ``python -m maildiag.sink.pool``: it builds its event loop, Public Suffix List and
resolver once, then judges the messages it reads from stdin concurrently, writing each verdict
to stdout as it is ready. Frames are a 4-byte big-endian length and a pickle (both ends are
this module, in processes we started). The sink's event loop writes and reads the pipes itself:
no threads, so a judgment costs the loop only the framing. A worker exits when its stdin
closes, so it never outlives the sink, even a killed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import pickle
import signal
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import TypedDict, TypeVar

from smtp_sink import EnvelopeFacts, HeaderSummary, JsonValue, Judge, Verdict, summarize_headers

log = logging.getLogger(__name__)

MAX_RESTARTS = 3  # workers started anew after one died, before the fallback judges all
WORKER_CONCURRENCY = 32  # judgments in flight in one worker (they overlap their DNS waits)
STOP_TIMEOUT = 5.0  # seconds a worker gets to finish after its stdin closes
_HEADER = struct.Struct(">I")
_READY = 0  # the frame id a worker sends once it can judge

FallbackFactory = Callable[[], Awaitable[Judge]]


class JudgeWorkerDied(RuntimeError):
    """A judge worker process exited or broke its pipe with judgments in flight."""


_Request = tuple[int, bytes, str, str, str]  # id, message, client IP, HELO, MAIL FROM
_Summary = tuple[str, str, str]  # a HeaderSummary's fields, in their order
_Fields = tuple[str, str, str, dict[str, JsonValue], _Summary]  # a Verdict's, in their order
_Reply = tuple[int, _Fields | None, str | None]  # id, the verdict or None, the failure or None
_T = TypeVar("_T")


class _Config(TypedDict):
    """What a worker is started with (as JSON on its command line)."""

    nameservers: list[str] | None
    timeout: float
    authserv_id: str


def _frame(payload: _Request | _Reply) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    """The next frame's pickle; ``IncompleteReadError`` at the end of the stream."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return await reader.readexactly(size)


def _reply(frame: bytes) -> _Reply:
    return pickle.loads(frame)  # type: ignore[no-any-return]  # noqa: S301 - our own child


def _request(frame: bytes) -> _Request:
    return pickle.loads(frame)  # type: ignore[no-any-return]  # noqa: S301 - our own parent


def _fields(verdict: Verdict, raw: bytes) -> _Fields:
    """What a worker sends back for ``verdict``: its fields, with the header summary of ``raw``."""
    summary = verdict.summary if verdict.summary is not None else summarize_headers(raw)
    headers = (summary.message_id, summary.subject, summary.from_header)
    data = dict(verdict.data)
    return verdict.authentication_results, verdict.dmarc_result, verdict.dmarc_policy, data, headers


def _fail(waiter: asyncio.Future[_T], error: BaseException) -> None:
    if not waiter.done():
        waiter.set_exception(error)
        waiter.exception()  # retrieved here: nobody may be waiting for it


class _Worker:
    """One worker process and the judgments it has in flight."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pending: dict[int, asyncio.Future[_Fields]] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.get_running_loop().create_task(self._read())
        self.alive = True

    async def _read(self) -> None:
        assert self.process.stdout is not None
        error: BaseException = JudgeWorkerDied(f"judge worker {self.process.pid} exited")
        try:
            while True:
                ident, result, failure = _reply(await _read_frame(self.process.stdout))
                if ident == _READY:
                    if not self.ready.done():
                        self.ready.set_result(None)
                    continue
                future = self.pending.pop(ident, None)
                if future is None or future.done():
                    continue
                if result is None:
                    future.set_exception(RuntimeError(f"judge failed in worker: {failure}"))
                else:
                    future.set_result(result)
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError) as exc:
            error = JudgeWorkerDied(f"judge worker {self.process.pid} died: {exc!r}")
        finally:
            self.alive = False
            _fail(self.ready, error)
            for waiter in self.pending.values():
                _fail(waiter, error)
            self.pending.clear()

    async def judge(self, ident: int, raw: bytes, facts: EnvelopeFacts) -> _Fields:
        assert self.process.stdin is not None
        if not self.alive:
            raise JudgeWorkerDied(f"judge worker {self.process.pid} is gone")
        future: asyncio.Future[_Fields] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        try:
            request: _Request = (ident, raw, facts.client_ip, facts.helo, facts.mail_from)
            self.process.stdin.write(_frame(request))
        except (ConnectionError, RuntimeError) as error:
            self.pending.pop(ident, None)
            raise JudgeWorkerDied(f"judge worker {self.process.pid}: {error!r}") from error
        return await future

    async def stop(self) -> None:
        """Close stdin (the worker finishes what it holds and exits); kill it if it lingers."""
        self.alive = False
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("sink.judge_worker_killed pid=%d", self.process.pid)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class ProcessJudge:
    """A ``Judge`` that runs ``diag.authenticate`` in ``processes`` worker processes.

    ``await start()`` before the first message and ``await aclose()`` at the end. When a worker
    dies, the judgments it held are made again by the judge that ``fallback`` builds (once, on
    first need; the sink's runs in a thread) and a new worker is started, up to
    ``max_restarts`` times in all; with no worker left the fallback judges every message.
    Without ``fallback`` the error (``JudgeWorkerDied``) is raised, and the sink stores the
    message with no verdict.
    """

    def __init__(
        self,
        nameservers: list[str] | None,
        *,
        timeout: float,
        authserv_id: str,
        processes: int,
        fallback: FallbackFactory | None = None,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self.processes = max(1, processes)
        config = _Config(nameservers=nameservers, timeout=timeout, authserv_id=authserv_id)
        self._config = json.dumps(config)
        self._workers: list[_Worker] = []
        self._fallback_factory = fallback
        self._fallback: Judge | None = None
        self._ids = itertools.count(1)
        self._turn = itertools.count()
        self._closed = False
        self.restarts_left = max(0, max_restarts)
        self.failures = 0  # judgments made by the fallback because a worker died

    @property
    def pids(self) -> list[int]:
        """The live workers' process ids."""
        return [w.process.pid for w in self._workers if w.alive]

    async def _spawn(self) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "maildiag.sink.pool",
            self._config,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = _Worker(process)
        self._workers.append(worker)
        return worker

    async def start(self) -> None:
        """Start every worker and wait until each has loaded its Public Suffix List.

        Raises ``JudgeWorkerDied`` when a worker cannot start.
        """
        workers = [await self._spawn() for _ in range(self.processes)]
        await asyncio.gather(*(w.ready for w in workers))

    async def __call__(self, raw: bytes, facts: EnvelopeFacts) -> Verdict:
        for dead in [w for w in self._workers if not w.alive]:
            await self._replace(dead)  # one that died idle
        live = [w for w in self._workers if w.alive]
        if not live:
            return await self._by_fallback(raw, facts)
        worker = live[next(self._turn) % len(live)]
        try:
            fields = await worker.judge(next(self._ids), raw, facts)
        except JudgeWorkerDied:
            if self._fallback_factory is None:
                raise
            await self._replace(worker)
            return await self._by_fallback(raw, facts)
        results, dmarc_result, dmarc_policy, data, summary = fields
        return Verdict(results, dmarc_result, dmarc_policy, data, HeaderSummary(*summary))

    async def _replace(self, dead: _Worker) -> None:
        """Retire a dead worker (once, however many judgments saw it die); start another."""
        if dead not in self._workers:
            return
        self._workers.remove(dead)
        code = dead.process.returncode
        if self.restarts_left and not self._closed:
            self.restarts_left -= 1
            log.error("sink.judge_worker_died code=%s action=restart", code)
            await self._spawn()  # its first judgments wait in the pipe until it is ready
        else:
            log.error("sink.judge_worker_died code=%s action=judge_by_fallback", code)
        await dead.stop()

    async def _by_fallback(self, raw: bytes, facts: EnvelopeFacts) -> Verdict:
        self.failures += 1
        if self._fallback is None:
            if self._fallback_factory is None:
                raise JudgeWorkerDied("no judge worker is running")
            self._fallback = await self._fallback_factory()
        return await self._fallback(raw, facts)

    async def aclose(self) -> None:
        """Stop the workers (each finishes the judgments it holds)."""
        self._closed = True
        workers, self._workers = self._workers, []
        await asyncio.gather(*(w.stop() for w in workers))


async def _serve(config: _Config) -> None:
    """The worker: judge frames from stdin, write verdicts to stdout, until stdin closes."""
    from diag.dmarc import default_psl
    from diag.resolver import DnsPythonResolver, Resolver
    from maildiag.sink.judge import authenticate_judge

    def resolver() -> Resolver:
        return DnsPythonResolver(config["nameservers"], timeout=config["timeout"])

    judge = authenticate_judge(resolver, authserv_id=config["authserv_id"], psl=default_psl())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    slots = asyncio.Semaphore(WORKER_CONCURRENCY)
    tasks: set[asyncio.Task[None]] = set()

    outgoing: list[bytes] = []

    def flush() -> None:
        out.write(b"".join(outgoing))
        out.flush()
        outgoing.clear()

    def reply(payload: _Reply) -> None:
        """Queue a frame; the frames of one turn of the loop go out in one write."""
        if not outgoing:
            loop.call_soon(flush)
        outgoing.append(_frame(payload))

    async def one(ident: int, raw: bytes, ip: str, helo: str, mail_from: str) -> None:
        try:
            facts = EnvelopeFacts(client_ip=ip, helo=helo, mail_from=mail_from, rcpt_tos=())
            reply((ident, _fields(await judge(raw, facts), raw), None))
        except Exception as error:  # reported to the sink, which stores without a verdict
            reply((ident, None, repr(error)))
        finally:
            slots.release()

    reply((_READY, None, None))
    while True:
        try:
            request = _request(await _read_frame(reader))
        except asyncio.IncompleteReadError:
            break
        await slots.acquire()
        task = loop.create_task(one(*request))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    if outgoing:
        flush()


def event_loop() -> asyncio.AbstractEventLoop:
    """The worker's event loop: uvloop's where it is installed (uvicorn's ``standard`` extra
    brings it), asyncio's own elsewhere.

    A judgment is many short coroutines over cached DNS answers (SPF, DKIM and ARC gathered as
    tasks, then DMARC), so the loop's own cost per step is a large part of the worker's CPU;
    uvloop's is smaller (docs/benchmarks.md, the SMTP sink). The worker is only this code and
    dnspython's asyncio transport, which uvloop runs unchanged.
    """
    try:
        import uvloop  # optional: without it the worker runs on asyncio's own loop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str]) -> None:
    """Run one judge worker with the JSON configuration in ``argv[0]``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the sink; its exit stops us
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with asyncio.Runner(loop_factory=event_loop) as runner:
        runner.run(_serve(json.loads(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])


__all__ = ["JudgeWorkerDied", "ProcessJudge"]
