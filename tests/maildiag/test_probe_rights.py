"""Who may make our senders talk SMTP to a recipient's server, and how often: the app on the lab,
with every demo MX on 127.0.0.1 pointed at a real SMTP server on port 0 that records each
connection and command. Anonymous callers get the DNS-only check (no connection at all), the
domain check probes for admins only, RCPT goes only to addresses with an account unless an
admin asks, and one mail server's probes are limited for all users together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from maildiag.web.auth import SESSION_COOKIE
from tests.maildiag.test_checklist_api import Lab, LabFiles, items_of, make_lab_files, open_lab

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOMAIN = "kunde-ok.example"  # its MX, mx.kunde-ok.example, is 127.0.0.1 in the lab zone
KNOWN = f"kari@{DOMAIN}"  # has an account in the lab database
UNKNOWN = f"nobody@{DOMAIN}"


@dataclass
class RecordingMx:
    """A minimal SMTP server: 220, then 250 to everything but QUIT; keeps every command."""

    port: int = 0
    sessions: list[list[str]] = field(default_factory=list)

    @property
    def commands(self) -> list[str]:
        return [command for session in self.sessions for command in session]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen: list[str] = []
        self.sessions.append(seen)
        writer.write(b"220 mx.test ESMTP\r\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while line := await reader.readline():
                command = line.decode("ascii", "replace").strip()
                seen.append(command)
                if command.upper() == "QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    break
                writer.write(b"250 2.0.0 ok\r\n")
                await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def recording_mx() -> AsyncIterator[RecordingMx]:
    mx = RecordingMx()
    server = await asyncio.start_server(mx._serve, "127.0.0.1", 0)
    mx.port = server.sockets[0].getsockname()[1]
    async with server:
        yield mx


@contextlib.contextmanager
def probing_to(lab: Lab, mx: RecordingMx) -> Iterator[None]:
    """The app's probes go to ``mx`` (the lab probes its MX hosts on the SMTP port)."""
    state = lab.app.state.maildiag
    before = state.settings
    state.settings = before.model_copy(update={"smtp_port": mx.port})
    try:
        yield
    finally:
        state.settings = before


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("probe-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_lab(
    lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("probe-app")) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="module")
async def lab(shared_lab: Lab) -> Lab:
    await shared_lab.fresh()
    return shared_lab


@pytest_asyncio.fixture(loop_scope="module")
async def mx(lab: Lab) -> AsyncIterator[RecordingMx]:
    async with recording_mx() as server:
        with probing_to(lab, server):
            yield server


async def _help(lab: Lab, address: str) -> httpx.Response:
    token = await lab.csrf("/help/no-email")
    return await lab.client.post("/help/no-email", data={"csrf_token": token, "address": address})


async def _support_run(lab: Lab, address: str) -> httpx.Response:
    token = await lab.csrf(f"/support?address={address}")
    data = {"csrf_token": token, "address": address, "format": "json"}
    return await lab.client.post("/support/checklist", data=data)


def _checklist(lab: Lab, address: str, audience: str) -> Any:
    body = {"address": address, "audience": audience}
    return lab.client.post("/api/v1/checklist", json=body)


# --- anonymous and non-admin callers: the DNS-only check -------------------------------------


async def test_anonymous_callers_get_the_dns_only_check(lab: Lab, mx: RecordingMx) -> None:
    page = await lab.client.get("/check", params={"domain": DOMAIN, "lang": "en"})
    api = await lab.client.get("/api/v1/check", params={"domain": DOMAIN})
    self_api = await _checklist(lab, KNOWN, "self")
    help_page = await _help(lab, KNOWN)
    assert [r.status_code for r in (page, api, self_api, help_page)] == [200] * 4
    assert mx.sessions == []  # not one SMTP connection
    for data in (api.json(), self_api.json()):
        items = items_of(data)
        assert items["recipient.can_receive"]["status"] == "ok"  # the DNS part ran
        accepted = items["delivery.accepted"]
        assert (accepted["status"], accepted["evidence"]["reason"]) == (
            "not_checked",
            "not_probed",
        )
    note = page.text.split('id="probe-note"')[1].split("</p>")[0]
    assert "runs only for a signed-in admin" in note
    assert 'href="/login?next=/check%3Fdomain%3Dkunde-ok.example"' in note
    assert "MAIL FROM" not in page.text


@pytest.mark.parametrize("who", ["kari@kunde-ok.example", "support@visma.example"])
async def test_the_domain_check_probes_for_admins_only(lab: Lab, mx: RecordingMx, who: str) -> None:
    lab.login(who)
    page = await lab.client.get("/check", params={"domain": DOMAIN})
    api = await lab.client.get("/api/v1/check", params={"domain": DOMAIN})
    assert (page.status_code, api.status_code) == (200, 200)
    assert 'id="probe-note"' in page.text
    assert mx.sessions == []


async def test_the_page_says_in_both_languages_that_the_probe_needs_an_admin(lab: Lab) -> None:
    nb = await lab.client.get("/check", params={"lang": "nb"})
    en = await lab.client.get("/check", params={"lang": "en"})
    assert "administrator" in nb.text.split('id="probe-note"')[1].split("</p>")[0]
    assert "admin" in en.text.split('id="probe-note"')[1].split("</p>")[0]
    lab.login("admin@visma.example")
    assert 'id="probe-note"' not in (await lab.client.get("/check")).text


async def test_a_signed_in_admin_gets_the_probe_without_rcpt(lab: Lab, mx: RecordingMx) -> None:
    lab.login("admin@visma.example")
    page = await lab.client.get("/check", params={"domain": DOMAIN})
    api = await lab.client.get("/api/v1/check", params={"domain": DOMAIN})
    assert (page.status_code, api.status_code) == (200, 200)
    assert len(mx.sessions) == 2
    mail_from = [c for c in mx.commands if c.upper().startswith("MAIL FROM")]
    assert sorted({c.split(":", 1)[1].split()[0] for c in mail_from}) == [
        "<do.not.reply@connect.visma.com>",
        "<do.not.reply@platform.visma.com>",
    ]
    assert not [c for c in mx.commands if c.upper().startswith("RCPT")]
    assert items_of(api.json())["delivery.accepted"]["status"] == "ok"


# --- RCPT only to addresses with an account, or for admins ----------------------------------


def _rcpts(mx: RecordingMx) -> list[str]:
    return [c.split(":", 1)[1].strip() for c in mx.commands if c.upper().startswith("RCPT TO")]


async def test_support_rcpt_probes_only_addresses_with_an_account(
    lab: Lab, mx: RecordingMx
) -> None:
    lab.login("support@visma.example")
    for address in (KNOWN, UNKNOWN):
        assert (await _support_run(lab, address)).status_code == 200
        assert (await _checklist(lab, address, "support")).status_code == 200
    assert len(mx.sessions) == 4  # MAIL FROM for each run
    assert set(_rcpts(mx)) == {f"<{KNOWN}>"}
    assert len(_rcpts(mx)) == 2 * 2  # the console and the API, each once per sender


async def test_an_admin_may_rcpt_probe_any_address(lab: Lab, mx: RecordingMx) -> None:
    lab.login("admin@visma.example")
    assert (await _support_run(lab, UNKNOWN)).status_code == 200
    assert (await _checklist(lab, UNKNOWN, "support")).status_code == 200
    assert (await _checklist(lab, UNKNOWN, "admin")).status_code == 200
    page = await lab.client.get("/check", params={"domain": UNKNOWN})
    assert page.status_code == 200
    assert set(_rcpts(mx)) == {f"<{UNKNOWN}>"}
    assert len(mx.sessions) == 4


# --- one limit per mail server, for all users together ----------------------------------------


async def test_probes_of_one_mail_server_are_limited_across_users(
    lab_files: LabFiles, tmp_path: Path
) -> None:
    async with (
        open_lab(lab_files, tmp_path, probe_limit_per_target="2/hour") as lab,
        recording_mx() as mx,
    ):
        with probing_to(lab, mx):
            lab.login("admin@visma.example")
            assert (await lab.client.get("/api/v1/check", params={"domain": DOMAIN})).is_success
            lab.client.cookies.clear()
            lab.login("support@visma.example")
            assert (await _support_run(lab, KNOWN)).status_code == 200
            assert len(mx.sessions) == 2
            # a third probe, by another admin from another address, of another domain
            # whose MX host is another name for the same server (127.0.0.1)
            admin_cookie = await _session_cookie(lab, "admin@visma.example")
            transport = httpx.ASGITransport(app=lab.app, client=("198.51.100.99", 50000))
            async with httpx.AsyncClient(
                transport=transport, base_url=lab.settings.public_base_url, cookies=admin_cookie
            ) as other:
                api = await other.get("/api/v1/check", params={"domain": "kunde-spam.example"})
                page = await other.get(
                    "/check", params={"domain": "kunde-spam.example", "lang": "en"}
                )
            assert len(mx.sessions) == 2  # held back: no third connection
            accepted = items_of(api.json())["delivery.accepted"]
            assert (accepted["status"], accepted["evidence"]["reason"]) == (
                "not_checked",
                "rate_limited",
            )
            note = page.text.split('id="probe-note"')[1].split("</p>")[0]
            assert "Try again in a few minutes" in note


async def _session_cookie(lab: Lab, address: str) -> dict[str, str]:
    lab.client.cookies.clear()
    lab.login(address)
    value = lab.client.cookies[SESSION_COOKIE]
    lab.client.cookies.clear()
    return {SESSION_COOKIE: value}
