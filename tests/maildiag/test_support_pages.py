"""The support console in process on the lab: login and role checks, the account facts, the
reset requests and delivery log, the support checklist with pasted headers, the exports, and
the test sends when a judging sink runs in the app's process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator

import httpx
import markupsafe
import pytest
import pytest_asyncio

import reset
from maildiag.sink.service import SinkHandle
from maildiag.web import i18n
from maildiag.web.routes import support_pages
from tests.maildiag.test_check_pages import (
    INBOX,
    attached_sink,
    closed_port,
    judging_sink,
    rows_of_testsend,
)
from tests.maildiag.test_checklist_api import (
    SENDERS,
    Lab,
    LabFiles,
    after_first_lookup,
    make_lab_files,
    open_lab,
)

HOSTILE = "<script>alert('x')</script>"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("support-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_lab(
    lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("support-app")) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="module")
async def lab(shared_lab: Lab) -> Lab:
    await shared_lab.fresh()
    return shared_lab


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sink(shared_lab: Lab) -> AsyncIterator[SinkHandle]:
    async with judging_sink(shared_lab) as handle:
        yield handle


@pytest.fixture
def support(lab: Lab) -> Lab:
    lab.login("support@visma.example")
    return lab


def _history(lab: Lab, address: str) -> int:
    """A reset request for ``address`` that the relay refused, then one that a DSN bounced."""
    now = dt.datetime.now(dt.UTC)
    with lab.sessions() as session, session.begin():
        first = reset.enqueue(
            session, kind="reset_request", recipient=address, now=now - dt.timedelta(hours=2)
        )
        reply = reset.SmtpReply(550, "sender blocked by policy", "5.7.1", None, "mail")
        reset.record_attempt(
            session,
            first.id,
            reply,
            relay="127.0.0.1:2525",
            now=now - dt.timedelta(hours=2),
            retry=reset.RetryPolicy(),
        )
        second = reset.enqueue(session, kind="reset_request", recipient=address, now=now)
        reset.record_bounce(session, second.id, "5.2.2", "mailbox full", now=now)
        return int(second.id)


async def test_unauthenticated_is_sent_to_login(lab: Lab) -> None:
    response = await lab.client.get(
        "/support", params={"address": "kari@kunde-ok.example"}, follow_redirects=False
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login?next=")
    assert "%2Fsupport%3Faddress%3Dkari%2540kunde-ok.example" in location


async def test_wrong_role_is_403_page(lab: Lab) -> None:
    lab.login("kari@kunde-ok.example")
    response = await lab.client.get("/support")
    assert response.status_code == 403
    assert "support" in response.text
    assert "<html" in response.text


async def test_post_without_login_is_redirected(lab: Lab) -> None:
    token = await lab.csrf("/help/no-email")
    response = await lab.client.post(
        "/support/checklist",
        data={"csrf_token": token, "address": "kari@kunde-ok.example"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fsupport"


@pytest.mark.parametrize("who", ["support@visma.example", "admin@visma.example"])
async def test_support_and_admin_may_look_up(lab: Lab, who: str) -> None:
    lab.login(who)
    response = await lab.client.get("/support", params={"address": "kari@kunde-ok.example"})
    assert response.status_code == 200
    assert 'id="account-exists"' in response.text
    assert "kari@kunde-ok.example" in response.text


async def test_console_without_address_shows_the_search(support: Lab) -> None:
    response = await support.client.get("/support")
    assert response.status_code == 200
    assert 'name="address"' in response.text
    assert 'id="account-exists"' not in response.text
    assert "support@visma.example" in response.text  # who is signed in


async def test_lookup_shows_resets_and_delivery_log(support: Lab) -> None:
    outbox_id = _history(support, "kari@kunde-ok.example")
    response = await support.client.get("/support", params={"address": "KARI@kunde-ok.example"})
    assert response.status_code == 200
    text = response.text
    assert "5.7.1" in text
    assert "sender blocked by policy" in text
    assert "5.2.2" in text
    assert "mailbox full" in text
    assert f"<td>{outbox_id}</td>" in text
    assert "kom i retur" in text  # the outbox status in words, in nb (not "bounced")
    assert response.headers["cache-control"] == "no-store"


def _interrupted(lab: Lab, address: str) -> int:
    """A reset request whose worker died during the send, claimed again after its lease."""
    now = dt.datetime.now(dt.UTC)
    lease = dt.timedelta(minutes=1)
    with lab.sessions() as session, session.begin():
        row = reset.enqueue(session, kind="reset_request", recipient=address, now=now)
        reset.claim_batch(session, 1, now, lease=lease, owner="worker-a:41/0a1b2c")
        assert reset.begin_attempt(session, row.id, "worker-a:41/0a1b2c", now=now, lease=lease)
    with lab.sessions() as session, session.begin():
        [again] = reset.claim_batch(session, 1, now + 2 * lease, lease=lease)
        return int(again.id)


@pytest.mark.parametrize("lang", ["nb", "en"])
async def test_an_interrupted_attempt_is_explained_in_the_delivery_log(
    support: Lab, lang: str
) -> None:
    outbox_id = _interrupted(support, "kari@kunde-ok.example")
    params = {"address": "kari@kunde-ok.example", "lang": lang}
    response = await support.client.get("/support", params=params)
    assert response.status_code == 200
    marked = response.text.split('class="severity-warning interrupted"')[1:]
    [entry] = [r.split("</tr>")[0] for r in marked if f"<td>{outbox_id}</td>" in r]
    assert "worker-a:41/0a1b2c" in entry  # the evidence: which worker's attempt it was
    note = response.text.split(entry, 1)[1].split("</tr>")[1]  # the row after the entry
    assert 'class="severity-warning interrupted-note"' in note
    assert str(markupsafe.escape(i18n.text("support.attempt_interrupted", lang))) in note


async def test_lookup_shows_the_account_row(support: Lab) -> None:
    async def info() -> str:
        response = await support.client.get(
            "/support", params={"address": "kari@kunde-ok.example", "lang": "en"}
        )
        return response.text.split('class="account-info"')[1].split("</dl>")[0]

    def sessions(text: str) -> int:
        return int(text.split("Open sessions</dt><dd>")[1].split("<")[0])

    before = await info()
    assert "<dd>user</dd>" in before
    assert "<dd>nb</dd>" in before
    support.login("kari@kunde-ok.example")  # one more open session for kari
    support.login("support@visma.example")
    assert sessions(await info()) == sessions(before) + 1
    unknown = await support.client.get("/support", params={"address": "nobody@kunde-ok.example"})
    assert 'class="account-info"' not in unknown.text


async def test_lookup_of_unknown_address(support: Lab) -> None:
    known = await support.client.get("/support", params={"address": "kari@kunde-ok.example"})
    unknown = await support.client.get("/support", params={"address": "nobody@kunde-ok.example"})
    assert known.status_code == unknown.status_code == 200
    assert "severity-ok" in known.text.split('id="account-exists"')[0].rsplit("<p", 1)[1]
    assert "severity-error" in unknown.text.split('id="account-exists"')[0].rsplit("<p", 1)[1]


@pytest.mark.parametrize("address", ["nope", "x" * 300, f"{HOSTILE}@kunde-ok.example"])
async def test_lookup_bad_address_is_400(support: Lab, address: str) -> None:
    response = await support.client.get("/support", params={"address": address})
    assert response.status_code == 400
    assert HOSTILE not in response.text


async def _run(lab: Lab, **fields: str) -> httpx.Response:
    token = await lab.csrf("/support?address=kari%40kunde-ok.example")
    data = {"csrf_token": token, "address": "kari@kunde-ok.example", **fields}
    return await lab.client.post("/support/checklist", data=data)


async def test_run_support_checklist(support: Lab) -> None:
    _history(support, "kari@kunde-ok.example")
    response = await _run(support)
    assert response.status_code == 200, response.text
    for key in ("address.registered", "reset.requested", "delivery.sent", "link.valid"):
        assert key in response.text


async def test_the_account_is_read_while_the_lookups_are_in_flight(
    support: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await support.csrf("/support?address=kari%40kunde-ok.example")
    delayed = after_first_lookup(support, monkeypatch, support_pages._lookup)
    monkeypatch.setattr(support_pages, "_lookup", delayed)
    data = {"csrf_token": token, "address": "kari@kunde-ok.example"}
    response = await support.client.post("/support/checklist", data=data)
    assert response.status_code == 200, response.text
    assert "address.registered" in response.text


async def test_pasted_header_is_escaped(support: Lab) -> None:
    headers = f"Subject: {HOSTILE}\r\nX-Spam-Flag: YES\r\nX-Evil: {HOSTILE}\r\n"
    response = await _run(support, headers=headers, bounce=f"550 5.7.1 {HOSTILE}")
    assert response.status_code == 200
    assert HOSTILE not in response.text
    assert "&lt;script&gt;" in response.text


async def test_paste_too_long_is_refused(support: Lab) -> None:
    response = await _run(support, headers="X-A: " + "a" * 50_000)
    assert response.status_code in (400, 413)
    assert 'role="alert"' in response.text or "larger than" in response.text


async def test_run_needs_csrf(support: Lab) -> None:
    await support.client.get("/support")
    response = await support.client.post(
        "/support/checklist", data={"address": "kari@kunde-ok.example"}
    )
    assert response.status_code == 403


async def test_unknown_format_is_400(support: Lab) -> None:
    response = await _run(support, format="exe")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("fmt", "media", "suffix"),
    [
        ("html", "text/html", "html"),
        ("markdown", "text/markdown", "md"),
        ("json", "application/json", "json"),
    ],
)
async def test_exports_are_downloads(support: Lab, fmt: str, media: str, suffix: str) -> None:
    response = await _run(support, format=fmt, headers=f"Subject: {HOSTILE}\r\n")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="checklist-kari_at_kunde-ok.example.{suffix}"'
    assert HOSTILE not in response.text or fmt != "html"
    if fmt == "json":
        data = json.loads(response.text)
        assert data["audience"] == "support"
        assert data["address"] == "kari@kunde-ok.example"
        assert {i["key"] for i in data["items"]} >= {"address.registered", "delivery.sent"}
    if fmt == "html":
        assert response.text.lstrip().lower().startswith("<!doctype html")


async def test_no_test_send_section_without_a_sink(support: Lab) -> None:
    response = await _run(support)
    assert response.status_code == 200, response.text
    assert "testsend-result" not in response.text


async def test_test_send_section_for_both_identities(support: Lab, sink: SinkHandle) -> None:
    support.client.cookies.set("lang", "en")
    with attached_sink(support, sink):
        response = await _run(support)
    assert response.status_code == 200, response.text
    rows = rows_of_testsend(response.text)
    assert set(rows) == set(SENDERS)
    for row in rows.values():
        assert row == ("kari@kunde-ok.example", "pass", "pass", "pass", INBOX)


async def test_sender_item_carries_the_test_sends(support: Lab, sink: SinkHandle) -> None:
    with attached_sink(support, sink):
        response = await _run(support, format="json")
    assert response.status_code == 200, response.text
    item = next(i for i in response.json()["items"] if i["key"] == "sender.authentication")
    assert item["status"] == "ok"
    sends = item["evidence"]["test_sends"]
    assert sorted(s["identity"] for s in sends) == sorted(SENDERS)
    for send in sends:
        verdict = (send["spf"], send["dkim"], send["dmarc"], send["folder"])
        assert verdict == ("pass", "pass", "pass", "inbox")
        assert send["would_reach_inbox"] is True
        assert send["to"] == "kari@kunde-ok.example"


async def test_unreachable_sink_is_a_note_not_a_500(support: Lab, sink: SinkHandle) -> None:
    gone = dataclasses.replace(sink, proxy_port=closed_port())
    with attached_sink(support, gone):
        response = await _run(support)
    assert response.status_code == 200, response.text
    section = response.text.split('class="testsend-result"')[1].split("</section>")[0]
    assert 'id="testsend-note"' in section
    assert "address.registered" in response.text
