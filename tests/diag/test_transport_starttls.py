"""STARTTLS end to end: the probe against a real aiosmtpd server on loopback port 0 that
presents a chain from a CA made in the test; the probe keeps the whole chain, and
check_transport judges it (names, expiry, trust, DANE matching against signed TLSA)."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from diag.mx import lookup_mx
from diag.probe import probe_domain
from diag.resolver import MX, MemoryResolver
from diag.transport import check_transport, trust_store
from tests.diag.certs import NOW, Issued, make_ca, make_server, server_context

DOMAIN = "kunde.example"
MX_HOST = "mx.kunde.example"
CA = make_ca()


class Accept:
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return "250 OK"


Start = Callable[[ssl.SSLContext | None], Any]


@pytest.fixture
async def smtp() -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []

    async def start(tls: ssl.SSLContext | None) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Accept(), hostname=MX_HOST, tls_context=tls), "127.0.0.1", 0
        )
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def tlsa(cert: Issued) -> str:
    spki = cert.cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return f"3 1 1 {hashlib.sha256(spki).hexdigest()}"


async def transport(port: int, *, tlsa_records: list[str] = (), signed: bool = False) -> Any:
    zone: dict[str, Any] = {
        DOMAIN: {"MX": [MX(10, MX_HOST)]},
        MX_HOST: {"A": ["127.0.0.1"], "AAAA": []},
    }
    if tlsa_records:
        zone[f"_25._tcp.{MX_HOST}"] = {"TLSA": list(tlsa_records)}
    signed_names = [DOMAIN, f"_25._tcp.{MX_HOST}"] if signed else []
    names = [f"_mta-sts.{DOMAIN}", f"_smtp._tls.{DOMAIN}", f"_25._tcp.{MX_HOST}"]
    dns = MemoryResolver(zone, nxdomain=names, authenticated=signed_names)
    mx = await lookup_mx(DOMAIN, dns, allow_private=True)
    probe = await probe_domain(
        DOMAIN,
        port=port,
        sender_addresses=["do.not.reply@platform.visma.com"],
        rcpt=None,
        ehlo_name="probe.maildiag.test",
        timeout=3.0,
        allow_private=True,
        resolver=dns,
    )
    return probe, await check_transport(
        mx, dns, fetcher=None, probe=probe, trust=trust_store(CA.pem)
    )


async def test_the_probe_keeps_the_chain_and_it_validates(smtp: Start, tmp_path: Path) -> None:
    server = make_server(CA, [MX_HOST])
    port = await smtp(server_context(server, CA, tmp_path))
    probe, report = await transport(port)
    assert probe.tls.chain == (server.der, CA.der)
    assert probe.to_dict()["tls"]["chain_length"] == 2
    codes = [f.code for f in report.findings]
    assert codes == ["mta_sts.none", "tlsrpt.none", "dane.none", "tls.ok"]
    assert report.starttls.version.startswith("TLSv1.")
    assert report.starttls.cipher


async def test_a_soon_expiring_certificate_for_another_name(smtp: Start, tmp_path: Path) -> None:
    soon = NOW + datetime.timedelta(days=3)
    server = make_server(CA, ["mail.elsewhere.example"], not_after=soon)
    port = await smtp(server_context(server, CA, tmp_path))
    _, report = await transport(port)
    tls = [(f.code, str(f.severity)) for f in report.findings if f.code.startswith("tls.")]
    assert tls == [("tls.cert_expiring", "warning"), ("tls.name_mismatch", "info")]
    assert report.starttls.names == ("mail.elsewhere.example",)


async def test_no_starttls(smtp: Start) -> None:
    port = await smtp(None)
    _, report = await transport(port)
    assert report.starttls.problems == ("no_starttls",)
    assert [f.code for f in report.findings][-1] == "tls.no_starttls"


@pytest.mark.parametrize("match", [True, False], ids=["match", "no-match"])
async def test_signed_tlsa_against_the_live_certificate(
    smtp: Start, tmp_path: Path, match: bool
) -> None:
    server = make_server(CA, [MX_HOST])
    port = await smtp(server_context(server, CA, tmp_path))
    published = server if match else make_server(CA, [MX_HOST])
    _, report = await transport(port, tlsa_records=[tlsa(published)], signed=True)
    dane = [(f.code, str(f.severity)) for f in report.findings if f.code.startswith("dane.")]
    assert dane == ([("dane.tlsa_match", "ok")] if match else [("dane.tlsa_no_match", "error")])
    assert report.has_errors is not match
