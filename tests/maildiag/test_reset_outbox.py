"""The outbox as composed in maildiag: forgot-password requests through the worker into the
real sink with the lab's recipient policies; DKIM, retries, bounces and the delivery log."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

import reset
from maildiag.lab.kit import LabKey, lab_senders, prepare_lab
from maildiag.lab.policies import lab_policies
from maildiag.outbox import (
    OutboxConfigError,
    bounce_recorder,
    build_composer,
    build_worker,
    make_signer,
)
from maildiag.settings import Relay, SenderIdentity
from maildiag.sink.service import SinkHandle, run_sink
from smtp_sink import BounceReport
from tests.maildiag.test_reset_support import Env, reset_env

BASE_URL = "http://konto.visma.example"  # http: the test client sends no Secure cookies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Clock:
    def __init__(self) -> None:
        # A little ahead of the app's real clock, so rows queued by the test are due.
        self.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture(scope="module")
def lab_keys(tmp_path_factory: pytest.TempPathFactory) -> list[LabKey]:
    keys, _zone = prepare_lab(tmp_path_factory.mktemp("lab"))
    return keys


@dataclass
class Stack:
    env: Env
    clock: Clock
    worker: reset.Worker
    port: int

    @contextlib.asynccontextmanager
    async def sink(self) -> AsyncIterator[SinkHandle]:
        factory = sessionmaker(self.env.svc.engine, expire_on_commit=False)
        async with run_sink(
            self.env.settings,
            self.env.svc.engine,
            on_bounce=bounce_recorder(factory),
            policies=lab_policies(bounce_delay=0.2),
        ) as handle:
            yield handle

    def rows(self) -> list[reset.OutboxMessage]:
        return self.env.outbox()

    def log(self, outbox_id: int) -> list[reset.DeliveryLogEntry]:
        with self.env.svc.sessions() as session:
            query = select(reset.DeliveryLogEntry).where(
                reset.DeliveryLogEntry.outbox_id == outbox_id
            )
            return list(session.scalars(query.order_by(reset.DeliveryLogEntry.id)))


@pytest.fixture
async def stack(tmp_path: Path, lab_keys: list[LabKey]) -> AsyncIterator[Stack]:
    port = free_port()
    async with reset_env(
        tmp_path,
        senders=lab_senders(lab_keys),
        relay=Relay(host="127.0.0.1", port=port, timeout=5.0),
        smtp_port=port,
        sink_judge=False,
        public_base_url=BASE_URL,
        allowed_hosts=["*"],  # any Host reaches the app, so links are shown not to follow it
    ) as env:
        for domain in ("kunde-ok", "kunde-greylist", "kunde-ukjent", "kunde-blokkerer"):
            env.add_user(f"kari@{domain}.example")
        env.add_user("kari@kunde-sprett.example")
        clock = Clock()
        worker = build_worker(env.settings, env.svc.sessions, clock=clock)
        yield Stack(env, clock, worker, port)


def _link(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"https?://\S+/reset-password\?token=[A-Za-z0-9_-]+", body.get_content())
    assert found is not None
    return found.group(0)


async def test_reset_mail_is_signed_and_links_to_the_configured_base(
    stack: Stack, lab_keys: list[LabKey]
) -> None:
    data = {
        "csrf_token": await stack.env.csrf(),
        "email": "kari@kunde-ok.example",
        "altcha": await stack.env.captcha(),
    }
    response = await stack.env.client.post(
        "/forgot-password", data=data, headers={"host": "evil.example"}
    )
    assert response.status_code == 200
    async with stack.sink() as sink:
        assert await stack.worker.run_once() == 1
        [captured] = list(await asyncio.to_thread(sink.store.list, to="kari@kunde-ok.example"))
    raw = captured.raw
    key = next(k for k in lab_keys if k.domain == "platform.visma.com")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"lab2026._domainkey.platform.visma.com."
        return key.public_txt.encode()

    assert dkim.verify(raw, dnsfunc=dns)
    link = _link(raw)
    assert link.startswith(BASE_URL + "/reset-password?token=")
    assert "evil.example" not in raw.decode("ascii", "replace")
    token = link.rpartition("=")[2]
    path = link.removeprefix(BASE_URL)
    assert (await stack.env.client.get(path)).status_code == 200
    [row] = stack.rows()
    assert row.status == "sent"
    assert row.raw is not None
    assert token.encode() not in row.raw


async def test_unknown_address_is_discarded_and_nobody_is_mailed(stack: Stack) -> None:
    await stack.env.forgot("nobody@kunde-ok.example")
    async with stack.sink() as sink:
        await stack.worker.run_once()
        assert await asyncio.to_thread(sink.store.count) == 0
    [row] = stack.rows()
    assert (row.status, row.last_error) == ("discarded", reset.NO_ACCOUNT)


async def test_relay_down_then_back_sends_each_mail_once(stack: Stack) -> None:
    for _ in range(2):
        assert (await stack.env.forgot("kari@kunde-ok.example")).status_code == 200
    assert await stack.worker.run_once() == 2  # nobody listens on the relay port
    assert {r.status for r in stack.rows()} == {"deferred"}
    assert all(entry.code is None for entry in stack.log(stack.rows()[0].id))
    async with stack.sink() as sink:
        assert await stack.worker.run_once() == 0  # not due yet
        stack.clock.advance(minutes=2)
        assert await stack.worker.run_once() == 2
        stack.clock.advance(hours=2)
        assert await stack.worker.run_once() == 0
        messages = list(await asyncio.to_thread(sink.store.list, to="kari@kunde-ok.example"))
    assert len(messages) == 2
    assert {r.status for r in stack.rows()} == {"sent"}
    assert [e.outcome for e in stack.log(stack.rows()[0].id)] == ["deferred", "sent"]


async def test_greylisting_4xx_then_2xx(stack: Stack) -> None:
    await stack.env.forgot("kari@kunde-greylist.example")
    async with stack.sink():
        await stack.worker.run_once()
        [row] = stack.rows()
        assert row.status == "deferred"
        stack.clock.advance(minutes=2)
        await stack.worker.run_once()
    entries = stack.log(row.id)
    assert [(e.outcome, e.code) for e in entries] == [("deferred", 451), ("sent", 250)]
    assert entries[0].enhanced_status == "4.7.1"
    assert stack.rows()[0].status == "sent"


async def test_unknown_mailbox_5xx_is_bounced_with_the_reply(stack: Stack) -> None:
    await stack.env.forgot("kari@kunde-ukjent.example")
    async with stack.sink():
        await stack.worker.run_once()
    [row] = stack.rows()
    assert row.status == "bounced"
    [entry] = stack.log(row.id)
    assert (entry.outcome, entry.code, entry.enhanced_status) == ("bounced", 550, "5.1.1")
    assert entry.text
    assert row.last_error == entry.text


async def test_blocked_sender_shows_550_5_7_1(stack: Stack) -> None:
    await stack.env.forgot("kari@kunde-blokkerer.example")
    async with stack.sink():
        await stack.worker.run_once()
    [row] = stack.rows()
    [entry] = stack.log(row.id)
    assert (row.status, entry.code, entry.enhanced_status) == ("bounced", 550, "5.7.1")


async def test_a_late_dsn_lands_in_the_delivery_log(stack: Stack) -> None:
    await stack.env.forgot("kari@kunde-sprett.example")
    async with stack.sink():
        await stack.worker.run_once()
        [row] = stack.rows()
        for _ in range(100):
            if stack.rows()[0].status == "bounced":
                break
            await asyncio.sleep(0.05)
    entries = stack.log(row.id)
    assert [e.outcome for e in entries] == ["sent", "bounced"]
    assert entries[1].enhanced_status == "5.2.2"
    assert "Mailbox full" in entries[1].text


async def test_password_changed_notice_goes_out(stack: Stack) -> None:
    token = stack.env.issue("kari@kunde-ok.example")
    data = {
        "csrf_token": await stack.env.csrf(),
        "token": token,
        "password": "Nordlys#Fjell2026",
        "confirmation": "Nordlys#Fjell2026",
    }
    assert (await stack.env.client.post("/reset-password", data=data)).status_code == 303
    async with stack.sink() as sink:
        await stack.worker.run_once()
        [captured] = list(await asyncio.to_thread(sink.store.list, to="kari@kunde-ok.example"))
    assert captured.summary.subject == "Passordet ditt er endret"


def _report(token: str) -> BounceReport:
    return BounceReport(
        original_message_id="<x@platform.visma.com>",
        verp_token=token,
        failed_recipients=("kari@kunde-ok.example",),
        status="5.1.1",
        action="failed",
        diagnostic="smtp; 550 5.1.1 no such user",
        reporting_mta="dns; mx.kunde-ok.example",
    )


async def test_bounce_recorder_ignores_foreign_tokens(stack: Stack) -> None:
    record = bounce_recorder(stack.env.svc.sessions)
    for token in ("", "abc", "9" * 30, "424242"):
        await record(_report(token))  # none of these names a row; nothing raises
    await stack.env.forgot("kari@kunde-ok.example")
    [row] = stack.rows()
    await record(_report(str(row.id)))
    [entry] = stack.log(row.id)
    assert (entry.outcome, entry.enhanced_status, entry.relay) == (
        "bounced",
        "5.1.1",
        "dns; mx.kunde-ok.example",
    )


def test_configuration_errors_are_named(tmp_path: Path) -> None:
    from tests.maildiag.test_reset_support import make_settings

    settings = make_settings(tmp_path, reset_sender="someone@else.example")
    with pytest.raises(OutboxConfigError, match="reset_sender"):
        build_composer(settings)
    missing = SenderIdentity(
        address="a@b.example", dkim_selectors=["s"], dkim_key_path=tmp_path / "none.pem"
    )
    with pytest.raises(OutboxConfigError, match="cannot read DKIM key"):
        make_signer(missing)
    no_selector = SenderIdentity(address="a@b.example", dkim_key_path=tmp_path / "k.pem")
    with pytest.raises(OutboxConfigError, match="selector"):
        make_signer(no_selector)
    assert make_signer(SenderIdentity(address="a@b.example")) is None
