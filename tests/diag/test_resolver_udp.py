"""DnsPythonResolver's UDP exchange: sockets are closed on every path, answers match."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from diag.errors import DnsError
from diag.resolver import TXT, DnsPythonResolver, Rcode, ZoneData
from maildiag.lab.dns import Fault, LabDnsServer

ZONE: ZoneData = {
    "udp.example": {"TXT": [TXT((b"v=spf1 -all",))], "A": ["192.0.2.1"]},
    "slow.udp.example": {"A": ["192.0.2.2"]},
}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
async def server() -> AsyncIterator[LabDnsServer]:
    async with LabDnsServer(ZONE, ttl=60) as srv:
        yield srv


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_no_socket_is_left_open(server: LabDnsServer) -> None:
    resolver = DnsPythonResolver([server.address], timeout=0.2, cache=False)
    await resolver.query("udp.example", "TXT")  # warm up whatever dnspython opens once
    server.set_fault("slow.udp.example", Fault.TIMEOUT)
    before = open_fds()
    for _ in range(20):
        assert (await resolver.query("udp.example", "TXT")).rcode is Rcode.NOERROR
        assert (await resolver.query("nothere.udp.example", "A")).rcode is Rcode.NXDOMAIN
    with pytest.raises(DnsError):
        await resolver.query("slow.udp.example", "A")
    for _ in range(5):  # cancelled while waiting for the answer
        task = asyncio.create_task(resolver.query("slow.udp.example", "A"))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.3)  # the shielded lookups run out their timeout
    assert open_fds() == before


async def test_concurrent_queries_get_their_own_answers(server: LabDnsServer) -> None:
    resolver = DnsPythonResolver([server.address], timeout=1.0, cache=False)
    names = [("udp.example", "TXT"), ("udp.example", "A"), ("slow.udp.example", "A")] * 10
    answers = await asyncio.gather(*(resolver.query(n, t) for n, t in names))
    for (name, rdtype), answer in zip(names, answers, strict=True):
        assert (answer.name, answer.rdtype, answer.rcode) == (name, rdtype, Rcode.NOERROR)
    assert [a.strings for a in answers[1::3]] == [("192.0.2.1",)] * 10
    assert [a.texts for a in answers[::3]] == [("v=spf1 -all",)] * 10
