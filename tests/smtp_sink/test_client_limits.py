"""Per-client connection caps and the shorter idle limit before the first command: one client
holding idle connections must not lock out another (the outbox relay), over plain TCP and
behind a trusted PROXY peer."""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
import pytest

from smtp_sink import SinkStore
from tests.smtp_sink.helpers import message
from tests.smtp_sink.test_proxy import proxy_v1

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def greeted(port: int, source: str = "127.0.0.1", header: bytes = b"") -> Connection:
    """A connection from ``source`` (after ``header``, a PROXY line) that has read its reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    if header:
        writer.write(header)
    return reader, writer


async def first_reply(connection: Connection) -> bytes:
    return await asyncio.wait_for(connection[0].readline(), 5)


async def close_all(connections: list[Connection]) -> None:
    for _, writer in connections:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for _, w in connections), return_exceptions=True)


async def relay_sends(port: int, subject: str) -> None:
    """What the outbox relay does, from 127.0.0.1."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        await client.sendmail("a@x.example", ["kari@kunde-ok.example"], message(subject))


async def test_one_clients_idle_connections_do_not_lock_out_the_relay(
    run_sink, store: SinkStore
) -> None:
    """The defaults: 120 idle connections from one address get 20 slots, the relay gets in."""
    async with run_sink() as sink:
        held = [await greeted(sink.port, "127.0.0.2") for _ in range(120)]
        replies = await asyncio.gather(*(first_reply(c) for c in held))
        accepted = [r for r in replies if r.startswith(b"220 ")]
        refused = [r for r in replies if r.startswith(b"421 4.7.0 Too many connections from")]
        assert (len(accepted), len(refused)) == (20, 100)
        await relay_sends(sink.port, "through the relay")
        await close_all(held)
    assert len(store.list(subject="through the relay")) == 1


async def test_per_client_cap_frees_a_slot_when_a_connection_closes(run_sink) -> None:
    async with run_sink(max_connections_per_client=2) as sink:
        held = [await greeted(sink.port, "127.0.0.2") for _ in range(2)]
        assert all(r.startswith(b"220 ") for r in await asyncio.gather(*map(first_reply, held)))
        over = await greeted(sink.port, "127.0.0.2")
        assert (await first_reply(over)).startswith(b"421 4.7.0")
        assert await asyncio.wait_for(over[0].read(), 5) == b""
        other = await greeted(sink.port, "127.0.0.3")
        assert (await first_reply(other)).startswith(b"220 ")
        await close_all([held[0]])
        for _ in range(100):
            if sink.open_connections == 2:
                break
            await asyncio.sleep(0.02)
        again = await greeted(sink.port, "127.0.0.2")
        assert (await first_reply(again)).startswith(b"220 ")
        await close_all([*held[1:], over, other, again])


async def test_behind_a_trusted_proxy_the_cap_counts_the_named_client(run_sink) -> None:
    """All PROXY connections come from the proxy's address; each real client has its cap."""
    async with run_sink(proxy_trusted=("127.0.0.0/8",), max_connections_per_client=2) as sink:
        held = [await greeted(sink.port, header=proxy_v1("198.51.100.10")) for _ in range(2)]
        assert all(r.startswith(b"220 ") for r in await asyncio.gather(*map(first_reply, held)))
        over = await greeted(sink.port, header=proxy_v1("198.51.100.10"))
        assert (await first_reply(over)).startswith(b"421 4.7.0 Too many connections from")
        other = await greeted(sink.port, header=proxy_v1("203.0.113.30"))
        assert (await first_reply(other)).startswith(b"220 ")
        await close_all([*held, over, other])
        for _ in range(100):
            if sink.open_connections == 0:
                break
            await asyncio.sleep(0.02)
        assert sink.open_connections == 0


async def test_idle_before_the_first_command_is_closed_sooner(run_sink) -> None:
    async with run_sink(first_command_timeout=0.3, command_timeout=30) as sink:
        silent = await greeted(sink.port)
        assert (await first_reply(silent)).startswith(b"220 ")
        started = time.monotonic()
        assert await asyncio.wait_for(silent[0].read(), 5) == b""
        assert time.monotonic() - started < 3

        talking = await greeted(sink.port)
        await first_reply(talking)
        talking[1].write(b"NOOP\r\n")
        assert (await first_reply(talking)).startswith(b"250 ")
        with pytest.raises(TimeoutError):  # after a command the longer limit applies
            await asyncio.wait_for(talking[0].read(), 1.0)
        await close_all([silent, talking])
