"""Running the service: the web app under uvicorn and, in the lab, the DNS server and the
sink beside it; and the sink alone with its pages (``maildiag sink``).

Port 0 works for every listener; the startup line names the ports actually bound, so tests
and scripts can read them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from maildiag.lab.kit import (
    follow_lab_zone,
    lab_settings,
    prepare_lab,
    refuse_lab_data,
    write_lab_config,
)
from maildiag.listeners import bind_tcp
from maildiag.settings import Relay, Settings
from maildiag.sink.token import ensure_sink_token
from maildiag.web import create_app
from maildiag.web.app import create_sink_app

if TYPE_CHECKING:
    from maildiag.sink.service import SinkHandle

log = logging.getLogger(__name__)


def with_options(settings: Settings, **given: object) -> Settings:
    """``settings`` with the command-line options that were given (None: not given)."""
    return settings.model_copy(update={k: v for k, v in given.items() if v is not None})


async def serve(settings: Settings) -> int:
    """Serve until interrupted (a signal, or cancelling this coroutine: both shut down in
    order). Raises SettingsError / LabDataError for unusable setups."""
    if not settings.lab:
        refuse_lab_data(settings.data_dir)  # first: lab data says more than its lab secret
        settings.require_production_secrets()
        async with _http(settings) as (server, port):
            print(f"maildiag: http://{settings.http_host}:{port}", flush=True)
            await asyncio.shield(server)  # cancelled: _http stops uvicorn, which closes up
        return 0
    settings, token_file = ensure_sink_token(settings)
    if token_file is not None:
        print(f"maildiag lab: the sink's API token is in {token_file}", flush=True)
    http_socket = bind_http(settings.http_host, settings.http_port)
    settings = settings.model_copy(update={"http_port": http_socket.getsockname()[1]})
    async with contextlib.AsyncExitStack() as stack:
        settings, sink = await stack.enter_async_context(_lab_services(settings))
        server, port = await stack.enter_async_context(_http(settings, http_socket, sink=sink))
        print(
            f"maildiag lab: http://{settings.http_host}:{port}  "
            f"DNS 127.0.0.1:{settings.dns_port}  data {settings.data_dir}  "
            f"SMTP {settings.smtp_host}:{sink.port}  "
            f"PROXY-SMTP {settings.smtp_host}:{sink.proxy_port}",
            flush=True,
        )
        await asyncio.shield(server)
    return 0


@contextlib.asynccontextmanager
async def _lab_services(settings: Settings) -> AsyncIterator[tuple[Settings, SinkHandle]]:
    """The lab's DNS server and the SMTP sink (relay and every demo MX, judging with the lab's
    DNS); yields the settings that point at them, and the sink."""
    from sqlalchemy.orm import sessionmaker

    from diag.resolver import DnsPythonResolver
    from maildiag.db import create_engine
    from maildiag.jobs import build_jobs, running_jobs
    from maildiag.lab.dns import LabDnsServer
    from maildiag.lab.feedback import keep_lab_reports_current
    from maildiag.lab.seed import prepare_lab_database
    from maildiag.outbox import bounce_recorder, running_worker
    from maildiag.sink.service import run_sink

    keys, zone = await asyncio.to_thread(prepare_lab, settings.data_dir)
    dns_server = LabDnsServer(zone, host="127.0.0.1", port=settings.dns_port)
    await dns_server.start()
    follower = asyncio.create_task(follow_lab_zone(settings.data_dir, dns_server))
    engine = None
    top_up: asyncio.Task[None] | None = None
    try:
        ports: dict[str, int] = {"dns_port": dns_server.port}
        if settings.sink_proxy_port == 0 and settings.smtp_port:
            ports["sink_proxy_port"] = settings.smtp_port + 1  # a fixed port test sends can find
        lab = lab_settings(settings.model_copy(update=ports), keys)
        engine = create_engine(lab.database)
        await asyncio.to_thread(prepare_lab_database, lab, engine)  # migrate, demo accounts
        top_up = asyncio.create_task(keep_lab_reports_current(engine))  # each new day's reports
        nameservers = [f"127.0.0.1:{dns_server.port}"]

        def lab_resolver() -> DnsPythonResolver:
            return DnsPythonResolver(nameservers, timeout=lab.dns_timeout)

        on_bounce = bounce_recorder(sessionmaker(engine, expire_on_commit=False))
        async with run_sink(
            lab, engine, resolver_factory=lab_resolver, on_bounce=on_bounce
        ) as sink:
            relay = lab_relay(lab, sink)
            lab = lab.model_copy(
                update={"smtp_port": sink.port, "sink_proxy_port": sink.proxy_port, "relay": relay}
            )
            write_lab_config(lab)  # with the sink's bound ports
            async with (
                running_worker(lab, engine),  # the outbox sends to the sink
                running_jobs(build_jobs(lab)),  # in memory, in this process
            ):
                yield lab, sink
    finally:
        for task in (follower, top_up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if engine is not None:
            engine.dispose()
        await dns_server.stop()


async def serve_sink(settings: Settings) -> int:
    """The SMTP sink alone, with its pages and API on HTTP, until interrupted. Raises
    SettingsError for unusable settings, OSError when a port cannot be bound."""
    from maildiag.db import create_engine
    from maildiag.sink.service import run_sink

    settings.require_production_secrets()
    settings, token_file = ensure_sink_token(settings)
    if token_file is not None:
        print(f"maildiag sink: the API token is in {token_file}", flush=True)
    sock = bind_http(settings.http_host, settings.http_port)
    engine = create_engine(settings.database)
    try:
        async with (
            run_sink(settings, engine) as sink,
            _http(settings, sock, app=create_sink_app(settings, sink)) as (task, http_port),
        ):
            print(
                f"maildiag sink: smtp {settings.smtp_host}:{sink.port} "
                f"http http://{settings.http_host}:{http_port}  "
                f"proxy-smtp {settings.smtp_host}:{sink.proxy_port}",
                flush=True,
            )
            await asyncio.shield(task)  # cancelled: _http stops uvicorn, which closes up
    finally:
        sock.close()
        engine.dispose()
    return 0


def lab_relay(lab: Settings, sink: SinkHandle) -> Relay:
    """The lab outbox's relay: the sink's PROXY listener, declaring the reset sender's egress
    address and greeting with its HELO name, so that the reset mail arrives as it would from
    the sender's real outbound servers and is judged as a receiver would judge it."""
    identity = lab.sender(lab.reset_sender)
    if identity is None or not identity.egress_ips:
        return lab.relay.model_copy(update={"host": "127.0.0.1", "port": sink.port})
    return lab.relay.model_copy(
        update={
            "host": "127.0.0.1",
            "port": sink.proxy_port,
            "proxy_source": identity.egress_ips[0],
            "helo": identity.helo,
        }
    )


@contextlib.asynccontextmanager
async def _http(
    settings: Settings,
    sock: socket.socket | None = None,
    *,
    sink: SinkHandle | None = None,
    app: FastAPI | None = None,
) -> AsyncIterator[tuple[asyncio.Task[None], int]]:
    """uvicorn serving ``app`` (default: the app for ``settings``); yields the serving task
    and the bound port once listening."""
    sock = sock or bind_http(settings.http_host, settings.http_port)
    config = uvicorn.Config(
        app or create_app(settings, sink=sink),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        # JSON logs: uvicorn's records go to the root logger's JSON handler, and the app logs
        # each request itself (http.request), so uvicorn's access log is off
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        access_log=settings.log_format != "json",
        proxy_headers=False,
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            raise OSError(f"the HTTP server did not start on port {settings.http_port}")
        await asyncio.sleep(0.05)
    port = sock.getsockname()[1]
    try:
        yield task, port
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


def bind_http(host: str, port: int) -> socket.socket:
    """The HTTP listener (port 0 picks a free one), with Nagle's algorithm off on every
    accepted connection (``maildiag.listeners``). Raises OSError when it can't bind."""
    return bind_tcp(host, port)
