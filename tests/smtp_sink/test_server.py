"""SMTP conversations with the real sink on port 0, driven by smtplib and aiosmtplib."""

from __future__ import annotations

import asyncio
import smtplib

import aiosmtplib
import pytest

from smtp_sink import SinkServer, SinkStore, with_enhanced_code
from tests.smtp_sink.helpers import FakeJudge, client_tls, message


async def test_port_zero_is_bound_and_read_back(run_sink, store: SinkStore) -> None:
    async with run_sink() as first, run_sink() as second:
        assert first.port > 0
        assert second.port > 0
        assert first.port != second.port


async def test_port_before_start_raises(store: SinkStore) -> None:
    with pytest.raises(RuntimeError):
        _ = SinkServer(store).port


async def test_ehlo_advertises_extensions(run_sink) -> None:
    async with run_sink(max_message_size=1000) as sink:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False)
        async with client:
            code, _ = await client.ehlo()
            assert code == 250
            for keyword in ("size", "8bitmime", "smtputf8", "starttls"):
                assert keyword in client.esmtp_extensions
            assert "enhancedstatuscodes" in client.esmtp_extensions
            assert "pipelining" in client.esmtp_extensions
            assert client.esmtp_extensions["size"] == "1000"
            assert "auth" not in client.esmtp_extensions


async def test_smtplib_several_recipients_and_dot_stuffing(run_sink, store, judge) -> None:
    body = ".starts with a dot\r\n..two dots\r\nplain\r\n.\r\n"
    raw = message("dots", body)
    rcpts = ["kari@kunde-ok.example", "ola@kunde-ok.example", "Per@Other.example"]
    async with run_sink() as sink:

        def send() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", sink.port) as client:
                return client.sendmail("sender@platform.visma.example", rcpts, raw)

        refused = await asyncio.to_thread(send)
    assert refused == {}
    (stored,) = store.list()
    assert stored.raw == raw
    assert stored.rcpt_tos == tuple(rcpts)
    assert [m.address for m in stored.mailboxes] == [r.lower() for r in rcpts]
    assert stored.mail_from == "sender@platform.visma.example"
    assert stored.helo
    assert judge.seen[0][0] == raw
    assert judge.seen[0][1].rcpt_tos == tuple(rcpts)


async def test_aiosmtplib_smtputf8_and_8bit(run_sink, store: SinkStore) -> None:
    raw = (
        "From: Åse <åse@blåbær.example>\r\nTo: øyvind@kunde-ok.example\r\n"
        "Subject: Blåbærsyltetøy\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nHei på deg, æøå!\r\n"
    ).encode()
    async with run_sink() as sink:
        errors, reply = await aiosmtplib.send(
            raw,
            sender="åse@blåbær.example",
            recipients=["øyvind@kunde-ok.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
    assert errors == {}
    assert reply.startswith("2.0.0 OK")
    (stored,) = store.list(to="øyvind@kunde-ok.example")
    assert stored.raw == raw
    assert stored.mail_from == "åse@blåbær.example"
    assert stored.summary.subject == "Blåbærsyltetøy"
    assert stored.summary.from_header == "Åse <åse@blåbær.example>"


async def test_size_limit_552(run_sink, store: SinkStore) -> None:
    async with (
        run_sink(max_message_size=2000) as sink,
        aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False) as c,
    ):
        await c.ehlo()
        # declared size over the limit: refused at MAIL FROM
        code, text = await c.execute_command(b"MAIL", b"FROM:<a@x.example>", b"SIZE=5000")
        assert (code, text[:5]) == (552, "5.3.4")
        await c.mail("a@x.example")
        await c.rcpt("kari@kunde-ok.example")
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await c.data(message("big", "x" * 70 + "\r\n") * 40)
        assert info.value.code == 552
        assert info.value.message.startswith("5.3.4")
        # the session goes on after the refusal
        await c.sendmail("a@x.example", ["kari@kunde-ok.example"], message("small"))
    assert [m.summary.subject for m in store.list()] == ["small"]


async def test_bad_commands_500_501(run_sink) -> None:
    async with (
        run_sink() as sink,
        aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False) as c,
    ):
        await c.ehlo()
        code, text = await c.execute_command(b"FROB")
        assert (code, text.split()[0]) == (500, "5.5.2")
        code, text = await c.execute_command(b"MAIL", b"FROM")
        assert (code, text.split()[0]) == (501, "5.5.4")
        code, _ = await c.execute_command(b"RCPT", b"TO:<kari@kunde-ok.example>")
        assert code == 503
        code, _ = await c.execute_command(b"MAIL", b"FROM:<not an address>")
        assert code in (501, 553)
        code, text = await c.execute_command(b"AUTH", b"PLAIN AGFAAGI=")
        assert (code, text) == (502, "5.5.1 AUTH not available")
        code, text = await c.execute_command(b"VRFY", b"kari@kunde-ok.example")
        assert (code, text[:5]) == (252, "2.0.0")
        code, _ = await c.noop()
        assert code == 250


async def test_pipelining(run_sink, store: SinkStore) -> None:
    raw = message("pipelined")
    async with run_sink() as sink:
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        await reader.readline()
        writer.write(b"EHLO client.example\r\n")
        while not (await reader.readline()).startswith(b"250 "):
            pass
        writer.write(
            b"MAIL FROM:<a@x.example>\r\nRCPT TO:<kari@kunde-ok.example>\r\n"
            b"RCPT TO:<ola@kunde-ok.example>\r\nDATA\r\n"
        )
        await writer.drain()
        replies = [await reader.readline() for _ in range(4)]
        assert [r[:3] for r in replies] == [b"250", b"250", b"250", b"354"]
        writer.write(raw + b".\r\nQUIT\r\n")
        final = [await reader.readline(), await reader.readline()]
        writer.close()
        await writer.wait_closed()
    assert final[0].startswith(b"250 2.0.0")
    assert final[1].startswith(b"221")
    assert store.list()[0].raw == raw


async def test_starttls_then_mail_stores_tls_facts(run_sink, store: SinkStore) -> None:
    async with run_sink() as sink:

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", sink.port) as client:
                client.ehlo()
                code, _ = client.starttls(context=client_tls())
                assert code == 220
                client.ehlo()
                assert not client.has_extn("starttls")
                client.sendmail("a@x.example", ["kari@kunde-ok.example"], message("tls"))

        await asyncio.to_thread(send)
        async with aiosmtplib.SMTP(
            hostname="127.0.0.1", port=sink.port, start_tls=True, tls_context=client_tls()
        ) as c:
            await c.sendmail("b@x.example", ["kari@kunde-ok.example"], message("tls2"))
    stored = store.list()
    assert len(stored) == 2
    for item in stored:
        assert item.tls is not None
        assert item.tls.version.startswith("TLS")
        assert item.tls.cipher


async def test_plain_mail_has_no_tls_facts(run_sink, store: SinkStore) -> None:
    async with run_sink() as sink:
        await aiosmtplib.send(
            message(),
            sender="a@x.example",
            recipients=["k@kunde-ok.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
    assert store.list()[0].tls is None


async def test_recipient_limit_452(run_sink, store: SinkStore) -> None:
    async with (
        run_sink(max_recipients=3) as sink,
        aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False) as c,
    ):
        await c.ehlo()
        await c.mail("a@x.example")
        for i in range(3):
            await c.rcpt(f"user{i}@kunde-ok.example")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as info:
            await c.rcpt("user3@kunde-ok.example")
        assert info.value.code == 452
        assert info.value.message.startswith("4.5.3")
        await c.data(message("three"))
    assert len(store.list()[0].rcpt_tos) == 3


async def test_connection_limit_421(run_sink) -> None:
    async with run_sink(max_connections=2) as sink:
        held = [await asyncio.open_connection("127.0.0.1", sink.port) for _ in range(2)]
        for reader, _ in held:
            assert (await reader.readline()).startswith(b"220 ")
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        assert (await reader.readline()).startswith(b"421 4.7.0")
        assert await reader.read() == b""
        writer.close()
        for _, w in held:
            w.close()
            await w.wait_closed()
        await asyncio.sleep(0.05)
        assert sink.open_connections == 0
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        assert (await reader.readline()).startswith(b"220 ")
        writer.close()


async def test_command_timeout_closes_idle_connection(run_sink) -> None:
    async with run_sink(command_timeout=0.3) as sink:
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        await reader.readline()
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()


async def test_connection_timeout_421(run_sink) -> None:
    async with run_sink(connection_timeout=0.4) as sink:
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        await reader.readline()
        for _ in range(3):  # keep it busy: the session limit still applies
            writer.write(b"NOOP\r\n")
            await reader.readline()
            await asyncio.sleep(0.1)
        rest = await asyncio.wait_for(reader.read(), 3)
        assert rest.startswith(b"421 4.4.2")
        writer.close()


async def test_never_relays_or_rewrites_envelope(run_sink, judge: FakeJudge) -> None:
    """A message for a foreign domain is captured, not forwarded: the judge sees it once."""
    async with run_sink() as sink:
        await aiosmtplib.send(
            message(),
            sender="a@x.example",
            recipients=["someone@elsewhere.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
    assert len(judge.seen) == 1


def test_with_enhanced_code() -> None:
    assert with_enhanced_code("501 Syntax: HELO hostname") == "501 5.5.4 Syntax: HELO hostname"
    assert with_enhanced_code("550 5.7.1 blocked") == "550 5.7.1 blocked"
    assert with_enhanced_code("250-PIPELINING") == "250-PIPELINING"
    assert with_enhanced_code("354 End data") == "354 End data"


async def test_stop_closes_open_connections_and_is_idempotent(run_sink) -> None:
    async with run_sink() as sink:
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        await reader.readline()
        await sink.stop()
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
        await sink.stop()


async def test_slow_store_does_not_block_other_sessions(tmp_path, judge) -> None:
    from smtp_sink import create_store_engine

    class SlowStore(SinkStore):
        def save(self, message):  # runs in the store thread
            import time

            time.sleep(1.0)
            return super().save(message)

    slow = SlowStore(create_store_engine(tmp_path / "slow.db"))
    slow.create_schema()
    async with SinkServer(slow, judge=judge) as sink:
        pending = asyncio.create_task(
            aiosmtplib.send(
                message("slow"),
                sender="a@x.example",
                recipients=["k@kunde-ok.example"],
                hostname="127.0.0.1",
                port=sink.port,
                start_tls=False,
            )
        )
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        assert (await reader.readline()).startswith(b"220")
        writer.write(b"NOOP\r\n")
        assert (await reader.readline()).startswith(b"250")
        assert loop.time() - started < 0.5
        assert not pending.done()  # no 250 before the commit
        writer.close()
        await pending
    assert slow.count() == 1
    slow.engine.dispose()


async def test_store_failure_is_a_temporary_error(tmp_path, judge) -> None:
    from smtp_sink import StoreError, create_store_engine

    class BrokenStore(SinkStore):
        def save(self, message):
            raise StoreError("disk full", operation="save")

    broken = BrokenStore(create_store_engine(tmp_path / "b.db"))
    async with SinkServer(broken, judge=judge) as sink:
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await aiosmtplib.send(
                message(),
                sender="a@x.example",
                recipients=["k@kunde-ok.example"],
                hostname="127.0.0.1",
                port=sink.port,
                start_tls=False,
            )
    assert (info.value.code, info.value.message[:5]) == (451, "4.3.0")
    broken.engine.dispose()


async def test_unexpected_error_is_a_temporary_error(run_sink, store) -> None:
    class Boom(Exception):
        pass

    def broken_capture(*args, **kwargs):
        raise Boom("internal detail")

    async with run_sink() as sink:
        sink.handler._capture = broken_capture
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await aiosmtplib.send(
                message(),
                sender="a@x.example",
                recipients=["k@kunde-ok.example"],
                hostname="127.0.0.1",
                port=sink.port,
                start_tls=False,
            )
    assert (info.value.code, info.value.message[:5]) == (451, "4.3.0")
    assert "internal detail" not in info.value.message
    assert store.count() == 0


async def test_captured_message_as_json(run_sink, store) -> None:
    async with run_sink() as sink:
        await aiosmtplib.send(
            message("json"),
            sender="a@x.example",
            recipients=["K@kunde-ok.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
    data = store.list()[0].as_json()
    assert data["envelope"] == {"mail_from": "a@x.example", "rcpt_tos": ["K@kunde-ok.example"]}
    assert data["peer"]["ip"] == "127.0.0.1"
    assert data["mailboxes"] == [{"address": "k@kunde-ok.example", "folder": "inbox"}]
    assert data["subject"] == "json"
    assert data["verdict"]["dmarc_result"] == "pass"
    assert "raw" not in data


async def send_with(kind: str, port: int, sender: str, rcpts: list[str], raw: bytes) -> dict:
    """Send one message with smtplib or aiosmtplib (SMTPUTF8 when the envelope needs it)."""
    utf8 = not (sender + "".join(rcpts)).isascii()
    options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else ["BODY=8BITMIME"]
    if kind == "smtplib":

        def run() -> dict:
            with smtplib.SMTP("127.0.0.1", port) as client:
                return client.sendmail(sender, rcpts, raw, mail_options=options)

        return await asyncio.to_thread(run)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        errors, _ = await client.sendmail(sender, rcpts, raw, mail_options=options)
    return errors


@pytest.mark.parametrize("kind", ["smtplib", "aiosmtplib"])
async def test_both_clients_utf8_8bit_dots_and_recipients(run_sink, store, kind: str) -> None:
    raw = (
        "From: Øystein <øystein@blåbær.example>\r\nSubject: Særtegn og punktum\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        ".første linje med punktum\r\n..to punktum\r\nÆØÅ æøå\r\n"
    ).encode()
    rcpts = ["kåre@kunde-ok.example", "ola@kunde-ok.example", "per@annen.example"]
    async with run_sink() as sink:
        assert await send_with(kind, sink.port, "øystein@blåbær.example", rcpts, raw) == {}
    (stored,) = store.list()
    assert stored.raw == raw
    assert stored.rcpt_tos == tuple(rcpts)
    assert stored.mail_from == "øystein@blåbær.example"


async def test_smtplib_declared_size_over_limit_552(run_sink, store) -> None:
    async with run_sink(max_message_size=1000) as sink:

        def run() -> tuple[int, bytes]:
            with smtplib.SMTP("127.0.0.1", sink.port) as client:
                try:
                    client.sendmail("a@x.example", ["k@kunde-ok.example"], message("b", "x" * 2000))
                except smtplib.SMTPSenderRefused as error:
                    return error.smtp_code, error.smtp_error
            return 0, b""

        code, text = await asyncio.to_thread(run)
    assert (code, text[:5]) == (552, b"5.3.4")
    assert store.count() == 0
