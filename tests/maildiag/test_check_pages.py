"""The mail administrator's page /check in process on the lab: the recipient and sender
evidence, the allowlisting steps, RCPT only for admins, bad input, the rate limit, and the test
sends when a judging sink runs in the app's process (``attached_sink``, shared with the support
console's tests)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

import reports
from diag.dmarc import default_psl
from diag.resolver import DnsPythonResolver
from maildiag.db import create_engine
from maildiag.services.checklist import admin_check, lab_test_sends
from maildiag.sink.service import SinkHandle, run_sink
from maildiag.web import create_app
from tests.maildiag.test_checklist_api import SENDERS, Lab, LabFiles, make_lab_files, open_lab

INBOX = reports.testsend_view([], lang="en").labels["folder.inbox"]
_ROW = re.compile(
    r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>"
    r"<td>([^< ]+) \(p=[a-z]+\)</td><td>([^<]+)</td>"
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("check-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_lab(
    lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("check-app")) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="module")
async def lab(shared_lab: Lab) -> Lab:
    await shared_lab.fresh()
    return shared_lab


@contextlib.asynccontextmanager
async def judging_sink(lab: Lab) -> AsyncIterator[SinkHandle]:
    """A second sink beside the lab's: it judges (SPF, DKIM, DMARC through the lab DNS, on the
    event loop) and listens for PROXY connections, as ``maildiag serve --lab`` runs it."""
    settings = lab.settings.model_copy(
        update={"sink_judge": True, "sink_judge_processes": 0, "smtp_port": 0, "sink_proxy_port": 0}
    )
    nameservers = list(settings.nameservers)
    engine = create_engine(settings.database)
    try:
        async with run_sink(
            settings, engine, resolver_factory=lambda: DnsPythonResolver(nameservers, timeout=2.0)
        ) as handle:
            yield handle
    finally:
        engine.dispose()


@contextlib.contextmanager
def attached_sink(lab: Lab, sink: SinkHandle) -> Iterator[None]:
    """The app sees ``sink`` as the sink running in its process, for one test."""
    state = lab.app.state.maildiag
    state.sink = sink
    try:
        yield
    finally:
        state.sink = None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rows_of_testsend(html: str) -> dict[str, tuple[str, ...]]:
    """identity -> (to, spf, dkim, dmarc, folder label) from the page's test-send section."""
    section = html.split('class="testsend-result"')[1].split("</section>")[0]
    return {m.group(1): m.groups()[1:] for m in _ROW.finditer(section)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sink(shared_lab: Lab) -> AsyncIterator[SinkHandle]:
    async with judging_sink(shared_lab) as handle:
        yield handle


async def test_form_names_both_senders(lab: Lab) -> None:
    response = await lab.client.get("/check")
    assert response.status_code == 200
    assert all(sender in response.text for sender in SENDERS)
    assert 'name="domain"' in response.text


async def test_blocking_domain(lab: Lab) -> None:
    lab.login("admin@visma.example")  # the SMTP probe needs an admin
    response = await lab.client.get("/check", params={"domain": "kunde-blokkerer.example"})
    assert response.status_code == 200, response.text
    text = response.text
    assert "550" in text
    assert "5.7.1" in text
    assert "recipient.blocks_sender" in text
    assert all(sender in text for sender in SENDERS)


async def test_sender_evidence_for_both_identities(lab: Lab) -> None:
    response = await lab.client.get("/check", params={"domain": "kunde-ok.example"})
    assert response.status_code == 200
    evidence = response.text.split('class="sender-report"')[1].split("</section>")[0]
    for code in ("sender.spf_pass", "dkim.key_ok", "dmarc.policy_ok"):
        assert evidence.count(f"<code>{code}</code>") == 2, code
    assert all(sender in evidence for sender in SENDERS)
    assert "legacy.visma.example" not in evidence


async def test_null_mx_domain(lab: Lab) -> None:
    response = await lab.client.get("/check", params={"domain": "kunde-nullmx.example"})
    assert response.status_code == 200
    assert "recipient.can_receive" in response.text


async def test_domain_check_sends_no_rcpt(lab: Lab) -> None:
    lab.login("admin@visma.example")  # the SMTP probe needs an admin
    response = await lab.client.get("/check", params={"domain": "kunde-ukjent.example"})
    assert response.status_code == 200
    assert "MAIL FROM:&lt;do.not.reply@platform.visma.com&gt;" in response.text
    assert "RCPT TO" not in response.text
    assert "5.1.1" not in response.text


async def test_address_without_admin_checks_the_domain(lab: Lab) -> None:
    lab.login("support@visma.example")
    response = await lab.client.get("/check", params={"domain": "kari@kunde-ukjent.example"})
    assert response.status_code == 200
    assert 'class="note"' in response.text
    assert "RCPT TO" not in response.text
    assert "5.1.1" not in response.text


async def test_address_with_admin_is_asked_by_rcpt(lab: Lab) -> None:
    lab.login("admin@visma.example")
    response = await lab.client.get("/check", params={"domain": "kari@kunde-ukjent.example"})
    assert response.status_code == 200
    assert 'class="note"' not in response.text
    assert "RCPT TO:&lt;kari@kunde-ukjent.example&gt;" in response.text
    assert "5.1.1" in response.text


@pytest.mark.parametrize(
    "domain", ["localhost", "a..example", "x" * 300, "<script>alert(1)</script>.example", "@x"]
)
async def test_bad_domain_is_400_and_escaped(lab: Lab, domain: str) -> None:
    response = await lab.client.get("/check", params={"domain": domain})
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert "<script>alert(1)" not in response.text


async def test_rate_limited_per_domain(lab_files: LabFiles, tmp_path: Path) -> None:
    async with open_lab(lab_files, tmp_path, rate_limit_per_address="1/minute") as lab:
        params = {"domain": "kunde-nullmx.example"}
        assert (await lab.client.get("/check", params=params)).status_code == 200
        over = await lab.client.get("/check", params={"domain": "KUNDE-NULLMX.example"})
        assert over.status_code == 429
        assert 'role="alert"' in over.text
        assert "retry-after" in over.headers
        other = await lab.client.get("/check", params={"domain": "kunde-ok.example"})
        assert other.status_code == 200


async def test_no_test_send_section_without_a_sink(lab: Lab) -> None:
    response = await lab.client.get("/check", params={"domain": "kunde-ok.example"})
    assert response.status_code == 200
    assert "testsend-result" not in response.text


async def test_test_sends_of_both_identities_reach_the_inbox(lab: Lab, sink: SinkHandle) -> None:
    with attached_sink(lab, sink):
        response = await lab.client.get(
            "/check", params={"domain": "kunde-ok.example", "lang": "en"}
        )
    assert response.status_code == 200, response.text
    rows = rows_of_testsend(response.text)
    assert set(rows) == set(SENDERS)
    for to, spf, dkim, dmarc, folder in rows.values():
        assert (to, spf, dkim, dmarc) == ("postmaster@kunde-ok.example", "pass", "pass", "pass")
        assert folder == INBOX
    assert "legacy.visma.example" not in response.text.split('class="testsend-result"')[1]


async def test_the_page_checklist_holds_the_test_send_evidence(lab: Lab, sink: SinkHandle) -> None:
    state = lab.app.state.maildiag
    with attached_sink(lab, sink):
        result = await admin_check(
            state.settings,
            state.new_resolver(),
            "postmaster@kunde-ok.example",
            rcpt=False,
            test_send=lambda: lab_test_sends(state),
        )
    assert result.test_sends is not None
    assert result.test_sends.error == ""
    item = result.checklist.item("sender.authentication")
    assert item is not None
    assert item.status == "ok"
    sends = item.evidence["test_sends"]
    assert sorted(s["identity"] for s in sends) == sorted(SENDERS)
    for send in sends:
        assert (send["spf"], send["dkim"], send["dmarc"], send["folder"]) == (
            "pass",
            "pass",
            "pass",
            "inbox",
        )
        assert send["would_reach_inbox"] is True


async def test_an_unreachable_sink_becomes_a_note(lab: Lab, sink: SinkHandle) -> None:
    gone = dataclasses.replace(sink, proxy_port=closed_port())
    with attached_sink(lab, gone):
        response = await lab.client.get("/check", params={"domain": "kunde-ok.example"})
    assert response.status_code == 200, response.text
    section = response.text.split('class="testsend-result"')[1].split("</section>")[0]
    assert 'id="testsend-note"' in section
    assert str(gone.proxy_port) in section


async def test_checks_share_the_process_public_suffix_list(
    lab: Lab, psl_builds: list[object]
) -> None:
    state = lab.app.state.maildiag
    await admin_check(state.settings, state.new_resolver(), "kari@kunde-nullmx.example", rcpt=False)
    assert (
        await lab.client.get("/check", params={"domain": "kunde-ok.example"})
    ).status_code == 200
    assert psl_builds == []


async def test_the_app_builds_the_public_suffix_list_at_startup(lab: Lab) -> None:
    app = create_app(lab.settings)
    default_psl.cache_clear()
    async with app.router.lifespan_context(app):
        assert default_psl.cache_info().currsize == 1  # before any request needs it


# --- signed-in staff have limits of their own ------------------------------------------------

_NEXT_AT = {  # the time of the next check as each language's page shows it (Babel, short)
    "nb": re.compile(r"Neste sjekk kan gjøres (\d\d)\.(\d\d)\.(\d{4}), (\d\d):(\d\d) UTC"),
    "en": re.compile(r"The next check is possible at (\d\d)/(\d\d)/(\d{4}), (\d\d):(\d\d) UTC"),
}


def _shown_next_check(html: str, lang: str) -> dt.datetime:
    found = _NEXT_AT[lang].search(html)
    assert found, f"no time for the next check in the {lang} page"
    day, month, year, hour, minute = map(int, found.groups())
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.parametrize("staff", ["admin@visma.example", "support@visma.example"])
async def test_staff_recheck_past_the_self_service_limit(lab: Lab, staff: str) -> None:
    """The defaults: anyone else may check a domain 3 times per 15 minutes, staff more."""
    params = {"domain": "kunde-nullmx.example"}
    for _ in range(3):
        assert (await lab.client.get("/check", params=params)).status_code == 200
    assert (await lab.client.get("/check", params=params)).status_code == 429
    lab.login(staff)
    for _ in range(5):
        assert (await lab.client.get("/check", params=params)).status_code == 200
    api = await lab.client.get("/api/v1/check", params=params)
    assert api.status_code == 200


async def test_a_signed_in_user_keeps_the_self_service_limit(lab: Lab) -> None:
    lab.login("kari@kunde-ok.example")
    params = {"domain": "kunde-nullmx.example"}
    for _ in range(3):
        assert (await lab.client.get("/check", params=params)).status_code == 200
    assert (await lab.client.get("/check", params=params)).status_code == 429


@pytest.mark.parametrize("lang", ["nb", "en"])
async def test_a_refused_staff_check_says_when_the_next_is_possible(
    lab_files: LabFiles, tmp_path: Path, lang: str
) -> None:
    async with open_lab(lab_files, tmp_path, check_limit_staff_per_domain="1/15 minutes") as lab:
        lab.login("admin@visma.example")
        params = {"domain": "kunde-nullmx.example", "lang": lang}
        assert (await lab.client.get("/check", params=params)).status_code == 200
        before = dt.datetime.now(dt.UTC)
        over = await lab.client.get("/check", params=params)
        assert over.status_code == 429
        wait = int(over.headers["retry-after"])
        assert 14 * 60 <= wait <= 15 * 60
        shown = _shown_next_check(over.text, lang)
        assert before + dt.timedelta(seconds=wait - 60) <= shown
        assert shown <= before + dt.timedelta(seconds=wait + 120)
        api = await lab.client.get("/api/v1/check", params=params)
        assert api.status_code == 429
        data = api.json()
        assert data["limited_by"] == "address"
        assert 1 <= int(api.headers["retry-after"]) <= 15 * 60
        at = dt.datetime.fromisoformat(data["next_check_at"])
        assert at.second == 0
        assert dt.timedelta(0) < at - before <= dt.timedelta(minutes=16)
        assert _shown_next_check(data["reason"], lang) == at
        # another domain is still open to this admin, and the domain to everyone else
        other = await lab.client.get("/check", params={"domain": "kunde-ok.example"})
        assert other.status_code == 200
        lab.client.cookies.clear()
        assert (await lab.client.get("/check", params=params)).status_code == 200


async def test_the_per_account_limit_names_the_account(lab_files: LabFiles, tmp_path: Path) -> None:
    async with open_lab(lab_files, tmp_path, check_limit_staff_per_account="2/minute") as lab:
        lab.login("support@visma.example")
        for domain in ("kunde-nullmx.example", "kunde-ok.example"):
            assert (await lab.client.get("/check", params={"domain": domain})).status_code == 200
        params = {"domain": "kunde-spam.example", "lang": "en"}
        over = await lab.client.get("/check", params=params)
        assert over.status_code == 429
        assert "Too many checks from your account." in over.text
        assert (await lab.client.get("/api/v1/check", params=params)).json()[
            "limited_by"
        ] == "account"
