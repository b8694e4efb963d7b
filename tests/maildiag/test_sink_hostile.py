"""Crafted mail through the real sink and the sink's pages and API (httpx.ASGITransport, the
sink on port 0 in the same loop): MIME nested too deep, HTML nested too deep, the cache of
views, and the HTML nesting count."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest

from maildiag.lab.kit import prepare_lab
from maildiag.web import create_app
from maildiag.web.routes.sink_pages import HTML_PART_CSP
from maildiag.web.sink_render import MAX_HTML_DEPTH, MessageViews, html_depth, safe_html
from smtp_sink import CapturedMessage
from tests.hostile_mail import KARI, SENDER, deep_html, nested_multipart
from tests.maildiag.sink_lab import BEARER, Lab, lab_sink, make_message


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The lab's keys and zone, made once for the module."""
    data = tmp_path_factory.mktemp("lab")
    return data, prepare_lab(data)


@pytest.fixture
async def sink(
    lab_files: tuple[Path, Any], tmp_path: Path
) -> AsyncIterator[tuple[Lab, httpx.AsyncClient]]:
    """The sink on port 0 judging through the lab's DNS, and the app over it, in process,
    read with the sink's API token (the admin's view: nothing masked)."""
    data, (keys, zone) = lab_files
    async with lab_sink(data, keys, zone, tmp_path) as lab:
        transport = httpx.ASGITransport(app=create_app(lab.settings, sink=lab.sink))
        base = lab.settings.public_base_url
        async with httpx.AsyncClient(transport=transport, base_url=base, headers=BEARER) as web:
            yield lab, web


async def deliver(lab: Lab, raw: bytes) -> int:
    """Send ``raw`` to the sink; the stored message's id."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=lab.sink.port, start_tls=False) as smtp:
        await smtp.sendmail(SENDER, [KARI], raw)
    stored = await asyncio.to_thread(lab.sink.store.list, to=KARI, limit=1)
    assert stored[0].id is not None
    return stored[0].id


async def test_mime_nested_1000_deep_shows_the_raw_text_with_a_note(
    sink: tuple[Lab, httpx.AsyncClient],
) -> None:
    lab, client = sink
    message_id = await deliver(lab, nested_multipart(1000))
    for lang, words in (("en", "nested deeper than 32"), ("nb", "dypere enn 32")):
        page = await client.get(f"/sink/messages/{message_id}", params={"lang": lang})
        assert page.status_code == 200
        assert 'id="mime-refused"' in page.text
        assert words in page.text
        assert "--level999" in page.text  # the raw text, boundaries and all
        assert "innermost text" in page.text
    html = await client.get(f"/sink/messages/{message_id}/html")
    assert html.status_code == 404
    api = await client.get(f"/api/v1/sink/messages/{message_id}")
    assert api.status_code == 200
    assert api.json()["subject"] == "nested"


async def test_mime_with_too_many_parts_shows_the_raw_text(
    sink: tuple[Lab, httpx.AsyncClient],
) -> None:
    lab, client = sink
    parts = b"".join(b"--x\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(1200))
    raw = (
        (
            f"From: {SENDER}\r\nTo: {KARI}\r\nSubject: wide\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
        ).encode()
        + parts
        + b"--x--\r\n"
    )
    message_id = await deliver(lab, raw)
    page = await client.get(f"/sink/messages/{message_id}", params={"lang": "en"})
    assert page.status_code == 200
    assert "more than 1000 MIME parts" in page.text


async def test_html_nested_too_deep_is_shown_as_escaped_source(
    sink: tuple[Lab, httpx.AsyncClient],
) -> None:
    lab, client = sink
    message_id = await deliver(lab, deep_html(2000))
    part = await client.get(f"/sink/messages/{message_id}/html", params={"lang": "en"})
    assert part.status_code == 200
    assert part.headers["content-security-policy"] == HTML_PART_CSP
    assert f"deeper than {MAX_HTML_DEPTH} levels" in part.text
    assert "&lt;div&gt;&lt;div&gt;" in part.text
    assert "<div>" not in part.text
    nb = await client.get(f"/sink/messages/{message_id}/html", params={"lang": "nb"})
    assert f"dypere enn {MAX_HTML_DEPTH} nivåer" in nb.text


async def test_html_within_the_depth_cap_is_sanitized(sink: tuple[Lab, httpx.AsyncClient]) -> None:
    lab, client = sink
    html = "<div>" * 60 + "<b>Hei</b><script>steal()</script>" + "</div>" * 60
    raw = make_message(SENDER, KARI, "shallow", html=html)
    message_id = await deliver(lab, raw)
    part = await client.get(f"/sink/messages/{message_id}/html")
    assert part.status_code == 200
    assert "<b>Hei</b>" in part.text
    assert "steal()" not in part.text


def test_html_depth_counts_what_nests() -> None:
    assert html_depth("<div><div><span>x</span></div></div>") == 3
    assert html_depth("<div></div>" * 1000) == 1
    assert html_depth("<p>one<p>two<li>three<br><img src=x>") == 0  # never kept open
    assert html_depth("<div></span>" * 50) == 50  # an end tag closes only what is open
    assert html_depth("<DIV><Div></div></DIV>") == 2
    assert html_depth("<div>" * 200_000) == 200_000
    assert safe_html("<div>" * (MAX_HTML_DEPTH + 1)).refused == "depth"
    assert safe_html("<div>" * MAX_HTML_DEPTH).refused == ""


def _captured(message_id: int, raw: bytes) -> CapturedMessage:
    return CapturedMessage(
        raw=raw,
        mail_from=SENDER,
        rcpt_tos=(KARI,),
        mailboxes=(),
        peer_ip="127.0.0.1",
        peer_port=None,
        received_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        id=message_id,
    )


async def test_views_are_made_once_per_message_off_the_loop() -> None:
    views = MessageViews(workers=2, entries=2)
    threads: list[str] = []

    def work(message: CapturedMessage) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return {"id": message.id}

    first, second, third = (_captured(n, b"Subject: x\r\n\r\nbody") for n in (1, 2, 3))
    try:
        together = await asyncio.gather(
            *(views.details(first, work, masked=False) for _ in range(5))
        )
        assert together == [{"id": 1}] * 5
        assert await views.details(first, work, masked=False) == {"id": 1}
        assert len(threads) == 1  # five at once and one later: made once
        assert threads[0].startswith("maildiag-mail-view")
        await views.details(second, work, masked=False)
        await views.details(third, work, masked=False)  # the cache holds two: the first goes
        await views.details(first, work, masked=False)
        assert len(threads) == 4
        parts = await views.parts(_captured(4, nested_multipart(100)), masked=False)
        assert parts.refused == "depth"
    finally:
        views.close()


async def test_a_failed_view_is_not_kept() -> None:
    views = MessageViews()
    calls: list[int] = []

    def work(message: CapturedMessage) -> dict[str, Any]:
        calls.append(1)
        raise ValueError("broken")

    message = _captured(1, b"Subject: x\r\n\r\nbody")
    try:
        for _ in range(2):
            with pytest.raises(ValueError, match="broken"):
                await views.details(message, work, masked=False)
        assert len(calls) == 2
    finally:
        views.close()
