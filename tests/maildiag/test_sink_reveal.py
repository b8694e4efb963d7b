"""Reset links in the sink's pages and API: masked for support in every view (API JSON and
raw, the message page, its HTML part, its raw download, the list); an admin or the token sees
them, and each such view is written to the audit trail; nothing of them reaches the logs."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re

import aiosmtplib
import httpx
import pytest

from maildiag.db import create_engine
from maildiag.sink.records import AuditEntry, audit_entries
from maildiag.web.auth import SESSION_COOKIE
from tests.maildiag.sink_lab import (
    BEARER,
    RESET_TOKEN,
    SINK_TOKEN,
    Lab,
    reset_mail,
    sign_in_as,
    sink_client,
)

KARI = "kari@kunde-ok.example"
SENDER = "bounce+7@platform.visma.com"
VIEWS = (
    "/api/v1/sink/messages/{id}",
    "/api/v1/sink/messages/{id}/raw",
    "/sink/messages/{id}",
    "/sink/messages/{id}/html",
    "/sink/messages/{id}/raw",
)


def readable(data: bytes) -> str:
    """The response as plainly as it can be read: soft line breaks undone, parts decoded."""
    text = re.sub(rb"=\r?\n", b"", data).decode("latin-1").replace("=3D", "=")
    message = email.message_from_bytes(data, policy=email.policy.default)
    parts = [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]
    return text + "".join(p.decode("utf-8", "replace") for p in parts if isinstance(p, bytes))


async def deliver(lab: Lab) -> int:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=lab.sink.port, start_tls=False) as smtp:
        await smtp.sendmail(SENDER, [KARI], reset_mail())
    [message] = await asyncio.to_thread(lab.sink.store.list, to=KARI)
    assert message.id is not None
    return message.id


def audit(lab: Lab) -> list[AuditEntry]:
    engine = create_engine(lab.settings.database)
    try:
        return audit_entries(engine)
    finally:
        engine.dispose()


async def test_support_sees_every_view_masked_and_nothing_is_recorded(plain_lab: Lab) -> None:
    message_id = await deliver(plain_lab)
    async with sink_client(plain_lab, role="support") as client:
        responses = [await client.get(v.format(id=message_id)) for v in VIEWS]
        listed = await client.get("/api/v1/sink/messages", params={"to": KARI})
        page = await client.get("/sink", params={"to": KARI})
    for view, response in zip(VIEWS, responses, strict=True):
        assert response.status_code == 200, view
        assert RESET_TOKEN not in readable(response.content), view
        assert RESET_TOKEN[:16] not in readable(response.content), view
    detail, raw, message_page, html, download = responses
    assert detail.json()["reset_links"] == {"found": 2, "masked": True}
    assert raw.headers["x-reset-links-masked"] == "2"
    assert "reset-password?token=REDACTED" in readable(raw.content)
    assert "reset-password?token=REDACTED" in message_page.text
    assert 'class="notice masked"' in message_page.text
    assert "reset-password?token=REDACTED" in html.text
    assert "reset-password?token=REDACTED" in readable(download.content)
    assert RESET_TOKEN not in listed.text + page.text
    assert audit(plain_lab) == []


async def test_an_admin_sees_the_links_and_every_view_is_recorded(plain_lab: Lab) -> None:
    message_id = await deliver(plain_lab)
    address, session = sign_in_as(plain_lab, "admin")
    cookies = {"maildiag_session": session}
    async with sink_client(plain_lab, cookies=cookies) as client:
        responses = [await client.get(v.format(id=message_id)) for v in VIEWS]
    detail, raw, message_page, html, download = responses
    assert detail.json()["reset_links"] == {"found": 2, "masked": False}
    assert "x-reset-links-masked" not in raw.headers
    stored = await asyncio.to_thread(plain_lab.sink.store.get, message_id)
    assert raw.content == stored.delivered_bytes  # the exact bytes
    assert f"reset-password?token={RESET_TOKEN}" in readable(raw.content)
    assert f"reset-password?token={RESET_TOKEN}" in message_page.text
    assert 'class="notice revealed"' in message_page.text
    assert RESET_TOKEN in html.text
    assert RESET_TOKEN in readable(download.content)
    entries = audit(plain_lab)
    assert [e.target for e in reversed(entries)] == [
        "api.message",
        "api.raw",
        "page.message",
        "page.html",
        "page.raw",
    ]
    for entry in entries:
        assert (entry.actor, entry.action, entry.message_id) == (
            address,
            "message.unmasked",
            message_id,
        )
        assert entry.after == {"links": 2}
        assert entry.at.tzinfo is not None


async def test_the_token_is_recorded_as_the_token(plain_lab: Lab) -> None:
    message_id = await deliver(plain_lab)
    async with sink_client(plain_lab, headers=BEARER) as client:
        raw = await client.get(f"/api/v1/sink/messages/{message_id}/raw")
    assert RESET_TOKEN in readable(raw.content)
    [entry] = audit(plain_lab)
    assert (entry.actor, entry.target) == ("sink-api-token", "api.raw")


async def test_a_message_without_links_is_not_recorded(plain_lab: Lab) -> None:
    plain = b"From: a@b.example\r\nTo: kari@kunde-ok.example\r\nSubject: hei\r\n\r\nhei\r\n"
    async with aiosmtplib.SMTP(
        hostname="127.0.0.1", port=plain_lab.sink.port, start_tls=False
    ) as smtp:
        await smtp.sendmail("a@b.example", [KARI], plain)
    async with sink_client(plain_lab, headers=BEARER) as client:
        [summary] = (await client.get("/api/v1/sink/messages")).json()["messages"]
        detail = await client.get(f"/api/v1/sink/messages/{summary['id']}")
    assert detail.json()["reset_links"] == {"found": 0, "masked": False}
    assert audit(plain_lab) == []


async def test_a_message_that_cannot_be_masked_is_refused_below_admin(plain_lab: Lab) -> None:
    hidden = (
        "From: a@b.example\r\nTo: kari@kunde-ok.example\r\nSubject: hei\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"https://konto.example.no/reset-pass=\r\nword?token=3D{RESET_TOKEN}\r\n"
    ).encode()
    async with aiosmtplib.SMTP(
        hostname="127.0.0.1", port=plain_lab.sink.port, start_tls=False
    ) as smtp:
        await smtp.sendmail("a@b.example", [KARI], hidden)
    [message] = await asyncio.to_thread(plain_lab.sink.store.list, to=KARI)
    async with sink_client(plain_lab, role="support") as client:
        for view in VIEWS:
            response = await client.get(view.format(id=message.id))
            assert response.status_code == 403, view
            assert RESET_TOKEN not in response.text


async def test_no_reset_token_api_token_or_body_reaches_the_logs(
    plain_lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    message_id = await deliver(plain_lab)
    async with sink_client(plain_lab, role="support") as support:
        for view in VIEWS:
            await support.get(view.format(id=message_id))
    async with sink_client(plain_lab, headers=BEARER) as admin:
        for view in VIEWS:
            await admin.get(view.format(id=message_id))
    async with sink_client(plain_lab, sink_only=True) as browser:
        form = await browser.get("/sink/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        for token in ("wrong-token-" + SINK_TOKEN, SINK_TOKEN):
            await browser.post("/sink/login", data={"csrf_token": csrf[1], "token": token})
    wrong = {"Authorization": f"Bearer {SINK_TOKEN}-wrong"}
    async with sink_client(plain_lab, headers=wrong) as client:
        assert (await client.get("/api/v1/sink/messages")).status_code == 401
    logged = caplog.text
    assert "sink.unmasked_view" in logged  # the views were logged, by id
    assert RESET_TOKEN not in logged
    assert RESET_TOKEN[:12] not in logged
    assert SINK_TOKEN[:20] not in logged
    assert "passordet for" not in logged  # the body's text


async def test_a_view_made_for_an_admin_is_never_served_below_admin(plain_lab: Lab) -> None:
    """The views are cached per message: the admin's unmasked form and the masked form are
    kept apart, whichever is made first."""
    message_id = await deliver(plain_lab)
    async with sink_client(plain_lab, role="admin") as client:
        admin_first = [await client.get(v.format(id=message_id)) for v in VIEWS]
        client.cookies.set(SESSION_COOKIE, sign_in_as(plain_lab, "support")[1])
        support_then = [await client.get(v.format(id=message_id)) for v in VIEWS]
        client.cookies.set(SESSION_COOKIE, sign_in_as(plain_lab, "admin")[1])
        admin_again = [await client.get(v.format(id=message_id)) for v in VIEWS]
    for view, first, then, again in zip(VIEWS, admin_first, support_then, admin_again, strict=True):
        assert (first.status_code, then.status_code, again.status_code) == (200, 200, 200), view
        assert (shows_links(first), shows_links(then), shows_links(again)) == (True, False, True)


def shows_links(response: httpx.Response) -> bool:
    """Whether a view shows the reset link (the API's JSON says; it holds no body)."""
    if response.headers["content-type"].startswith("application/json"):
        return response.json()["reset_links"]["masked"] is False
    return RESET_TOKEN in readable(response.content)
