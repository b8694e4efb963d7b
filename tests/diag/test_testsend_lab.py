"""Test sends into the lab's sink (run_sink with the lab policies and the authenticate judge) over
the PROXY listener, judged against the lab DNS server: both healthy identities reach the inbox;
the legacy identity is junked for the right reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from diag.checklist import ProbeOptions, build_checklist
from diag.resolver import DnsPythonResolver
from maildiag.db import create_engine
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.lab.kit import lab_senders, prepare_lab
from maildiag.services.testsend import SinkTarget, run_test_sends
from maildiag.settings import Settings
from maildiag.sink.service import SinkHandle, run_sink
from reset import proxy_v1_line

HEALTHY = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")
LEGACY = "do.not.reply@legacy.visma.example"
TO = "kari@kunde-ok.example"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabDnsServer, Path, Any]]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    with lab_dns_in_thread(zone) as server:
        yield server, data, lab_senders(keys)


@pytest.fixture
async def sink(lab: Any, tmp_path: Path) -> AsyncIterator[tuple[Settings, SinkHandle]]:
    server, _, senders = lab
    settings = Settings(
        lab=True,
        data_dir=tmp_path,
        smtp_port=0,
        sink_proxy_port=0,
        nameservers=[server.address],
        senders=senders,
        allow_private_targets=True,
        sink_bounce_delay=60.0,
    )
    engine = create_engine(settings.database)

    def resolver() -> DnsPythonResolver:
        return DnsPythonResolver([server.address], timeout=2.0)

    try:
        async with run_sink(settings, engine, resolver_factory=resolver) as handle:
            yield settings, handle
    finally:
        engine.dispose()


def target(handle: SinkHandle) -> SinkTarget:
    assert handle.proxy_port is not None
    return SinkTarget("127.0.0.1", handle.proxy_port)


async def test_both_healthy_identities_reach_the_inbox(sink: Any) -> None:
    settings, handle = sink
    chosen = [s for s in settings.senders if s.address in HEALTHY]
    results = await run_test_sends(
        settings, to=TO, identities=chosen, store=handle.store, target=target(handle)
    )
    assert [r.identity for r in results] == list(HEALTHY)
    for result in results:
        assert (result.spf, result.dkim, result.dmarc, result.folder) == (
            "pass",
            "pass",
            "pass",
            "inbox",
        ), result.to_dict()
        assert result.aligned
        assert result.would_reach_inbox
        # The lab's base URL is http on loopback: reported, but only as a warning.
        assert {
            f.severity.value for f in result.content if f.code == "testsend.link_not_https"
        } == {"warning"}
    stored = handle.store.list(to=TO)
    assert {m.peer_ip for m in stored} == {"198.51.100.10", "198.51.100.20"}  # egress via PROXY


async def test_the_legacy_identity_is_junked_for_the_right_reasons(sink: Any) -> None:
    settings, handle = sink
    legacy = [s for s in settings.senders if s.address == LEGACY]
    (result,) = await run_test_sends(
        settings, to=TO, identities=legacy, store=handle.store, target=target(handle)
    )
    assert result.spf == "permerror"  # 11 lookups, RFC 7208 §4.6.4
    assert result.dkim == "fail"  # the published key is not the signing key
    assert (result.dmarc, result.dmarc_policy) == ("fail", "quarantine")
    assert result.folder == "junk"
    assert not result.would_reach_inbox
    assert {
        "testsend.spf_permerror",
        "testsend.dkim_fail",
        "testsend.dmarc_fail",
        "testsend.junk",
    } <= set(result.reasons)


async def test_a_junked_test_send_fails_the_checklist(sink: Any, lab: Any) -> None:
    settings, handle = sink
    server, _, _ = lab
    legacy = [s for s in settings.senders if s.address == LEGACY]
    sends = await run_test_sends(
        settings, to=TO, identities=legacy, store=handle.store, target=target(handle)
    )
    result = await build_checklist(
        TO,
        audience="admin",
        resolver=DnsPythonResolver([server.address], timeout=2.0),
        senders=(),
        test_sends=sends,
        probe=ProbeOptions(port=handle.port, allow_private=True, timeout=5.0),
    )
    auth = result.item("sender.authentication")
    assert auth is not None
    assert auth.status == "problem"
    assert {f.evidence["identity"] for f in auth.findings} == {LEGACY}
    spam = result.item("spam.folder")
    assert spam is not None
    assert spam.status == "problem"


def test_proxy_line() -> None:
    assert proxy_v1_line("198.51.100.10", 2526) == b"PROXY TCP4 198.51.100.10 127.0.0.1 2526 25\r\n"
    assert proxy_v1_line("2001:db8::1", 25).startswith(b"PROXY TCP6 2001:db8::1 ::1 ")
