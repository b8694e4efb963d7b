"""Bad input keeps the sink serving: each case is stored, or refused with a clear code."""

from __future__ import annotations

import asyncio
import random
import smtplib

import aiosmtplib

from smtp_sink import SinkStore
from tests.smtp_sink.helpers import message


async def raw_session(port: int, commands: bytes) -> bytes:
    """Send ``commands`` after the greeting and return everything the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(commands + b"QUIT\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return answer


async def assert_still_serving(port: int) -> None:
    _, reply = await aiosmtplib.send(
        message("after"),
        sender="a@x.example",
        recipients=["k@kunde-ok.example"],
        hostname="127.0.0.1",
        port=port,
        start_tls=False,
    )
    assert reply.startswith("2.0.0")


async def test_malformed_mime_is_stored(run_sink, store: SinkStore) -> None:
    raw = (
        b"From: a@x.example\r\nSubject: broken mime\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed\r\n'
        b"Content-Transfer-Encoding: base64x\r\n\r\n--never-closed\r\n"
        b"Content-Type: text/plain; charset=nonexistent-charset\r\n\r\n"
        b"=?broken?=\r\n--wrong-boundary--\r\n"
    )
    async with run_sink() as sink:
        await aiosmtplib.send(
            raw,
            sender="a@x.example",
            recipients=["k@kunde-ok.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
        await assert_still_serving(sink.port)
    stored = store.list(subject="broken mime")
    assert stored[0].raw == raw


async def test_binary_garbage_is_stored_byte_for_byte(run_sink, store: SinkStore) -> None:
    rng = random.Random(7)
    alphabet = bytes(b for b in range(256) if b not in (10, 13))
    lines = [bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 200))) for _ in range(60)]
    lines[3] = b"." + lines[3]  # a line starting with a dot must survive dot-stuffing
    raw = b"\r\n".join(lines) + b"\r\n"
    async with run_sink() as sink:

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", sink.port) as client:
                client.sendmail("a@x.example", ["k@kunde-ok.example"], raw)

        await asyncio.to_thread(send)
        await assert_still_serving(sink.port)
    garbage = [m for m in store.list() if m.summary.subject != "after"]
    assert garbage[0].raw == raw


async def test_too_long_line_is_refused_and_session_goes_on(run_sink, store) -> None:
    async with run_sink() as sink:
        answer = await raw_session(
            sink.port,
            b"EHLO c.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<k@kunde-ok.example>\r\n"
            b"DATA\r\nSubject: long\r\n\r\n" + b"y" * 1500 + b"\r\n.\r\n"
            b"NOOP\r\n",
        )
        await assert_still_serving(sink.port)
    codes = [line[:3] for line in answer.split(b"\r\n") if line[:1].isdigit()]
    assert b"500" in codes
    assert codes[-2:] == [b"250", b"221"]  # NOOP answered, QUIT answered
    assert store.list(subject="long") == []


async def test_thousand_recipients(run_sink, store: SinkStore) -> None:
    rcpts = [f"user{i}@kunde-ok.example" for i in range(1000)]
    async with run_sink(max_recipients=100) as sink:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False) as c:
            errors, reply = await c.sendmail("a@x.example", rcpts, message("crowd"))
        await assert_still_serving(sink.port)
    assert reply.startswith("2.0.0")
    assert len(errors) == 900
    assert {(code, text[:5]) for code, text in errors.values()} == {(452, "4.5.3")}
    (stored,) = store.list(subject="crowd")
    assert stored.rcpt_tos == tuple(rcpts[:100])


async def test_header_only_and_empty_messages(run_sink, store: SinkStore) -> None:
    header_only = b"From: a@x.example\r\nSubject: only headers\r\n"
    async with run_sink() as sink:
        answer = await raw_session(
            sink.port,
            b"EHLO c.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<k@kunde-ok.example>\r\n"
            b"DATA\r\n" + header_only + b".\r\n"
            b"MAIL FROM:<a@x.example>\r\nRCPT TO:<k@kunde-ok.example>\r\nDATA\r\n.\r\n",
        )
        await assert_still_serving(sink.port)
    assert answer.count(b"250 2.0.0 OK queued as") == 2
    assert store.list(subject="only headers")[0].raw == header_only
    assert any(m.raw == b"" for m in store.list())


async def test_eight_bit_headers_without_smtputf8(run_sink, store: SinkStore) -> None:
    raw = b"From: \xff\xfe <a@x.example>\r\nSubject: \xc3\x28 bad utf8\r\n\r\nbody\r\n"
    async with run_sink() as sink:
        await aiosmtplib.send(
            raw,
            sender="a@x.example",
            recipients=["k@kunde-ok.example"],
            hostname="127.0.0.1",
            port=sink.port,
            start_tls=False,
        )
    stored = store.list(subject="bad utf8")[0]
    assert stored.raw == raw
    assert "\ufffd" in stored.summary.from_header


async def test_garbage_commands_and_abrupt_disconnects(run_sink, store: SinkStore) -> None:
    async with run_sink() as sink:
        answer = await raw_session(
            sink.port, b"\x00\xff\xfe\r\n\r\nMAIL FROM:<a@x.example>\r\nHELO\r\nEHLO\r\n"
        )
        assert b"221" in answer
        for stage in (
            b"",
            b"EHLO c\r\n",
            b"EHLO c\r\nMAIL FROM:<a@x.example>\r\n"
            b"RCPT TO:<k@kunde-ok.example>\r\nDATA\r\npartial body",
        ):
            _, writer = await asyncio.open_connection("127.0.0.1", sink.port)
            writer.write(stage)
            await writer.drain()
            writer.transport.abort()
        await assert_still_serving(sink.port)
    assert [m.summary.subject for m in store.list()] == ["after"]
