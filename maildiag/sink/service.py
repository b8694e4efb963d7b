"""The SMTP sink as a service: store, policies, judge and listeners built from ``Settings``.

``run_sink`` is the one place the sink library is composed. It runs a plain listener (the
relay, and every lab domain's MX) and a second listener whose trusted peers must present the
PROXY protocol, so a test sender can appear to come from a sender identity's egress IP. Every
stored or deleted message is announced on the handle's ``events`` broadcaster (for SSE).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from publicsuffixlist import PublicSuffixList

from diag.authenticate import authenticate
from diag.dmarc import default_psl
from diag.resolver import DnsPythonResolver, Resolver
from maildiag.db import migrate
from maildiag.settings import Settings
from maildiag.sink.events import Broadcaster, Event
from maildiag.sink.pool import ProcessJudge
from maildiag.sink.records import apply_stored
from smtp_sink import (
    CapturedMessage,
    EnvelopeFacts,
    Greylist,
    Judge,
    OnBounce,
    PolicyBook,
    SinkConfig,
    SinkServer,
    SinkStore,
    Verdict,
    load_policies,
    null_judge,
    smtp_deliverer,
)

log = logging.getLogger(__name__)

SINK_HOSTNAME = "sink.maildiag.localhost"
RESOLVER_MAX_USES = 500  # a judge's resolver (cache and query log) is renewed after this many
RESOLVER_MAX_AGE = 60.0  # ... or after this many seconds
RETENTION_INTERVAL = 600.0  # seconds between retention sweeps


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

    ``data`` holds ``Verdict.to_dict()`` (the ``authenticate`` JSON keys). One Public Suffix
    List serves every judgment (building one costs a third of a second of CPU).
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
        )

    return judge


class NotifyingStore(SinkStore):
    """A ``SinkStore`` that announces every save and delete on a broadcaster."""

    def __init__(self, engine: sa.Engine, events: Broadcaster) -> None:
        super().__init__(engine)
        self.events = events

    def save_many(self, messages: Sequence[CapturedMessage]) -> list[int]:
        ids = super().save_many(messages)
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


def _boxes(message: CapturedMessage) -> list[dict[str, str]]:
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

    def info(self) -> dict[str, Any]:
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
    """How many worker processes judge the sink's mail (0: the judge runs on the event loop).

    ``sink_judge_processes = "auto"`` gives 1 on a machine with 2 or more CPUs (``cpus``,
    default ``os.cpu_count()``), and 0 when ``in_loop_dns_only`` (the judge's DNS is reachable
    only through an in-process resolver factory, since workers use ``settings.nameservers``).
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


async def _judge(settings: Settings, resolver_factory: Callable[[], Resolver] | None) -> Judge:
    if not settings.sink_judge:
        return null_judge(SINK_HOSTNAME)
    if resolver_factory is None:
        nameservers = settings.nameservers or None

        def resolver_factory() -> Resolver:
            return DnsPythonResolver(nameservers, timeout=settings.dns_timeout)

    psl = await asyncio.to_thread(PublicSuffixList)
    return authenticate_judge(resolver_factory, psl=psl)


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
    kept in the database laid over them. ``resolver_factory`` overrides the in-loop judge's
    DNS (the lab passes one for its own server); worker processes (``judge_processes``) judge
    through ``settings.nameservers``, and a dead worker's messages are judged in-loop while a
    new one starts.
    Raises ``smtp_sink.ConfigError`` for unusable sink settings or a kept policy that no
    longer parses, ``OSError`` when a port cannot be bound.
    """
    await asyncio.to_thread(migrate, engine)
    events = Broadcaster()
    events.bind(asyncio.get_running_loop())
    store = NotifyingStore(engine, events)
    book = policies if policies is not None else sink_policies(settings)
    defaults = book.copy()
    kept = await asyncio.to_thread(apply_stored, engine, book)
    if kept:
        log.info("sink.policies_kept entries=%d", kept)
    stack = contextlib.AsyncExitStack()
    process_judge: ProcessJudge | None = None
    in_loop_only = resolver_factory is not None and not settings.nameservers
    processes = judge_processes(settings, in_loop_dns_only=in_loop_only)
    if processes:

        async def fallback() -> Judge:  # judges in-loop while a dead worker is replaced
            return await _judge(settings, resolver_factory)

        process_judge = ProcessJudge(
            settings.nameservers or None,
            timeout=settings.dns_timeout,
            authserv_id=SINK_HOSTNAME,
            processes=processes,
            fallback=fallback,
        )
        stack.push_async_callback(process_judge.aclose)  # after the servers have stopped
    judge = process_judge or await _judge(settings, resolver_factory)
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
    shared: dict[str, Any] = {
        "policies": book,
        "judge": judge,
        "deliver": deliver,
        "on_bounce": on_bounce,
        "greylist": Greylist(),
    }
    main = SinkServer(store, host=host, port=settings.smtp_port, config=plain, **shared)
    proxied = SinkServer(
        store,
        host=host,
        port=settings.sink_proxy_port,
        config=replace(plain, proxy_trusted=tuple(settings.sink_proxy_trusted)),
        **shared,
    )
    async with stack:
        if process_judge is not None:
            await process_judge.start()
        await stack.enter_async_context(main)
        await stack.enter_async_context(proxied)
        servers = [main, proxied]
        for address, domain in _mx_listeners(settings).items():
            local = replace(plain, local_domains={address: domain})
            mx = SinkServer(store, host=address, port=main.port, config=local, **shared)
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


__all__ = [
    "NotifyingStore",
    "SinkHandle",
    "authenticate_judge",
    "bounce_patterns",
    "judge_processes",
    "run_sink",
    "sink_policies",
]
