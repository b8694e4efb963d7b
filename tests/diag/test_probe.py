"""diag.probe against real aiosmtpd servers on loopback port 0: policy blocks, unknown users,
greylisting, rate limiting, STARTTLS with a self-signed certificate, a closed port, a silent
server, MX fallback, and the SSRF guard refusing targets without connecting."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from diag.probe import (
    Reply,
    certificate_facts,
    interpret,
    name_matches,
    parse_reply_line,
    probe,
    probe_domain,
)
from diag.probe.session import tls_context
from diag.resolver import MX, MemoryResolver

SENDERS = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")


class Accept:
    def __init__(self) -> None:
        self.mails: list[str] = []
        self.rcpts: list[str] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mails.append(address)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpts.append(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raise AssertionError("the probe must never send DATA")


class RejectMail(Accept):
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mails.append(address)
        return "550 5.7.1 Sender address rejected by policy"


class FixedRcpt(Accept):
    """RCPT answered with a fixed reply."""

    def __init__(self, rcpt_reply: str) -> None:
        super().__init__()
        self.rcpt_reply = rcpt_reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpts.append(address)
        return self.rcpt_reply


class Busy(Accept):
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mails.append(address)
        return "421 4.7.0 Too many connections, slow down"


Server = Callable[..., Any]


@pytest.fixture
async def smtp_server() -> AsyncIterator[Server]:
    servers: list[asyncio.Server] = []

    async def start(
        handler: Any, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="mx.kunde.example", tls_context=tls), host, 0
        )
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def run(port: int, *, rcpt: str | None = None, host: str = "127.0.0.1", **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "port": port,
        "sender_addresses": SENDERS,
        "rcpt": rcpt,
        "ehlo_name": "probe.maildiag.test",
        "timeout": 2.0,
        "allow_private": True,
        "resolver": MemoryResolver({}),
    }
    options.update(kwargs)
    return await probe(host, **options)


def codes(report: Any) -> list[str]:
    return [f.code for f in report.findings]


def lines(report: Any) -> list[str]:
    return [f"{t.direction}: {t.line}" for t in report.transcript]


async def test_accepting_server_full_transcript(smtp_server: Server) -> None:
    handler = Accept()
    port = await smtp_server(handler)
    report = await run(port, rcpt="kari@kunde-ok.example")
    assert report.connected
    assert report.address == "127.0.0.1"
    assert report.banner.startswith("220 mx.kunde.example")
    assert "PIPELINING" in report.extensions or "8BITMIME" in report.extensions
    assert codes(report) == [
        "probe.no_starttls",
        "probe.sender_accepted",
        "probe.rcpt_accepted",
        "probe.sender_accepted",
        "probe.rcpt_accepted",
    ]
    assert handler.mails == list(SENDERS)
    sent = [t.line for t in report.transcript if t.direction == "C"]
    assert sent == [
        "EHLO probe.maildiag.test",
        f"MAIL FROM:<{SENDERS[0]}>",
        "RCPT TO:<kari@kunde-ok.example>",
        "RSET",
        f"MAIL FROM:<{SENDERS[1]}>",
        "RCPT TO:<kari@kunde-ok.example>",
        "RSET",
        "QUIT",
    ]
    times = [t.at_ms for t in report.transcript]
    assert times == sorted(times)
    data = report.to_dict()
    assert data["transcript"][0]["dir"] == "*"
    assert any(t["line"].startswith("221") for t in data["transcript"])
    assert data["mail_from"][0] == {
        "address": SENDERS[0],
        "code": 250,
        "enhanced": "",
        "text": "OK",
    }


async def test_no_rcpt_without_an_address(smtp_server: Server) -> None:
    handler = Accept()
    port = await smtp_server(handler)
    report = await run(port)
    assert handler.rcpts == []
    assert not any(line.startswith("C: RCPT") for line in lines(report))
    assert report.rcpt == ()


async def test_sender_blocked(smtp_server: Server) -> None:
    port = await smtp_server(RejectMail())
    report = await run(port, rcpt="kari@kunde-blokkerer.example")
    blocked = [f for f in report.findings if f.code == "probe.sender_blocked"]
    assert [f.evidence["sender"] for f in blocked] == list(SENDERS)
    assert blocked[0].evidence["reply"] == "550 5.7.1 Sender address rejected by policy"
    assert blocked[0].evidence["enhanced"] == "5.7.1"
    assert report.has_errors
    assert not any(line.startswith("C: RCPT") for line in lines(report))


async def test_unknown_user(smtp_server: Server) -> None:
    port = await smtp_server(FixedRcpt("550 5.1.1 <kari@kunde-ukjent.example>: user unknown"))
    report = await run(port, rcpt="kari@kunde-ukjent.example")
    unknown = [f for f in report.findings if f.code == "probe.unknown_user"]
    assert len(unknown) == 2
    assert unknown[0].evidence["rcpt"] == "kari@kunde-ukjent.example"


async def test_greylisted(smtp_server: Server) -> None:
    port = await smtp_server(FixedRcpt("451 4.7.1 Greylisted, please try again later"))
    report = await run(port, rcpt="kari@kunde-greylist.example")
    assert codes(report).count("probe.greylisted") == 2
    assert not report.has_errors


async def test_rate_limited_421_ends_the_conversation(smtp_server: Server) -> None:
    handler = Busy()
    port = await smtp_server(handler)
    report = await run(port, rcpt="kari@kunde-ok.example")
    assert codes(report)[:2] == ["probe.no_starttls", "probe.rate_limited"]
    assert handler.mails == [SENDERS[0]]
    assert "probe.connection_lost" in codes(report)


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.kunde.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("mx.kunde.example"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


async def test_starttls_with_self_signed_certificate(smtp_server: Server, tmp_path: Path) -> None:
    handler = Accept()
    port = await smtp_server(handler, tls=_self_signed(tmp_path))
    resolver = MemoryResolver({"mx.kunde.example": {"A": ["127.0.0.1"]}}, strict=False)
    report = await run(port, host="mx.kunde.example", resolver=resolver)
    tls = report.tls
    assert tls.offered
    assert tls.established
    assert tls.version.startswith("TLS")
    assert tls.cipher
    assert tls.certificate is not None
    assert tls.certificate.subject == "CN=mx.kunde.example"
    assert tls.certificate.self_signed
    assert tls.certificate.name_matches
    assert tls.certificate.dns_names == ("mx.kunde.example",)
    invalid = next(f for f in report.findings if f.code == "probe.tls_certificate_invalid")
    assert invalid.evidence["problems"] == ["self_signed"]
    sent = [t.line for t in report.transcript if t.direction == "C"]
    assert sent[:3] == ["EHLO probe.maildiag.test", "STARTTLS", "EHLO probe.maildiag.test"]
    assert handler.mails == list(SENDERS)  # the probe went on over TLS
    data = report.to_dict()
    assert data["tls"]["certificate"]["not_after"]


async def test_strict_tls_verification_fails_on_self_signed(
    smtp_server: Server, tmp_path: Path
) -> None:
    port = await smtp_server(Accept(), tls=_self_signed(tmp_path))
    resolver = MemoryResolver({"mx.kunde.example": {"A": ["127.0.0.1"]}}, strict=False)
    report = await run(port, host="mx.kunde.example", resolver=resolver, tls_verify=True)
    assert "probe.tls_failed" in codes(report)
    assert report.tls.error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_closed_port_could_not_run() -> None:
    port = _closed_port()
    report = await run(port)
    assert not report.connected
    assert codes(report) == ["probe.could_not_run"]
    assert report.findings[0].severity == "warning"
    assert report.attempts[0]["address"] == "127.0.0.1"


@contextlib.asynccontextmanager
async def serving(handler: Any) -> AsyncIterator[int]:
    """A throw-away TCP server on loopback running ``handler``; yields its port. On exit it
    waits for every connection's handler to end (each ends once the client has hung up)."""
    running: list[asyncio.Task[Any]] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        running.append(task)
        await handler(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await asyncio.wait_for(asyncio.gather(*running), 10)
        await server.wait_closed()


async def test_silent_server_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never says anything; returns when the client hangs up
        writer.close()

    async with serving(silent) as port:
        report = await run(port, timeout=0.3)
    assert report.connected
    lost = next(f for f in report.findings if f.code == "probe.connection_lost")
    assert lost.evidence["reason"] == "timeout"


async def test_a_reply_dribbled_out_line_by_line_times_out_as_a_whole() -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):  # the client hangs up half way
            for line in (b"220-mx.slow.example", b"220-still", b"220-here", b"220 ready"):
                writer.write(line + b"\r\n")  # each line well within the timeout, the reply not
                await writer.drain()
                await asyncio.sleep(0.15)
            await reader.read()
        writer.close()

    async with serving(dribble) as port:
        report = await run(port, timeout=0.3)
    lost = next(f for f in report.findings if f.code == "probe.connection_lost")
    assert lost.evidence["reason"] == "timeout"
    assert report.banner == ""


async def test_not_smtp_server() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    async with serving(http) as port:
        report = await run(port)
    lost = next(f for f in report.findings if f.code == "probe.connection_lost")
    assert lost.evidence["reason"] == "not_smtp"


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.25", "private"),
        ("192.168.1.25", "private"),
        ("169.254.169.254", "metadata"),
        ("100.64.0.25", "cgnat"),
        ("fd00::25", "private"),
        ("::ffff:10.0.0.25", "private"),
        ("224.0.0.25", "multicast"),
        ("203.0.113.25", "documentation"),
    ],
)
async def test_guard_refuses_without_connecting(
    smtp_server: Server, address: str, category: str
) -> None:
    handler = Accept()
    port = await smtp_server(handler)
    report = await run(port, host=address, allow_private=False)
    assert not report.connected
    assert codes(report) == ["probe.target_forbidden"]
    assert report.findings[0].evidence["category"] == category
    assert report.transcript == ()
    assert handler.mails == []


async def test_guard_applies_to_resolved_names() -> None:
    zone = {"mx.evil.example": {"A": ["169.254.169.254"], "AAAA": ["fd00:ec2::254"]}}
    report = await run(25, host="mx.evil.example", resolver=MemoryResolver(zone))
    assert codes(report) == ["probe.target_forbidden", "probe.target_forbidden"]
    assert [f.evidence["category"] for f in report.findings] == ["metadata", "metadata"]
    assert not report.connected
    assert report.attempts == ()


async def test_known_addresses_are_tried_without_asking_again(smtp_server: Server) -> None:
    handler = Accept()
    port = await smtp_server(handler)
    resolver = MemoryResolver({})  # strict: any question fails the test
    report = await run(port, host="mx.kunde.example", resolver=resolver, known=("127.0.0.1",))
    assert report.connected
    assert report.address == "127.0.0.1"
    assert resolver.log == []
    assert handler.mails == list(SENDERS)


async def test_the_guard_decides_on_known_addresses_too() -> None:
    report = await run(
        25, host="mx.evil.example", allow_private=False, known=("169.254.169.254", "10.0.0.1")
    )
    assert codes(report) == ["probe.target_forbidden", "probe.target_forbidden"]
    assert not report.connected


async def test_probe_domain_falls_back_to_the_next_mx(smtp_server: Server) -> None:
    handler = Accept()
    port = await smtp_server(handler)
    zone = {
        "kunde.example": {"MX": [MX(10, "mx1.kunde.example"), MX(20, "mx2.kunde.example")]},
        "mx1.kunde.example": {"A": ["127.0.0.2"]},
        "mx2.kunde.example": {"A": ["127.0.0.1"]},
    }
    report = await probe_domain(
        "kunde.example",
        port=port,
        sender_addresses=SENDERS[:1],
        rcpt=None,
        ehlo_name="probe.maildiag.test",
        timeout=2.0,
        allow_private=True,
        resolver=MemoryResolver(zone),
    )
    assert report.host == "mx2.kunde.example"
    assert report.connected
    assert report.attempts[0]["host"] == "mx1.kunde.example"
    assert handler.mails == [SENDERS[0]]


async def test_probe_domain_null_mx_has_no_target() -> None:
    report = await probe_domain(
        "kunde-nullmx.example",
        sender_addresses=SENDERS,
        rcpt=None,
        ehlo_name="probe.maildiag.test",
        timeout=1.0,
        allow_private=True,
        resolver=MemoryResolver({"kunde-nullmx.example": {"MX": [MX(0, "")]}}),
    )
    assert codes(report) == ["probe.no_target"]
    assert report.findings[0].evidence["mx_findings"] == ["mx.null_mx"]


@pytest.mark.parametrize(
    ("stage", "reply", "code"),
    [
        ("mail", "550 5.7.1 Service unavailable; client host blocked", "probe.sender_blocked"),
        ("rcpt", "550 5.1.1 The email account does not exist", "probe.unknown_user"),
        ("rcpt", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", "probe.unknown_user"),
        ("rcpt", "451 4.7.1 Greylisting in action", "probe.greylisted"),
        ("rcpt", "450 4.2.0 Greylisted for 300 seconds", "probe.greylisted"),
        (
            "mail",
            "550 5.7.26 Unauthenticated email is not accepted (DMARC)",
            "probe.dmarc_rejected",
        ),
        (
            "mail",
            "550 5.7.606 Access denied, banned sending IP [1.2.3.4]",
            "probe.ip_blocklisted_microsoft",
        ),
        ("mail", "550 5.7.649 Access denied, tenant blocked", "probe.ip_blocklisted_microsoft"),
        ("mail", "550 5.7.650 Something else", "probe.sender_blocked"),
        ("mail", "421 4.7.0 Too many connections", "probe.rate_limited"),
        ("banner", "421 Service not available", "probe.rate_limited"),
        ("banner", "554 5.7.1 Client host rejected: on a blocklist", "probe.connection_refused"),
        (
            "banner",
            "554 5.7.606 Access denied, banned sending IP",
            "probe.ip_blocklisted_microsoft",
        ),
        ("rcpt", "552 5.2.2 Mailbox full", "probe.mailbox_full"),
        ("rcpt", "550 Requested action not taken: mailbox unavailable", "probe.rcpt_rejected"),
        ("mail", "553 5.1.8 Bad sender domain", "probe.rejected"),
        ("mail", "452 4.3.1 Insufficient system storage", "probe.temporary_failure"),
        ("mail", "250 2.1.0 Sender OK", "probe.sender_accepted"),
        ("rcpt", "250 2.1.5 Recipient OK", "probe.rcpt_accepted"),
    ],
)
def test_interpret(stage: str, reply: str, code: str) -> None:
    parsed = parse_reply_line(reply)
    assert parsed is not None
    finding = interpret(
        stage, Reply(parsed[0], (parsed[2],)), sender="s@x.example", rcpt="r@y.example"
    )
    assert finding is not None
    assert finding.code == code
    assert finding.evidence["reply"] == reply


def test_parse_reply_line() -> None:
    assert parse_reply_line("250-PIPELINING") == (250, True, "PIPELINING")
    assert parse_reply_line("220 mx ESMTP") == (220, False, "mx ESMTP")
    assert parse_reply_line("250") == (250, False, "")
    assert parse_reply_line("HTTP/1.1 400") is None
    assert parse_reply_line("2500 x") is None
    assert parse_reply_line("650 x") is None
    assert interpret("ehlo", Reply(250, ("mx",))) is None


async def test_dns_failure_for_the_probe_target() -> None:
    resolver = MemoryResolver({}, errors={("mx.down.example", "*"): "timeout"})
    report = await run(25, host="mx.down.example", resolver=resolver)
    assert codes(report) == ["probe.dns_temperror"]
    assert not report.connected


async def test_unresolvable_probe_target() -> None:
    resolver = MemoryResolver({}, nxdomain=["mx.gone.example"])
    report = await run(25, host="mx.gone.example", resolver=resolver)
    assert codes(report) == ["probe.host_unresolvable"]


async def test_greeting_refusal() -> None:
    said: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"554 5.7.1 mx.kunde.example: your IP is on our blocklist\r\n")
        await writer.drain()
        said.append(await reader.readline())
        writer.write(b"221 2.0.0 Bye\r\n")
        await writer.drain()
        writer.close()

    async with serving(refuse) as port:
        report = await run(port)
    assert codes(report) == ["probe.connection_refused"]
    assert report.findings[0].evidence["enhanced"] == "5.7.1"
    assert said == [b"QUIT\r\n"]
    assert report.mail_from == ()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["banner", "ehlo", "mail", "rcpt"]))
def test_reply_interpretation_never_raises(line: str, stage: str) -> None:
    parsed = parse_reply_line(line)
    if parsed is not None:
        interpret(stage, Reply(parsed[0], (parsed[2],)), sender="a@b.example", rcpt="c@d.example")


def test_unreadable_certificate_is_a_fact_not_an_error() -> None:
    facts = certificate_facts(b"\x30\x03garbage", "mx.example.com")
    assert facts.error.startswith("unreadable certificate")
    assert not facts.name_matches


@pytest.mark.parametrize(
    ("host", "names", "matches"),
    [
        ("mx.kunde.example", ["mx.kunde.example"], True),
        ("MX.Kunde.Example.", ["mx.kunde.example"], True),
        ("mx.kunde.example", ["*.kunde.example"], True),
        ("a.mx.kunde.example", ["*.kunde.example"], False),
        ("kunde.example", ["*.kunde.example"], False),
        ("mx.kunde.example", ["mx.other.example"], False),
    ],
)
def test_certificate_name_matching(host: str, names: list[str], matches: bool) -> None:
    assert name_matches(host, names, []) is matches


def test_certificate_ip_matching() -> None:
    assert name_matches("127.0.0.1", [], ["127.0.0.1"])
    assert not name_matches("127.0.0.2", ["127.0.0.2"], [])


async def test_sender_refused_at_rcpt_is_not_also_accepted(smtp_server: Server) -> None:
    port = await smtp_server(FixedRcpt("550 5.7.1 Sender rejected by policy"))
    report = await run(port, rcpt="kari@kunde-blokkerer.example")
    assert codes(report) == ["probe.no_starttls", "probe.sender_blocked", "probe.sender_blocked"]
    assert report.findings[1].evidence["stage"] == "rcpt"
    assert [m["code"] for m in report.mail_from] == [250, 250]


def test_the_tls_client_contexts_are_built_once_and_shared() -> None:
    assert tls_context(verify=True) is tls_context(verify=True)
    assert tls_context(verify=False) is tls_context(verify=False)
    assert tls_context(verify=True) is not tls_context(verify=False)
    assert tls_context(verify=False).verify_mode == ssl.CERT_NONE
    assert tls_context(verify=True).check_hostname
