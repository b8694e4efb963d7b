"""The SMTP sink as a service: store, policies, judge and listeners built from ``Settings``.

``run_sink`` is the one place the sink library is composed. It runs a plain listener (the
relay, and every lab domain's MX) and a second listener whose trusted peers must present the
PROXY protocol, so a test sender can appear to come from a sender identity's egress IP. Every
stored or deleted message is announced on the handle's ``events`` broadcaster (for SSE), and
mail to a report address goes to the receivers' reports (``maildiag.sink.intake``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import sqlalchemy as sa
from publicsuffixlist import PublicSuffixList

from diag.resolver import DnsPythonResolver, Resolver
from maildiag.db import migrate
from maildiag.settings import Settings
from maildiag.sink.events import Broadcaster, Event
from maildiag.sink.intake import ReportIntake, report_patterns
from maildiag.sink.judge import SINK_HOSTNAME, ThreadJudge, authenticate_judge
from maildiag.sink.pool import JudgeWorkerDied, ProcessJudge
from maildiag.sink.records import apply_stored
from smtp_sink import (
    CapturedMessage,
    Greylist,
    JsonObject,
    JsonValue,
    Judge,
    OnBounce,
    PolicyBook,
    SinkConfig,
    SinkServer,
    SinkStore,
    load_policies,
    null_judge,
    smtp_deliverer,
)

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 600.0  # seconds between retention sweeps


class NotifyingStore(SinkStore):
    """A ``SinkStore`` that announces every save and delete on a broadcaster, and hands report
    mail to the ``intake`` once it is stored."""

    def __init__(
        self, engine: sa.Engine, events: Broadcaster, intake: ReportIntake | None = None
    ) -> None:
        super().__init__(engine)
        self.events = events
        self.intake = intake

    def save_many(self, messages: Sequence[CapturedMessage]) -> list[int]:
        ids = super().save_many(messages)
        if self.intake is not None:
            self.intake.take(list(zip(ids, messages, strict=True)))
        stored = [
            Event("stored", {"id": new_id, "mailboxes": _boxes(message)})
            for new_id, message in zip(ids, messages, strict=True)
        ]
        self.events.publish_all_threadsafe(stored)  # one wake-up of the loop per transaction
        return ids

    def delete(
        self,
        ids: Iterable[int] | None = None,
        *,
        mailbox: str | None = None,
        all_messages: bool = False,
    ) -> int:
        removed = super().delete(ids, mailbox=mailbox, all_messages=all_messages)
        if removed:
            self.events.publish_threadsafe("deleted", count=removed)
        return removed


def _boxes(message: CapturedMessage) -> list[JsonValue]:
    return [{"address": m.address, "folder": m.folder} for m in message.mailboxes]


@dataclass
class SinkHandle:
    """A running sink: what the web app and the lab need from it.

    ``policies`` is the live book (the defaults with the kept changes over them);
    ``defaults`` what it was before any change; ``changes`` is held while one is made.
    """

    store: SinkStore
    policies: PolicyBook
    events: Broadcaster
    host: str
    port: int
    proxy_port: int
    servers: tuple[SinkServer, ...]
    defaults: PolicyBook = field(default_factory=PolicyBook)
    changes: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def info(self) -> JsonObject:
        """Where the sink listens (for the API and the pages)."""
        return {"smtp": {"host": self.host, "port": self.port, "proxy_port": self.proxy_port}}


def sink_policies(settings: Settings) -> PolicyBook:
    """The lab's demo policies (in the lab) with the policy file's entries on top.

    Raises ``smtp_sink.ConfigError`` for an unusable policy file.
    """
    extra = PolicyBook()
    if settings.sink_policy_file is not None:
        extra = load_policies(settings.sink_policy_file)
    if not settings.lab:
        return extra
    from maildiag.lab.policies import lab_policies

    book = lab_policies(bounce_delay=settings.sink_bounce_delay)
    book.domains.update(extra.domains)
    book.addresses.update(extra.addresses)
    return book


def bounce_patterns(settings: Settings) -> tuple[str, ...]:
    """The configured bounce addresses, or ``bounce+*@<envelope domain>`` of every sender."""
    if settings.sink_bounce_addresses:
        return tuple(settings.sink_bounce_addresses)
    return tuple(sorted({f"bounce+*@{s.envelope}" for s in settings.senders}))


def _mx_listeners(settings: Settings) -> dict[str, str]:
    """Local address -> demo domain, for the lab's domains that answer at MAIL FROM."""
    if not settings.lab or settings.smtp_host not in ("127.0.0.1", "localhost"):
        return {}
    from maildiag.lab.policies import LAB_MX_ADDRESSES

    return {address: domain for domain, address in LAB_MX_ADDRESSES.items()}


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def judge_processes(
    settings: Settings, *, in_loop_dns_only: bool = False, cpus: int | None = None
) -> int:
    """How many worker processes judge the sink's mail (0: one thread of the sink judges).

    ``sink_judge_processes = "auto"`` gives 1 on a machine with 2 or more CPUs (``cpus``,
    default ``os.cpu_count()``), and 0 when ``in_loop_dns_only`` (the judge's DNS is reachable
    only through an in-process resolver factory, since workers use ``settings.nameservers``;
    the judge thread uses that factory).
    """
    if not settings.sink_judge:
        return 0
    wanted = settings.sink_judge_processes
    if wanted != "auto":
        return wanted
    if in_loop_dns_only:
        return 0
    count = os.cpu_count() if cpus is None else cpus
    return 1 if (count or 1) >= 2 else 0


async def _thread_judge(
    settings: Settings, resolver_factory: Callable[[], Resolver] | None
) -> ThreadJudge:
    if resolver_factory is None:
        nameservers = settings.nameservers or None

        def resolver_factory() -> Resolver:
            return DnsPythonResolver(nameservers, timeout=settings.dns_timeout)

    psl = await asyncio.to_thread(PublicSuffixList)
    return ThreadJudge(authenticate_judge(resolver_factory, psl=psl))


async def _started_pool(pool: ProcessJudge) -> ProcessJudge | None:
    """``pool`` once its workers are ready, or None (stopped again) when one cannot start."""
    try:
        await pool.start()
    except JudgeWorkerDied as error:
        log.error("sink.judge_workers_failed error=%s action=judge_in_thread", error)
        await pool.aclose()
        return None
    return pool


@contextlib.asynccontextmanager
async def _sink_judge(
    settings: Settings, resolver_factory: Callable[[], Resolver] | None
) -> AsyncIterator[Judge]:
    """The judge the sink's servers share, stopped on exit.

    ``judge_processes`` worker processes (``maildiag.sink.pool``) judge when there are any
    and they start; otherwise, and for the judgments of a worker that died, a ``ThreadJudge``
    does, so no judgment runs on the event loop that answers SMTP and HTTP.
    """
    if not settings.sink_judge:
        yield null_judge(SINK_HOSTNAME)
        return
    threads: list[ThreadJudge] = []

    async def in_thread() -> Judge:
        judge = await _thread_judge(settings, resolver_factory)
        threads.append(judge)
        return judge

    in_process_dns = resolver_factory is not None and not settings.nameservers
    processes = judge_processes(settings, in_loop_dns_only=in_process_dns)
    pool: ProcessJudge | None = None
    try:
        if processes:
            pool = ProcessJudge(
                settings.nameservers or None,
                timeout=settings.dns_timeout,
                authserv_id=SINK_HOSTNAME,
                processes=processes,
                fallback=in_thread,
            )
            pool = await _started_pool(pool)
        yield pool or await in_thread()
    finally:
        if pool is not None:
            await pool.aclose()
        for judge in threads:
            await judge.aclose()


async def _retention(store: SinkStore, settings: Settings) -> None:
    max_age = dt.timedelta(days=settings.sink_retention_days)
    while True:
        removed = await asyncio.to_thread(
            store.apply_retention,
            max_count=settings.sink_retention_count or None,
            max_age=max_age if settings.sink_retention_days else None,
        )
        if removed:
            log.info("sink.retention removed=%d", removed)
        await asyncio.sleep(RETENTION_INTERVAL)


@contextlib.asynccontextmanager
async def run_sink(
    settings: Settings,
    engine: sa.Engine,
    *,
    on_bounce: OnBounce | None = None,
    resolver_factory: Callable[[], Resolver] | None = None,
    policies: PolicyBook | None = None,
) -> AsyncIterator[SinkHandle]:
    """Migrate the schema, start both listeners, yield the handle; stop them on exit.

    The policies are ``policies`` (default: ``sink_policies(settings)``) with the changes
    kept in the database laid over them. ``resolver_factory`` overrides the judge thread's
    DNS (the lab passes one for its own server); worker processes (``judge_processes``) judge
    through ``settings.nameservers``, and a dead worker's messages are judged in the judge
    thread while a new one starts.
    Raises ``smtp_sink.ConfigError`` for unusable sink settings or a kept policy that no
    longer parses, ``OSError`` when a port cannot be bound.
    """
    await asyncio.to_thread(migrate, engine)
    events = Broadcaster()
    events.bind(asyncio.get_running_loop())
    patterns = report_patterns(settings)
    intake = ReportIntake(engine, patterns) if patterns else None
    store = NotifyingStore(engine, events, intake)
    book = policies if policies is not None else sink_policies(settings)
    defaults = book.copy()
    kept = await asyncio.to_thread(apply_stored, engine, book)
    if kept:
        log.info("sink.policies_kept entries=%d", kept)
    host = settings.smtp_host
    main: SinkServer | None = None

    async def deliver(dsn: bytes, mail_from: str = "", rcpt: str = "") -> None:
        assert main is not None
        send = smtp_deliverer(_connect_host(host), main.port)
        await send(dsn, mail_from=mail_from, rcpt=rcpt)

    plain = SinkConfig(
        hostname=SINK_HOSTNAME,
        max_message_size=settings.sink_max_message_size,
        bounce_addresses=bounce_patterns(settings),
        tls_dir=settings.data_dir / "sink-tls",
        max_connections=settings.sink_max_connections,
        max_connections_per_client=settings.sink_max_connections_per_client,
        first_command_timeout=settings.sink_first_command_timeout,
    )
    async with contextlib.AsyncExitStack() as stack:
        judge = await stack.enter_async_context(_sink_judge(settings, resolver_factory))
        server = partial(
            SinkServer,
            store,
            policies=book,
            judge=judge,
            deliver=deliver,
            on_bounce=on_bounce,
            greylist=Greylist(),
        )
        main = server(host=host, port=settings.smtp_port, config=plain)
        trusted = tuple(settings.sink_proxy_trusted)
        proxied = server(
            host=host, port=settings.sink_proxy_port, config=replace(plain, proxy_trusted=trusted)
        )
        await stack.enter_async_context(main)
        await stack.enter_async_context(proxied)
        servers = [main, proxied]
        for address, domain in _mx_listeners(settings).items():
            local = replace(plain, local_domains={address: domain})
            mx = server(host=address, port=main.port, config=local)
            servers.append(await stack.enter_async_context(mx))
        sweeper = asyncio.create_task(_retention(store, settings))
        try:
            yield SinkHandle(
                store, book, events, host, main.port, proxied.port, tuple(servers), defaults
            )
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if intake is not None:
                await asyncio.to_thread(intake.close)
    await asyncio.to_thread(store.close)  # the listeners are stopped: no save is running


__all__ = [
    "NotifyingStore",
    "SinkHandle",
    "bounce_patterns",
    "judge_processes",
    "run_sink",
    "sink_policies",
]
