"""The sink's JSON API and pages in process (httpx.ASGITransport) over a real sink on port 0 in
the same loop, fed by a real SMTP client; SSE over a real uvicorn on port 0."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
import uvicorn

from maildiag.lab.kit import LabKey, prepare_lab
from maildiag.runtime import bind_http
from maildiag.web import create_app
from maildiag.web.routes.sink_pages import HTML_PART_CSP
from tests.maildiag.sink_lab import BEARER, Lab, lab_sink, make_message

OUTSIDER = "tester@lab-tests.example"
KARI = "kari@kunde-ok.example"


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LabKey], Any]:
    data = tmp_path_factory.mktemp("lab")
    keys, zone = prepare_lab(data)
    return data, keys, zone


@pytest.fixture
async def lab(lab_data: tuple[Path, list[LabKey], Any], tmp_path: Path) -> AsyncIterator[Lab]:
    data, keys, zone = lab_data
    async with lab_sink(data, keys, zone, tmp_path) as running:
        yield running


@pytest.fixture
async def client(lab: Lab) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(lab.settings, sink=lab.sink)
    transport = httpx.ASGITransport(app=app)
    base = lab.settings.public_base_url
    async with httpx.AsyncClient(transport=transport, base_url=base, headers=BEARER) as client:
        yield client


async def send(lab: Lab, to: str = KARI, subject: str = "hei", **kwargs: Any) -> None:
    message = make_message(OUTSIDER, to, subject, **kwargs)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=lab.sink.port, start_tls=False) as smtp:
        await smtp.sendmail(OUTSIDER, [to], message)


async def test_list_newest_first_with_filters(lab: Lab, client: httpx.AsyncClient) -> None:
    await send(lab, subject="first")
    await send(lab, subject="second")
    await send(lab, to="kari@kunde-spam.example", subject="spam")
    listed = (await client.get("/api/v1/sink/messages", params={"to": KARI})).json()
    assert [m["subject"] for m in listed["messages"]] == ["second", "first"]
    junk = await client.get("/api/v1/sink/messages", params={"folder": "junk"})
    assert [m["subject"] for m in junk.json()["messages"]] == ["spam"]
    found = await client.get("/api/v1/sink/messages", params={"subject": "FIR", "sender": OUTSIDER})
    assert [m["subject"] for m in found.json()["messages"]] == ["first"]
    later = await client.get("/api/v1/sink/messages", params={"since": "2999-01-01T00:00:00Z"})
    assert later.json()["messages"] == []
    paged = await client.get("/api/v1/sink/messages", params={"limit": 1, "offset": 1})
    assert [m["subject"] for m in paged.json()["messages"]] == ["second"]


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-40"}, "until"),
        ({"folder": "trash"}, "folder"),
        ({"limit": "0"}, "limit"),
    ],
)
async def test_bad_query_is_422_with_the_reason(
    client: httpx.AsyncClient, params: dict[str, str], where: str
) -> None:
    response = await client.get("/api/v1/sink/messages", params=params)
    assert response.status_code == 422
    assert any(r.startswith(where) for r in response.json()["reasons"])


async def test_one_message_with_envelope_peer_verdict_and_raw(
    lab: Lab, client: httpx.AsyncClient
) -> None:
    await send(lab)
    [summary] = (await client.get("/api/v1/sink/messages")).json()["messages"]
    detail = (await client.get(f"/api/v1/sink/messages/{summary['id']}")).json()
    assert detail["envelope"] == {"mail_from": OUTSIDER, "rcpt_tos": [KARI]}
    assert detail["peer"]["ip"] == "127.0.0.1"
    assert detail["mailboxes"] == [{"address": KARI, "folder": "inbox"}]
    assert detail["verdict"]["data"]["spf"]["result"] == "none"
    assert {"name": "Subject", "value": "hei"} in detail["headers"]
    assert detail["sizes"]["delivered"] > detail["sizes"]["raw"] > 0
    raw = await client.get(f"/api/v1/sink/messages/{summary['id']}/raw")
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.content.startswith(b"Authentication-Results: sink.maildiag.localhost;")
    assert b"Subject: hei\r\n" in raw.content


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/sink/messages/999", 404),
        ("/api/v1/sink/messages/abc", 422),
        ("/api/v1/sink/messages/0", 422),
        ("/api/v1/sink/messages/99999999999999999999999", 422),
        ("/api/v1/sink/messages/999/raw", 404),
        ("/sink/messages/999", 404),
        ("/sink/messages/x", 422),
    ],
)
async def test_bad_ids(client: httpx.AsyncClient, path: str, status: int) -> None:
    assert (await client.get(path)).status_code == status


async def test_delete_by_id_by_mailbox_and_all(lab: Lab, client: httpx.AsyncClient) -> None:
    for to in (KARI, KARI, "ola@kunde-ok.example", "per@kunde-ok.example"):
        await send(lab, to=to)
    ids = [m["id"] for m in (await client.get("/api/v1/sink/messages")).json()["messages"]]
    one = await client.delete("/api/v1/sink/messages", params={"id": ids[0]})
    assert one.json() == {"deleted": 1}
    box = await client.delete("/api/v1/sink/messages", params={"to": KARI})
    assert box.json() == {"deleted": 2}
    both = await client.delete("/api/v1/sink/messages", params={"to": KARI, "id": ids[1]})
    assert both.status_code == 422
    not_an_id = await client.delete("/api/v1/sink/messages", params={"id": "abc"})
    assert not_an_id.status_code == 422
    rest = await client.delete("/api/v1/sink/messages")
    assert rest.json() == {"deleted": 1}


async def test_policies_read_and_replace(lab: Lab, client: httpx.AsyncClient) -> None:
    policies = (await client.get("/api/v1/sink/policies")).json()
    assert policies["domains"]["kunde-greylist.example"]["action"] == "greylist"
    put = await client.put(
        "/api/v1/sink/policies/domains/kunde-ok.example", json={"preset": "user_unknown"}
    )
    assert put.json()["reply"] == "550 5.1.1 User unknown"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(lab)
    bad = await client.put("/api/v1/sink/policies", json={"domains": {"x.example": {"delay": -1}}})
    assert bad.status_code == 422
    assert "domains.x.example.delay" in bad.json()["reason"]
    replaced = await client.put("/api/v1/sink/policies", json={"default": {"action": "accept"}})
    assert replaced.json()["domains"] == {}
    assert lab.sink.policies.domains == {}
    await send(lab)
    removed = await client.delete("/api/v1/sink/policies/domains/kunde-ok.example")
    assert removed.json() == {"removed": False}
    not_json = await client.put("/api/v1/sink/policies", content=b"{nope")
    assert not_json.status_code == 422


async def test_list_page_escapes_a_script_subject(lab: Lab, client: httpx.AsyncClient) -> None:
    await send(lab, subject="<script>alert(1)</script>")
    page = await client.get("/sink", params={"to": KARI})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'src="/static/sink.js"' in page.text
    english = await client.get("/sink", params={"lang": "en"})
    assert "Captured mail" in english.text
    bad_day = await client.get("/sink", params={"since": "31.12.2026"})
    assert bad_day.status_code == 422


async def test_message_page_shows_the_verdict_and_a_sandboxed_iframe(
    lab: Lab, client: httpx.AsyncClient
) -> None:
    html = '<p onclick="x()">Hei <b>Kari</b><script>steal()</script><img src="https://t.example/p.gif"></p>'
    await send(lab, subject="<b>html</b>", html=html)
    [summary] = (await client.get("/api/v1/sink/messages")).json()["messages"]
    page = await client.get(f"/sink/messages/{summary['id']}", params={"lang": "en"})
    assert page.text.count('class="explain"') == 4  # SPF, DKIM, DMARC and ARC explained
    assert "DMARC=none" in page.text
    assert "&lt;b&gt;html&lt;/b&gt;" in page.text
    iframe = re.search(r"<iframe[^>]*>", page.text)
    assert iframe is not None
    sandbox = re.search(r'\ssandbox="([^"]*)"', iframe.group(0))
    assert sandbox is not None
    # Only a link's new tab may leave the sandbox; scripts, forms and same-origin stay out.
    assert set(sandbox.group(1).split()) <= {"allow-popups", "allow-popups-to-escape-sandbox"}
    assert "allow-scripts" not in iframe.group(0)
    assert "allow-same-origin" not in iframe.group(0)
    part = await client.get(f"/sink/messages/{summary['id']}/html")
    assert part.headers["content-security-policy"] == HTML_PART_CSP
    assert "default-src 'none'" in HTML_PART_CSP
    assert "<b>Kari</b>" in part.text
    assert "script" not in part.text
    assert "onclick" not in part.text
    raw = await client.get(f"/sink/messages/{summary['id']}/raw")
    assert raw.headers["content-type"].startswith("text/plain")
    assert "attachment" in raw.headers["content-disposition"]


async def test_delete_page_needs_the_csrf_token_and_confirmation(
    lab: Lab, client: httpx.AsyncClient
) -> None:
    await send(lab)
    [summary] = (await client.get("/api/v1/sink/messages")).json()["messages"]
    url = f"/sink/messages/{summary['id']}"
    page = await client.get(url)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    forged = await client.post(f"{url}/delete", data={"confirm": "yes", "csrf_token": "x.y"})
    assert forged.status_code == 403
    unconfirmed = await client.post(f"{url}/delete", data={"csrf_token": token.group(1)})
    assert unconfirmed.status_code == 422
    done = await client.post(f"{url}/delete", data={"confirm": "yes", "csrf_token": token.group(1)})
    assert done.status_code == 303
    assert (await client.get(url)).status_code == 404


async def test_events_stream_announces_a_stored_message(lab: Lab) -> None:
    sock = bind_http("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(create_app(lab.settings, sink=lab.sink), log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with (
            httpx.AsyncClient(base_url=base, timeout=10, headers=BEARER) as http,
            http.stream("GET", "/sink/events") as stream,
        ):
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            await send(lab, subject="live")
            while not (line := await anext(lines)).startswith("event:"):
                pass
            data = await anext(lines)
    finally:
        server.should_exit = True
        await task
        sock.close()
    assert line == "event: stored"
    assert json.loads(data.removeprefix("data: "))["mailboxes"] == [
        {"address": KARI, "folder": "inbox"}
    ]


async def test_without_a_sink_the_api_says_so(lab: Lab) -> None:
    app = create_app(lab.settings)
    transport = httpx.ASGITransport(app=app)
    base = lab.settings.public_base_url
    async with httpx.AsyncClient(transport=transport, base_url=base, headers=BEARER) as client:
        response = await client.get("/api/v1/sink/messages")
    assert response.status_code == 503
    assert "sink" in response.json()["reason"]


async def test_the_sink_api_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"get", "delete"} <= set(paths["/api/v1/sink/messages"])
    assert "message/rfc822" in str(paths["/api/v1/sink/messages/{message_id}/raw"])
    assert "put" in paths["/api/v1/sink/policies"]
    assert not any(path.startswith("/sink") for path in paths)  # pages stay out of the API docs


async def test_sink_only_app_links_only_to_its_own_pages(lab: Lab) -> None:
    from maildiag.web.app import create_sink_app

    transport = httpx.ASGITransport(app=create_sink_app(lab.settings, lab.sink))
    base = lab.settings.public_base_url
    async with httpx.AsyncClient(transport=transport, base_url=base, headers=BEARER) as client:
        page = await client.get("/sink")
        assert (await client.get("/spf")).status_code == 404
    assert 'href="/sink" aria-current="page"' in page.text
    assert 'href="/spf"' not in page.text


async def test_a_broken_store_is_503_not_500(lab: Lab, client: httpx.AsyncClient) -> None:
    await asyncio.to_thread(lab.sink.store.drop_schema)
    for response in (
        await client.get("/api/v1/sink/messages"),
        await client.get("/api/v1/sink/messages/1"),
        await client.delete("/api/v1/sink/messages"),
    ):
        assert response.status_code == 503
        assert "store" in response.json()["reason"]
    assert (await client.get("/sink")).status_code == 503


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e300", "1e999"])
async def test_a_policy_number_must_be_finite_and_bounded(
    lab: Lab, client: httpx.AsyncClient, value: str
) -> None:
    before = lab.sink.policies.as_json()
    body = '{"action": "accept", "delay": VALUE}'.replace("VALUE", value)
    one = await client.put("/api/v1/sink/policies/domains/kunde-ok.example", content=body)
    assert one.status_code == 422
    assert "domains.kunde-ok.example.delay" in one.json()["reason"]
    book = '{"domains": {"kunde-ok.example": {"bounce_delay": VALUE}}}'.replace("VALUE", value)
    every = await client.put("/api/v1/sink/policies", content=book)
    assert every.status_code == 422
    assert "domains.kunde-ok.example.bounce_delay" in every.json()["reason"]
    assert lab.sink.policies.as_json() == before


async def test_a_deeply_nested_policy_document_is_422(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/sink/policies", content=b"[" * 60_000)
    assert response.status_code == 422
    assert "nested" in response.json()["reason"]


async def test_a_rebinding_host_is_400_on_both_apps(lab: Lab) -> None:
    from maildiag.web.app import create_sink_app

    for app in (create_app(lab.settings, sink=lab.sink), create_sink_app(lab.settings, lab.sink)):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for path in ("/sink", "/api/v1/sink/messages", "/api/v1/sink/info"):
                response = await client.get(path, headers={"Host": "rebind.attacker.example"})
                assert response.status_code == 400, path


EDGE_OF_THE_CALENDAR = [
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
]


@pytest.mark.parametrize("moment", EDGE_OF_THE_CALENDAR)
@pytest.mark.parametrize("name", ["since", "until"])
async def test_a_time_utc_cannot_hold_is_422_not_500(
    client: httpx.AsyncClient, name: str, moment: str
) -> None:
    """Found by the schemathesis run: an offset that moves a time past the calendar's end."""
    response = await client.get("/api/v1/sink/messages", params={name: moment})
    assert response.status_code == 422
    assert name in response.text


@pytest.mark.parametrize("value", [*EDGE_OF_THE_CALENDAR, "9999-12-31"])
async def test_the_list_page_refuses_a_day_past_the_calendar(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/sink", params={"since": value, "until": value})
    assert response.status_code == 422
