"""The checklist against the lab: its DNS server on loopback and a sink with the demo domains'
behaviour. Every planted fault must give the right failing item with its evidence, and the
healthy domain must come out all-ok."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from diag.checklist import (
    TODO_BY_DESIGN,
    AccountFacts,
    Checklist,
    DeliveryFact,
    ProbeOptions,
    ResetRequestFact,
    build_checklist,
)
from diag.resolver import DnsPythonResolver
from diag.senders import SenderSpec
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.lab.kit import lab_senders, prepare_lab
from maildiag.lab.policies import LAB_MX_ADDRESSES
from maildiag.services.identities import sender_spec
from smtp_sink import SinkConfig, SinkServer, SinkStore, create_store_engine, parse_policies

BOTH = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")
LEGACY = "do.not.reply@legacy.visma.example"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)

# The demo domains' behaviour, as the lab's sink applies it (DESIGN.md, "The lab").
LAB_POLICIES = {
    "default": {"action": "accept"},
    "domains": {
        "kunde-ok.example": {"action": "accept"},
        "kunde-nomx.example": {"action": "accept"},
        "kunde-blokkerer.example": {"preset": "sender_blocked"},
        "kunde-greylist.example": {
            "action": "greylist",
            "greylist_attempts": 1,
            "greylist_window": 600,
        },
        "kunde-ukjent.example": {"action": "accept"},
    },
    "addresses": {"kari@kunde-ukjent.example": {"preset": "user_unknown"}},
}


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LabDnsServer, list[SenderSpec]]]:
    keys, zone = prepare_lab(tmp_path_factory.mktemp("lab"))
    specs = [sender_spec(s) for s in lab_senders(keys)]
    with lab_dns_in_thread(zone) as server:
        yield server, specs


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[SinkServer]:
    store = SinkStore(create_store_engine(tmp_path / "sink.db"))
    store.create_schema()
    policies = parse_policies(LAB_POLICIES, source="test")
    server = SinkServer(store, port=0, config=SinkConfig(hostname="sink.test"), policies=policies)
    async with server:
        # As in the lab: kunde-blokkerer's MX has a loopback address of its own, where the
        # sink knows the domain at MAIL FROM (maildiag.lab.policies.LAB_MX_ADDRESSES).
        mx_address = LAB_MX_ADDRESSES["kunde-blokkerer.example"]
        config = SinkConfig(
            hostname="sink.test", local_domains={mx_address: "kunde-blokkerer.example"}
        )
        async with SinkServer(
            store, host=mx_address, port=server.port, config=config, policies=policies
        ):
            yield server


def healthy(specs: list[SenderSpec]) -> list[SenderSpec]:
    return [s for s in specs if s.address in BOTH]


async def checklist(
    lab: Any, sink: SinkServer | None, address: str, audience: str, **kwargs: Any
) -> Checklist:
    server, specs = lab
    kwargs.setdefault("senders", healthy(specs))
    probe = ProbeOptions(port=sink.port if sink else 9, allow_private=True, timeout=5.0)
    return await build_checklist(
        address,
        audience=audience,
        resolver=DnsPythonResolver([server.address], timeout=2.0),
        probe=probe,
        now=NOW,
        **kwargs,
    )


def status(result: Checklist, key: str) -> str:
    item = result.item(key)
    assert item is not None, key
    return item.status


def codes(result: Checklist, key: str) -> set[str]:
    item = result.item(key)
    assert item is not None
    return {f.code for f in item.findings}


def account(address: str, *, used: bool = False, expired: bool = False) -> AccountFacts:
    requested = NOW - dt.timedelta(minutes=40 if expired else 5)
    reset = ResetRequestFact(
        requested_at=requested,
        outbox_id=7,
        status="sent",
        token_expires_at=requested + dt.timedelta(minutes=30),
        token_used_at=requested + dt.timedelta(minutes=2) if used else None,
    )
    delivery = DeliveryFact(
        at=requested + dt.timedelta(seconds=3),
        relay="127.0.0.1:2525",
        code=250,
        enhanced_status="2.0.0",
        text="OK queued",
        outbox_id=7,
    )
    return AccountFacts(True, address, (reset,), (delivery,))


async def test_healthy_domain_is_all_ok_for_support(lab: Any, sink: SinkServer) -> None:
    address = "kari@kunde-ok.example"
    result = await checklist(lab, sink, address, "support", account=account(address))
    for item in result.items:
        if item.key in TODO_BY_DESIGN:
            assert item.status in ("ok", "todo"), (item.key, item.status)
        else:
            assert item.status == "ok", (item.key, item.status, item.findings)
    assert status(result, "spam.folder") == "todo"  # no headers pasted: the user looks
    assert status(result, "recipient.blocks_sender") == "ok"
    assert not result.has_problems


async def test_healthy_domain_self_service(lab: Any, sink: SinkServer) -> None:
    result = await checklist(lab, sink, "kari@kunde-ok.example", "self")
    assert [i.key for i in result.items] == [
        "address.registered",
        "delivery.accepted",
        "spam.folder",
        "recipient.blocks_sender",
        "recipient.can_receive",
        "sender.authentication",
    ]
    by_status = {i.key: i.status for i in result.items}
    assert by_status == {
        "address.registered": "todo",
        "delivery.accepted": "ok",
        "spam.folder": "todo",
        "recipient.blocks_sender": "todo",
        "recipient.can_receive": "ok",
        "sender.authentication": "ok",
    }
    # No RCPT for self-service: the mailbox is never asked about.
    transcript = result.item("delivery.accepted").evidence["probes"][0]["transcript"]  # type: ignore[union-attr]
    assert not any(line.startswith("C: RCPT") for line in transcript)


async def test_null_mx_is_a_problem(lab: Any, sink: SinkServer) -> None:
    result = await checklist(lab, sink, "kari@kunde-nullmx.example", "admin")
    assert status(result, "recipient.can_receive") == "problem"
    assert "mx.null_mx" in codes(result, "recipient.can_receive")
    assert result.item("recipient.can_receive").evidence["null_mx"] is True  # type: ignore[union-attr]
    assert status(result, "delivery.accepted") == "not_checked"  # nobody to ask


async def test_no_mx_uses_the_implicit_mx(lab: Any, sink: SinkServer) -> None:
    result = await checklist(lab, sink, "kari@kunde-nomx.example", "admin")
    assert status(result, "recipient.can_receive") in ("ok", "warning")
    assert result.item("recipient.can_receive").evidence["implicit"] is True  # type: ignore[union-attr]
    assert status(result, "delivery.accepted") == "ok"


async def test_sender_block_names_the_reply_and_both_addresses(lab: Any, sink: SinkServer) -> None:
    result = await checklist(lab, sink, "kari@kunde-blokkerer.example", "admin")
    item = result.item("recipient.blocks_sender")
    assert item is not None
    assert item.status == "problem"
    assert item.evidence["reply"].startswith("550 5.7.1")
    assert set(item.evidence["blocked_senders"]) == set(BOTH)
    steps = item.evidence["allowlist"]
    assert set(BOTH) <= set(steps["senders"])
    assert steps["steps"]
    assert "checklist.sender_blocked" in codes(result, "recipient.blocks_sender")
    assert result.has_problems


async def test_greylisting_is_a_warning(lab: Any, sink: SinkServer) -> None:
    result = await checklist(lab, sink, "kari@kunde-greylist.example", "support")
    item = result.item("delivery.accepted")
    assert item is not None
    assert item.status == "warning"
    found = next(f for f in item.findings if f.code == "checklist.deferred")
    assert str(found.evidence["reply"]).startswith("451 4.7.1")
    assert status(result, "recipient.blocks_sender") != "problem"


async def test_unknown_mailbox_for_support(lab: Any, sink: SinkServer) -> None:
    address = "kari@kunde-ukjent.example"
    result = await checklist(lab, sink, address, "support", account=account(address))
    item = result.item("address.registered")
    assert item is not None
    assert item.status == "problem"
    assert item.evidence["mailbox_unknown"] is True
    assert item.evidence["probe"]["reply"].startswith("550 5.1.1")
    assert "checklist.mailbox_unknown" in codes(result, "address.registered")
    assert status(result, "recipient.blocks_sender") != "problem"


async def test_legacy_identity_makes_sender_authentication_a_problem(lab: Any) -> None:
    _, specs = lab
    result = await checklist(lab, None, "kari@kunde-ok.example", "admin", senders=specs)
    item = result.item("sender.authentication")
    assert item is not None
    assert item.status == "problem"
    legacy = {f.code for f in item.findings if f.evidence.get("identity") == LEGACY}
    assert {"spf.too_many_lookups", "dkim.key_mismatch"} <= legacy
    assert all(f.evidence.get("identity") == LEGACY for f in item.findings)
    statuses = {i["address"]: i["status"] for i in item.evidence["identities"]}
    assert statuses == {BOTH[0]: "ok", BOTH[1]: "ok", LEGACY: "problem"}


async def test_self_output_is_the_same_for_registered_and_unregistered(
    lab: Any, sink: SinkServer
) -> None:
    address = "kari@kunde-ok.example"
    registered = await checklist(lab, sink, address, "self", account=account(address))
    unknown = await checklist(lab, sink, address, "self", account=AccountFacts(False, address))
    nothing = await checklist(lab, sink, address, "self")
    first = json.dumps(registered.to_dict(), sort_keys=True)
    assert first == json.dumps(unknown.to_dict(), sort_keys=True)
    assert first == json.dumps(nothing.to_dict(), sort_keys=True)
    assert "exists" not in first


async def test_support_sees_a_used_and_an_expired_link(lab: Any) -> None:
    address = "kari@kunde-ok.example"
    used = await checklist(lab, None, address, "support", account=account(address, used=True))
    assert status(used, "link.valid") == "problem"
    assert "checklist.link_used" in codes(used, "link.valid")
    expired = await checklist(lab, None, address, "support", account=account(address, expired=True))
    assert "checklist.link_expired" in codes(expired, "link.valid")
    missing = await checklist(lab, None, address, "support", account=AccountFacts(False, address))
    assert status(missing, "address.registered") == "problem"
    assert status(missing, "reset.requested") == "not_checked"


async def test_admin_never_gets_account_data(lab: Any, sink: SinkServer) -> None:
    address = "kari@kunde-ok.example"
    result = await checklist(lab, sink, address, "admin", account=account(address))
    assert {i.key for i in result.items}.isdisjoint(
        {"reset.requested", "delivery.sent", "link.valid"}
    )
    assert "exists" not in json.dumps(result.to_dict())


async def test_checklists_share_the_process_public_suffix_list(
    lab: Any, psl_builds: list[object]
) -> None:
    for audience in ("self", "support", "admin"):
        await checklist(lab, None, "kari@kunde-nullmx.example", audience)
    assert psl_builds == []
