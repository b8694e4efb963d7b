"""Policy changes are kept in the database over the defaults, so they outlast a restart, and
each is audited (who, what, when, before and after); an admin can go back to the defaults.
An anonymous caller changes nothing, so kunde-blokkerer keeps blocking."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import aiosmtplib
import pytest
import sqlalchemy as sa

from maildiag.db import create_engine
from maildiag.sink.records import audit_entries, save_policy
from smtp_sink import ConfigError, Policy
from tests.maildiag.conftest import LabFiles
from tests.maildiag.sink_lab import BEARER, Lab, lab_sink, sign_in_as, sink_client

PLATFORM = "do.not.reply@platform.visma.com"


async def _blocked(lab: Lab, domain: str = "kunde-blokkerer.example") -> bool:
    """Whether the sink refuses a platform.visma.com sender for kari@<domain>."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=lab.sink.port, start_tls=False)
    async with smtp:
        try:
            await smtp.sendmail(PLATFORM, [f"kari@{domain}"], b"Subject: x\r\n\r\nx\r\n")
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPRecipientsRefused):
            return True
    return False


def _audit(lab: Lab) -> list:
    engine = create_engine(lab.settings.database)
    try:
        return list(reversed(audit_entries(engine)))
    finally:
        engine.dispose()


async def test_changes_outlast_a_restart_and_are_audited(
    lab_files: LabFiles, tmp_path: Path
) -> None:
    data, keys, zone = lab_files
    async with lab_sink(data, keys, zone, tmp_path, sink_judge=False) as lab:
        address, session = sign_in_as(lab, "admin")
        async with sink_client(lab, cookies={"maildiag_session": session}) as admin:
            put = await admin.put(
                "/api/v1/sink/policies/domains/Kunde-OK.example.", json={"action": "greylist"}
            )
            assert put.status_code == 200
            gone = await admin.delete("/api/v1/sink/policies/domains/kunde-blokkerer.example")
            assert gone.json() == {"removed": True}
            again = await admin.delete("/api/v1/sink/policies/domains/kunde-blokkerer.example")
            assert again.json() == {"removed": False}
        assert not await _blocked(lab)
        entries = _audit(lab)
    assert [(e.actor, e.action, e.target) for e in entries] == [
        (address, "policy.set", "domains/kunde-ok.example"),
        (address, "policy.removed", "domains/kunde-blokkerer.example"),
    ]
    assert entries[0].before["action"] == "accept"
    assert entries[0].after["action"] == "greylist"
    assert entries[1].before["reply"] == "550 5.7.1 Sender blocked by recipient policy"
    assert entries[1].after is None
    async with lab_sink(data, keys, zone, tmp_path, sink_judge=False) as restarted:
        book = restarted.sink.policies
        assert book.for_domain("kunde-ok.example").action == "greylist"
        assert "kunde-blokkerer.example" not in book.domains  # still removed
        assert book.for_domain("kunde-greylist.example").action == "greylist"  # a default
        assert not await _blocked(restarted)
        assert restarted.sink.defaults.for_domain("kunde-blokkerer.example").reply.code == 550


async def test_replace_all_and_back_to_the_defaults(lab_files: LabFiles, tmp_path: Path) -> None:
    data, keys, zone = lab_files
    async with (
        lab_sink(data, keys, zone, tmp_path, sink_judge=False) as lab,
        sink_client(lab, headers=BEARER) as admin,
    ):
        replaced = await admin.put("/api/v1/sink/policies", json={"default": {"delay": 1}})
        assert replaced.json()["domains"] == {}
    async with lab_sink(data, keys, zone, tmp_path, sink_judge=False) as lab:
        assert lab.sink.policies.domains == {}
        assert lab.sink.policies.default.delay == 1
        assert not await _blocked(lab)
        async with sink_client(lab, headers=BEARER) as admin:
            back = await admin.post("/api/v1/sink/policies/reset")
        assert back.status_code == 200
        assert back.json()["domains"]["kunde-blokkerer.example"]["reply"].startswith("550 5.7.1")
        assert await _blocked(lab)
        actions = [(e.actor, e.action) for e in _audit(lab)]
    assert actions == [
        ("sink-api-token", "policies.replaced"),
        ("sink-api-token", "policies.reset"),
    ]
    async with lab_sink(data, keys, zone, tmp_path, sink_judge=False) as lab:
        assert lab.sink.policies.as_json() == lab.sink.defaults.as_json()
        assert await _blocked(lab)


async def test_anonymous_and_support_callers_change_nothing(plain_lab: Lab) -> None:
    before = plain_lab.sink.policies.as_json()
    wipe = {"default": {"action": "accept"}}
    async with sink_client(plain_lab) as anonymous:
        assert (await anonymous.put("/api/v1/sink/policies", json=wipe)).status_code == 401
        assert (await anonymous.post("/api/v1/sink/policies/reset")).status_code == 401
    async with sink_client(plain_lab, role="support") as support:
        assert (await support.put("/api/v1/sink/policies", json=wipe)).status_code == 403
        assert (await support.post("/api/v1/sink/policies/reset")).status_code == 403
    assert plain_lab.sink.policies.as_json() == before
    assert await _blocked(plain_lab)
    assert _audit(plain_lab) == []


async def test_a_change_that_cannot_be_kept_is_not_made(plain_lab: Lab) -> None:
    before = plain_lab.sink.policies.as_json()
    engine = create_engine(plain_lab.settings.database)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE sink_audit"))
    engine.dispose()
    async with sink_client(plain_lab, headers=BEARER) as admin:
        put = await admin.put(
            "/api/v1/sink/policies/domains/kunde-ok.example", json={"action": "reject"}
        )
        wipe = await admin.put("/api/v1/sink/policies", json={})
    assert put.status_code == wipe.status_code == 503
    assert plain_lab.sink.policies.as_json() == before


async def test_a_kept_policy_that_no_longer_parses_stops_the_start(
    lab_files: LabFiles, tmp_path: Path
) -> None:
    data, keys, zone = lab_files
    async with lab_sink(data, keys, zone, tmp_path, sink_judge=False) as lab:
        engine = create_engine(lab.settings.database)
    await asyncio.to_thread(
        save_policy,
        engine,
        actor="test",
        kind="domains",
        name="x.example",
        before=None,
        after=Policy(delay=10_000.0),  # beyond today's bound
        now=dt.datetime.now(dt.UTC),
    )
    engine.dispose()
    with pytest.raises(ConfigError, match=r"domains\.x\.example\.delay"):
        async with lab_sink(data, keys, zone, tmp_path, sink_judge=False):
            pass
