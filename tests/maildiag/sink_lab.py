"""Shared pieces for the sink service tests: the lab composition in process, message builders,
and a client that presents the PROXY protocol from a sender identity's egress IP."""

from __future__ import annotations

import datetime as dt
import itertools
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy.orm import Session

import reset
from diag.dkim import sign_message
from diag.resolver import DnsPythonResolver, Resolver
from maildiag.db import create_engine
from maildiag.lab.dns import LabDnsServer
from maildiag.lab.kit import LabKey, lab_settings
from maildiag.lab.zones import LAB_EGRESS
from maildiag.services.accounts import build_reset_services
from maildiag.settings import Settings
from maildiag.sink.service import SinkHandle, run_sink
from maildiag.web import create_app
from maildiag.web.app import create_sink_app
from maildiag.web.auth import SESSION_COOKIE
from smtp_sink import BounceReport

SINK_TOKEN = "sink-tests-api-token-0123456789-abcdefghij"
BEARER = {"Authorization": f"Bearer {SINK_TOKEN}"}


@dataclass
class Lab:
    sink: SinkHandle
    settings: Settings
    keys: list[LabKey]
    bounces: list[BounceReport] = field(default_factory=list)


def make_message(
    sender: str, to: str, subject: str = "Tilbakestill passordet", html: str | None = None
) -> bytes:
    """A small CRLF message (multipart/alternative when ``html`` is given)."""
    domain = sender.rpartition("@")[2]
    head = [
        f"From: Visma <{sender}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(dt.datetime.now(dt.UTC))}",
        f"Message-ID: {make_msgid(domain=domain)}",
        "MIME-Version: 1.0",
    ]
    text = "Hei Kari,\r\n\r\nFølg lenken for å sette nytt passord.\r\n"
    if html is None:
        head += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        return ("\r\n".join(head) + "\r\n\r\n" + text).encode()
    head.append('Content-Type: multipart/alternative; boundary="b1"')
    body = (
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{text}\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b1--\r\n"
    )
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


RESET_TOKEN = "Xy7_QwErTy-0123456789abcdefghijklmnopqrstuvw"


def reset_mail(
    token: str = RESET_TOKEN,
    base_url: str = "https://konto.example.no",
    to: str = "kari@kunde-ok.example",
) -> bytes:
    """The real reset mail (``reset.MailComposer``: quoted-printable text and HTML parts)."""
    composer = reset.MailComposer(
        public_base_url=base_url,
        sender="do.not.reply@platform.visma.com",
        bounce_domain="platform.visma.com",
    )
    mail = composer.reset_mail(
        to=to,
        token=reset.Secret(token),
        language="nb",
        outbox_id=7,
        now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        valid_for=dt.timedelta(minutes=30),
    )
    return mail.raw


def signed(key: LabKey, message: bytes) -> bytes:
    """``message`` DKIM-signed with the lab key of ``key.domain``."""
    return sign_message(
        message, domain=key.domain, selector=key.selector, private_key=key.private_path.read_bytes()
    )


def proxy_v1(client_ip: str, client_port: int = 40000) -> bytes:
    """A PROXY protocol v1 header (haproxy PROXY protocol spec §2.1)."""
    return f"PROXY TCP4 {client_ip} 127.0.0.1 {client_port} 25\r\n".encode()


def proxied_socket(port: int, domain: str) -> socket.socket:
    """A connection to the sink's PROXY listener that presents ``domain``'s lab egress IP."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(proxy_v1(LAB_EGRESS[domain]))
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def lab_sink(
    lab_dir: Path,
    keys: list[LabKey],
    zone: Any,
    db_dir: Path,
    *,
    wrap_resolver: Callable[[Resolver], Resolver] | None = None,
    **overrides: Any,
) -> AsyncIterator[Lab]:
    """The lab composition: the lab DNS server on port 0 and the sink judging through it
    (its API token ``SINK_TOKEN``); ``wrap_resolver`` wraps the judge's resolver."""
    overrides.setdefault("sink_api_token", SecretStr(SINK_TOKEN))
    async with LabDnsServer(zone, port=0) as dns:
        base = Settings(
            lab=True,
            data_dir=lab_dir,
            dns_port=dns.port,
            smtp_port=0,
            database_url=f"sqlite:///{db_dir / 'sink.sqlite3'}",
            **overrides,
        )
        settings = lab_settings(base, keys)
        engine = create_engine(settings.database)
        bounces: list[BounceReport] = []

        async def on_bounce(report: BounceReport) -> None:
            bounces.append(report)

        def resolver() -> Resolver:
            plain = DnsPythonResolver([dns.address], timeout=2.0)
            return plain if wrap_resolver is None else wrap_resolver(plain)

        try:
            async with run_sink(
                settings, engine, on_bounce=on_bounce, resolver_factory=resolver
            ) as sink:
                yield Lab(sink, settings, keys, bounces)
        finally:
            engine.dispose()


def key_for(keys: list[LabKey], domain: str) -> LabKey:
    return next(k for k in keys if k.domain == domain)


CHEAP_HASHER = reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_STAFF = itertools.count(1)


def sign_in_as(lab: Lab, role: str) -> tuple[str, str]:
    """A new account with ``role`` in the lab's database and an open session: (address,
    session id for the cookie)."""
    engine = create_engine(lab.settings.database)
    now = dt.datetime.now(dt.UTC)
    address = f"{role}{next(_STAFF)}@visma.example"
    try:
        with Session(engine) as session, session.begin():
            user = reset.create_user(
                session, address, "Demo#2026lab", hasher=CHEAP_HASHER, now=now, role=role
            )
            secret = reset.start_session(session, user, now=now)
            return address, secret.reveal()
    finally:
        engine.dispose()


@asynccontextmanager
async def sink_client(
    lab: Lab, *, role: str | None = None, sink_only: bool = False, **kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app (or, ``sink_only``, of ``maildiag sink``'s app) beside the lab's
    sink, at the configured base URL; signed in with ``role`` when one is given."""
    if sink_only:
        app = create_sink_app(lab.settings, lab.sink)
    else:
        app = create_app(lab.settings, sink=lab.sink)
    engine = create_engine(lab.settings.database)
    services = build_reset_services(lab.settings, engine=engine, hasher=CHEAP_HASHER)
    app.state.maildiag.reset = services
    if role is not None:
        kwargs.setdefault("cookies", {})[SESSION_COOKIE] = sign_in_as(lab, role)[1]
    transport = httpx.ASGITransport(app=app)
    base = lab.settings.public_base_url
    try:
        async with httpx.AsyncClient(transport=transport, base_url=base, **kwargs) as client:
            yield client
    finally:
        await services.aclose()
