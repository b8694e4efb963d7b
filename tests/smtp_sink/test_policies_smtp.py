"""Each recipient policy, seen by a real SMTP client talking to the running sink."""

from __future__ import annotations

import asyncio
import random
import smtplib
import time

import aiosmtplib
import pytest

from smtp_sink import (
    Action,
    Greylist,
    Policy,
    PolicyBook,
    SinkStore,
    Stage,
    parse_policy,
)
from tests.smtp_sink.helpers import message

SENDER = "do.not.reply@platform.visma.com"


async def send(port: int, rcpts: list[str], sender: str = SENDER, raw: bytes | None = None):
    return await aiosmtplib.send(
        raw or message(),
        sender=sender,
        recipients=rcpts,
        hostname="127.0.0.1",
        port=port,
        start_tls=False,
    )


async def test_accept_files_in_inbox(run_sink, store: SinkStore) -> None:
    async with run_sink() as sink:
        await send(sink.port, ["kari@kunde-ok.example"])
    (stored,) = store.list(to="kari@kunde-ok.example", folder="inbox")
    assert stored.folder_for("kari@kunde-ok.example") == "inbox"
    assert b"X-MS-Exchange-Organization-SCL" not in stored.added_headers


async def test_reject_at_mail_from_on_a_domain_listener(run_sink, store: SinkStore) -> None:
    book = PolicyBook()
    book.set_domain(
        "kunde-blokkerer.example", parse_policy({"preset": "sender_blocked", "senders": [SENDER]})
    )
    async with (
        run_sink(policies=book, local_domains={"127.0.0.1": "kunde-blokkerer.example"}) as sink,
        aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False) as c,
    ):
        await c.ehlo()
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as info:
            await c.mail(SENDER)
        assert (info.value.code, info.value.message) == (
            550,
            "5.7.1 Sender blocked by recipient policy",
        )
        # another sender is not blocked
        await c.sendmail("other@example.org", ["kari@kunde-blokkerer.example"], message())
    assert [m.mail_from for m in store.list()] == ["other@example.org"]


async def test_mail_stage_reject_on_shared_listener_answers_at_rcpt(
    run_sink, store: SinkStore
) -> None:
    book = PolicyBook()
    book.set_domain("kunde-blokkerer.example", parse_policy({"preset": "sender_blocked"}))
    async with run_sink(policies=book) as sink:
        errors, _ = await send(sink.port, ["kari@kunde-blokkerer.example", "kari@kunde-ok.example"])
    assert errors["kari@kunde-blokkerer.example"][0] == 550
    assert errors["kari@kunde-blokkerer.example"][1].startswith("5.7.1")
    assert store.list()[0].rcpt_tos == ("kari@kunde-ok.example",)


async def test_user_unknown_and_mailbox_full_with_address_beating_domain(
    run_sink, store: SinkStore
) -> None:
    book = PolicyBook()
    book.set_domain("kunde-ukjent.example", parse_policy({"preset": "mailbox_full"}))
    book.set_address("kari@kunde-ukjent.example", parse_policy({"preset": "user_unknown"}))
    book.set_address("ok@kunde-ukjent.example", Policy())
    async with run_sink(policies=book) as sink:

        def run() -> dict:
            with smtplib.SMTP("127.0.0.1", sink.port) as client:
                return client.sendmail(
                    SENDER,
                    [
                        "kari@kunde-ukjent.example",
                        "ola@kunde-ukjent.example",
                        "ok@kunde-ukjent.example",
                    ],
                    message(),
                )

        refused = await asyncio.to_thread(run)
    assert refused["kari@kunde-ukjent.example"] == (550, b"5.1.1 User unknown")
    assert refused["ola@kunde-ukjent.example"] == (552, b"5.2.2 Mailbox full")
    assert store.list()[0].rcpt_tos == ("ok@kunde-ukjent.example",)


async def test_greylist_then_accept(run_sink, store: SinkStore) -> None:
    now = [1000.0]
    book = PolicyBook()
    book.set_domain(
        "kunde-greylist.example",
        Policy(action=Action.GREYLIST, greylist_attempts=2, greylist_window=300),
    )
    async with run_sink(policies=book, greylist=Greylist(clock=lambda: now[0])) as sink:
        for _ in range(2):
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
                await send(sink.port, ["kari@kunde-greylist.example"])
            (refusal,) = info.value.recipients
            assert (refusal.code, refusal.message[:5]) == (451, "4.7.1")
        await send(sink.port, ["kari@kunde-greylist.example"])
        now[0] += 301  # the triplet expires: greylisted again
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await send(sink.port, ["kari@kunde-greylist.example"])
    assert store.count() == 1


async def test_tempfail_probability_uses_injected_rng(run_sink, store: SinkStore) -> None:
    class Sequence(random.Random):
        def __init__(self, values: list[float]) -> None:
            super().__init__()
            self.values = values

        def random(self) -> float:
            return self.values.pop(0)

    book = PolicyBook()
    book.set_domain("flaky.example", Policy(tempfail_probability=0.5))
    async with run_sink(policies=book, rng=Sequence([0.1, 0.9])) as sink:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
            await send(sink.port, ["a@flaky.example"])
        assert info.value.recipients[0].code == 451
        assert info.value.recipients[0].message.startswith("4.3.0")
        await send(sink.port, ["a@flaky.example"])
    assert store.count() == 1


@pytest.mark.parametrize("stage", [Stage.RCPT, Stage.DATA])
async def test_delay_before_reply(run_sink, store: SinkStore, stage: Stage) -> None:
    book = PolicyBook()
    book.set_domain("slow.example", Policy(delay=0.6, delay_stage=stage))
    async with run_sink(policies=book) as sink:
        started = time.monotonic()
        await send(sink.port, ["a@slow.example"])
        assert time.monotonic() - started >= 0.6
        started = time.monotonic()
        await send(sink.port, ["a@fast.example"])
        assert time.monotonic() - started < 0.6
    assert store.count() == 2


@pytest.mark.parametrize("stage", [Stage.MAIL, Stage.RCPT, Stage.DATA])
async def test_disconnect_at_stage(run_sink, store: SinkStore, stage: Stage) -> None:
    book = PolicyBook()
    book.set_domain("drop.example", Policy(action=Action.DISCONNECT, stage=stage))
    async with run_sink(policies=book) as sink:
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await send(sink.port, ["a@drop.example"])
        await send(sink.port, ["a@kunde-ok.example"])  # still serving
    assert [m.rcpt_tos for m in store.list()] == [("a@kunde-ok.example",)]


async def test_junk_unless_allowlisted(run_sink, store: SinkStore) -> None:
    book = PolicyBook()
    book.set_domain(
        "kunde-spam.example",
        Policy(action=Action.JUNK_UNLESS_ALLOWLISTED, allowlist=("connect.visma.com",)),
    )
    async with run_sink(policies=book) as sink:
        await send(sink.port, ["kari@kunde-spam.example"], raw=message("not allowlisted"))
        await send(
            sink.port,
            ["kari@kunde-spam.example"],
            sender="do.not.reply@connect.visma.com",
            raw=message("allowlisted"),
        )
    junk = store.list(to="kari@kunde-spam.example", folder="junk")
    assert [m.summary.subject for m in junk] == ["not allowlisted"]
    headers = junk[0].added_headers
    assert b"X-MS-Exchange-Organization-SCL: 5\r\n" in headers
    assert b"SFV:SPM;" in headers
    assert b"SCL:5;" in headers
    assert junk[0].delivered_bytes.endswith(junk[0].raw)
    inbox = store.list(to="kari@kunde-spam.example", folder="inbox")
    assert [m.summary.subject for m in inbox] == ["allowlisted"]
    assert b"X-Forefront-Antispam-Report" not in inbox[0].added_headers


async def test_policies_change_at_run_time(run_sink, store: SinkStore) -> None:
    book = PolicyBook()
    async with run_sink(policies=book) as sink:
        await send(sink.port, ["kari@kunde.example"])
        sink.policies.set_address("kari@kunde.example", parse_policy({"preset": "user_unknown"}))
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await send(sink.port, ["kari@kunde.example"])
        sink.policies.remove_address("kari@kunde.example")
        await send(sink.port, ["kari@kunde.example"])
    assert store.count() == 2


async def test_one_sink_on_two_addresses_answers_per_domain(run_sink, store: SinkStore) -> None:
    """The lab's shape: each demo domain's MX on its own loopback address of one sink."""
    book = PolicyBook()
    book.set_domain("kunde-blokkerer.example", parse_policy({"preset": "sender_blocked"}))
    async with run_sink(
        host=["127.0.0.1", "127.0.0.2"],
        policies=book,
        local_domains={"127.0.0.2": "kunde-blokkerer.example"},
    ) as sink:
        ports = dict(sink.ports)
        async with aiosmtplib.SMTP(
            hostname="127.0.0.2", port=ports["127.0.0.2"], start_tls=False
        ) as blocked:
            await blocked.ehlo()
            with pytest.raises(aiosmtplib.SMTPSenderRefused) as info:
                await blocked.mail(SENDER)
            assert info.value.code == 550
        await send(ports["127.0.0.1"], ["kari@kunde-ok.example"])
    assert store.count() == 1


async def test_data_stage_delay_once_per_message(run_sink, store: SinkStore) -> None:
    book = PolicyBook()
    book.set_domain("slow.example", Policy(delay=0.6, delay_stage=Stage.DATA))
    async with run_sink(policies=book) as sink:
        started = time.monotonic()
        await send(sink.port, ["a@slow.example", "b@slow.example", "c@slow.example"])
        elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 1.2
