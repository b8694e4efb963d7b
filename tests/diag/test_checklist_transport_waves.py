"""The recipient's transport questions go out beside its MX lookup: with each answer held
until every question that can be asked has been asked (a wave), the ``_mta-sts`` and
``_smtp._tls`` records are asked in the MX's wave and each MX host's TLSA record in the wave
of the host's addresses, so the transport check adds no round trip of its own."""

from __future__ import annotations

import asyncio

from diag.checklist.build import _mx_and_probes
from diag.checklist.facts import TransportCheck
from diag.resolver import MX, TXT, Answer, MemoryResolver, ZoneData

ZONE: ZoneData = {
    "kunde.test": {"MX": [MX(10, "mx.kunde.test")]},
    "mx.kunde.test": {"A": ["93.184.216.34"]},
    "_mta-sts.kunde.test": {"TXT": [TXT((b"v=STSv1; id=1",))]},
    "_smtp._tls.kunde.test": {"TXT": [TXT((b"v=TLSRPTv1; rua=mailto:t@kunde.test",))]},
}


class WaveResolver:
    """Holds every answer until no new question has come for a while of event-loop turns,
    then hands over all of them at once; records the wave each question was asked in."""

    def __init__(self, zone: ZoneData) -> None:
        self.inner = MemoryResolver(zone, strict=False)
        self.wave = 1
        self.asked: dict[tuple[str, str], int] = {}
        self._release = asyncio.Event()
        self._new = 0

    async def query(self, name: str, rdtype: str) -> Answer:
        self.asked.setdefault((name.rstrip(".").lower(), rdtype.upper()), self.wave)
        self._new += 1
        release = self._release
        await release.wait()
        return await self.inner.query(name, rdtype)

    async def run(self, done: asyncio.Future[object]) -> None:
        while not done.done():
            seen = -1
            while seen != self._new:  # quiet: nobody asked during 50 loop turns
                seen = self._new
                for _ in range(50):
                    await asyncio.sleep(0)
            if done.done():
                return
            self.wave += 1
            self._release.set()
            self._release = asyncio.Event()


async def test_transport_questions_ride_the_mx_and_address_waves() -> None:
    resolver = WaveResolver(ZONE)

    async def never() -> bool:
        return False

    work = asyncio.ensure_future(
        _mx_and_probes(
            "kari@kunde.test",
            "kunde.test",
            resolver,  # type: ignore[arg-type]
            (),
            None,
            rcpt=never,
            transport=TransportCheck(fetcher=None),
        )
    )
    await asyncio.wait_for(resolver.run(work), 10)
    mx, _, transport = await work
    assert mx.can_receive
    assert transport is not None
    assert transport.checked
    asked = resolver.asked
    assert asked[("kunde.test", "MX")] == 1
    assert asked[("_mta-sts.kunde.test", "TXT")] == 1
    assert asked[("_smtp._tls.kunde.test", "TXT")] == 1
    assert asked[("mx.kunde.test", "A")] == 2
    assert asked[("_25._tcp.mx.kunde.test", "TLSA")] == 2
    assert max(asked.values()) == 2
