"""``SinkServer``: the sink's listening socket, bound by us with ``loop.create_server``.

Port 0 works: the kernel picks a port and ``.port`` reads it back (aiosmtpd's ``Controller``
is not used). Database work runs on a small thread pool so the event loop never blocks on it;
messages are committed there in groups (``GroupCommit``), each DATA answered 250 only after
the transaction holding its message has committed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from types import TracebackType
from typing import Self

from smtp_sink.bounces import OnBounce
from smtp_sink.capture import CapturedMessage
from smtp_sink.config import SinkConfig
from smtp_sink.dsn import Deliver
from smtp_sink.greylist import Greylist
from smtp_sink.group_commit import GroupCommit
from smtp_sink.handler import SinkHandler
from smtp_sink.policies import PolicyBook
from smtp_sink.protocol import ConnectionGate, PathCache, SinkSMTP
from smtp_sink.proxy import is_trusted, parse_networks
from smtp_sink.store import SinkStore
from smtp_sink.tls import ensure_certificate, server_tls_context
from smtp_sink.verdicts import Judge

log = logging.getLogger(__name__)
AIOSMTPD_LOGGER = "mail.log"  # the logger aiosmtpd's SMTP class writes to


class _NoDebugRecords(logging.Filter):
    """Drops aiosmtpd's DEBUG records: at that level it logs every DATA line, so message
    bodies (and the reset links in them) would reach the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _keep_message_content_out_of_logs() -> None:
    logger = logging.getLogger(AIOSMTPD_LOGGER)
    if not any(isinstance(f, _NoDebugRecords) for f in logger.filters):
        logger.addFilter(_NoDebugRecords())


class SinkServer:
    """A receiving SMTP server that judges, files and stores every message; it never relays.

    Use ``async with SinkServer(store) as sink:`` or ``await start()`` / ``await stop()``.
    ``host`` may list several local addresses (one per demo domain, with
    ``SinkConfig.local_domains``); give a fixed port then, since port 0 binds each anew.
    ``policies`` is the live ``PolicyBook``: change it at run time.
    Raises ``ConfigError`` from ``start`` for unusable TLS or PROXY settings, ``OSError`` when
    the address cannot be bound.
    """

    def __init__(
        self,
        store: SinkStore,
        *,
        host: str | Sequence[str] = "127.0.0.1",
        port: int = 0,
        config: SinkConfig | None = None,
        policies: PolicyBook | None = None,
        judge: Judge | None = None,
        deliver: Deliver | None = None,
        on_bounce: OnBounce | None = None,
        rng: random.Random | None = None,
        greylist: Greylist | None = None,
    ) -> None:
        self.store = store
        self.host = host
        self.config = config or SinkConfig()
        self.policies = policies or PolicyBook()
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._commits: GroupCommit | None = None
        self._gate = ConnectionGate(
            self.config.max_connections, self.config.max_connections_per_client
        )
        self._paths = PathCache()
        self.handler = SinkHandler(
            config=self.config,
            policies=self.policies,
            save=self._save,
            judge=judge,
            deliver=deliver,
            on_bounce=on_bounce,
            rng=rng,
            greylist=greylist,
        )

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the sink is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def ports(self) -> list[tuple[str, int]]:
        """Every bound (address, port), when listening on several addresses."""
        if self._server is None:
            raise RuntimeError("the sink is not started")
        return [(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in self._server.sockets]

    @property
    def transactions(self) -> int:
        """How many store transactions this server has committed (each holds 1-64 messages)."""
        return self._commits.batches if self._commits is not None else 0

    @property
    def open_connections(self) -> int:
        """How many SMTP connections are open now."""
        return len(self._gate.open)

    async def _save(self, message: CapturedMessage) -> int:
        assert self._commits is not None
        return await self._commits.save(message)

    def _protocol_factory(self) -> Callable[[], SinkSMTP]:
        cfg = self.config
        context = None
        if cfg.tls_cert is not None and cfg.tls_key is not None:
            context = server_tls_context(cfg.tls_cert, cfg.tls_key)
        elif cfg.tls_dir is not None:
            context = server_tls_context(*ensure_certificate(cfg.tls_dir, cfg.hostname))
        networks = parse_networks(cfg.proxy_trusted)
        return partial(
            SinkSMTP,
            self.handler,
            gate=self._gate,
            paths=self._paths,
            is_trusted=lambda ip: is_trusted(ip, networks),
            connection_timeout=cfg.connection_timeout,
            first_command_timeout=cfg.first_command_timeout,
            hostname=cfg.hostname,
            ident="smtp_sink",
            data_size_limit=cfg.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=context,
            timeout=cfg.command_timeout,
            auth_require_tls=True,
            proxy_protocol_timeout=cfg.proxy_timeout if networks else None,
        )

    async def start(self) -> None:
        """Bind and start serving."""
        if self._server is not None:
            return
        _keep_message_content_out_of_logs()
        factory = self._protocol_factory()
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, self.config.store_workers), thread_name_prefix="sink-store"
        )
        self._commits = GroupCommit(self.store, self._executor)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            factory,
            host=self.host,
            port=self._requested_port,
            family=socket.AF_UNSPEC,
            reuse_address=True,
        )
        log.info("sink.started host=%s port=%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, close open connections, cancel pending bounces, drain the store."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self._gate.open):
            connection.close()
        for task in list(self.handler.tasks):
            task.cancel()
        if self.handler.tasks:
            await asyncio.gather(*self.handler.tasks, return_exceptions=True)
        await server.wait_closed()
        if self._commits is not None:
            await self._commits.drain()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        log.info("sink.stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
