"""Who may use the sink (DESIGN.md, the sink's API): every sink page and API route refuses an
anonymous caller; the token acts as admin; support reads but may not delete or change
policies; a plain user gets 403; ``maildiag sink``'s pages sign in with the token."""

from __future__ import annotations

import re

import aiosmtplib
import pytest
from fastapi.routing import APIRoute
from pydantic import SecretStr

from maildiag.web.routes import sink_api, sink_pages
from tests.maildiag.sink_lab import BEARER, SINK_TOKEN, Lab, make_message, sink_client

KARI = "kari@kunde-ok.example"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def lab(plain_lab: Lab) -> Lab:
    return plain_lab


async def send(lab: Lab, to: str = KARI, subject: str = "hei") -> None:
    message = make_message("tester@lab-tests.example", to, subject)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=lab.sink.port, start_tls=False) as smtp:
        await smtp.sendmail("tester@lab-tests.example", [to], message)


def sink_routes() -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the sink's page and API routers."""
    found = []
    routes = [(r, r.path) for r in sink_pages.router.routes if isinstance(r, APIRoute)]
    routes += [(r, "/api/v1" + r.path) for r in sink_api.router.routes if isinstance(r, APIRoute)]
    for route, template in routes:
        path = (
            template.replace("{message_id}", "1")
            .replace("{kind}", "domains")
            .replace("{name}", "kunde-ok.example")
        )
        found.extend((method, path) for method in sorted(route.methods - {"HEAD"}))
    return found


@pytest.mark.parametrize("sink_only", [False, True])
async def test_every_sink_route_refuses_an_anonymous_caller(lab: Lab, sink_only: bool) -> None:
    await send(lab)
    routes = sink_routes()
    assert len(routes) >= 15
    login = "/sink/login" if sink_only else "/login"
    async with sink_client(lab, sink_only=sink_only) as client:
        for method, path in routes:
            response = await client.request(method, path, json={"action": "accept"})
            if path.startswith("/api/"):
                assert response.status_code == 401, (method, path)
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert response.json()["error"] == "http_error"
            elif method == "GET":
                assert response.status_code == 303, path
                location = response.headers["location"]
                assert location.startswith(f"{login}?next=%2Fsink"), path
            else:
                assert response.status_code == 401, (method, path)
            assert KARI not in response.text, path
    assert await _count(lab) == 1  # nothing was deleted


async def _count(lab: Lab) -> int:
    import asyncio

    return await asyncio.to_thread(lab.sink.store.count)


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {SINK_TOKEN}x",
        f"Bearer {SINK_TOKEN[:-1]}",
        "Bearer ",
        f"Basic {SINK_TOKEN}",
        SINK_TOKEN,
        "Bearer " + "x" * 5000,
    ],
)
async def test_a_wrong_token_is_401(lab: Lab, authorization: str) -> None:
    async with sink_client(lab, headers={"Authorization": authorization}) as client:
        listed = await client.get("/api/v1/sink/messages")
        page = await client.get("/sink")
        deleted = await client.delete("/api/v1/sink/messages")
    assert listed.status_code == page.status_code == deleted.status_code == 401
    assert "sink" in listed.json()["reason"]


async def test_the_token_acts_with_the_admin_role(lab: Lab) -> None:
    await send(lab)
    async with sink_client(lab, headers=BEARER) as client:
        assert (await client.get("/sink")).status_code == 200
        put = await client.put(
            "/api/v1/sink/policies/domains/kunde-ok.example", json={"action": "greylist"}
        )
        assert put.status_code == 200
        assert (await client.delete("/api/v1/sink/messages")).json() == {"deleted": 1}


async def test_support_reads_but_may_not_delete_or_change_policies(lab: Lab) -> None:
    await send(lab)
    before = lab.sink.policies.as_json()
    async with sink_client(lab, role="support") as client:
        assert (await client.get("/sink")).status_code == 200
        [summary] = (await client.get("/api/v1/sink/messages")).json()["messages"]
        assert (await client.get(f"/api/v1/sink/messages/{summary['id']}")).status_code == 200
        assert (await client.get("/api/v1/sink/policies")).status_code == 200
        refused = [
            await client.delete("/api/v1/sink/messages"),
            await client.put("/api/v1/sink/policies", json={"default": {"action": "reject"}}),
            await client.put(
                "/api/v1/sink/policies/domains/kunde-ok.example", json={"action": "reject"}
            ),
            await client.delete("/api/v1/sink/policies/domains/kunde-blokkerer.example"),
        ]
        page = await client.get(f"/sink/messages/{summary['id']}")
        token = _CSRF.search(page.text)
        assert token is not None
        form = {"csrf_token": token.group(1), "confirm": "yes"}
        refused.append(await client.post(f"/sink/messages/{summary['id']}/delete", data=form))
    assert [r.status_code for r in refused] == [403] * 5
    assert lab.sink.policies.as_json() == before
    assert await _count(lab) == 1


async def test_an_admin_session_may_delete(lab: Lab) -> None:
    await send(lab)
    async with sink_client(lab, role="admin") as client:
        [summary] = (await client.get("/api/v1/sink/messages")).json()["messages"]
        page = await client.get(f"/sink/messages/{summary['id']}")
        token = _CSRF.search(page.text)
        assert token is not None
        form = {"csrf_token": token.group(1), "confirm": "yes"}
        done = await client.post(f"/sink/messages/{summary['id']}/delete", data=form)
    assert done.status_code == 303
    assert await _count(lab) == 0


async def test_a_plain_user_is_403(lab: Lab) -> None:
    async with sink_client(lab, role="user") as client:
        api = await client.get("/api/v1/sink/messages")
        page = await client.get("/sink", params={"lang": "en"})
    assert api.status_code == page.status_code == 403
    assert "support or admin" in page.text


async def test_the_lab_sends_a_page_to_login_and_back(lab: Lab) -> None:
    async with sink_client(lab) as client:
        response = await client.get("/sink", params={"to": KARI})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fsink%3Fto%3Dkari%2540kunde-ok.example"
    async with sink_client(lab, sink_only=True) as client:
        english = await client.get("/sink", params={"lang": "en"})
        assert english.headers["location"] == "/sink/login?next=%2Fsink%3Flang%3Den&lang=en"
        form = await client.get(english.headers["location"])
    assert "Sign in to the sink" in form.text
    async with sink_client(lab, role="support") as client:
        page = await client.get("/sink", params={"to": KARI})
    assert page.status_code == 200
    assert 'href="/support"' in page.text  # the app's own navigation, not the sink-only one
    assert 'action="/sink/logout"' not in page.text


async def test_the_sink_only_app_signs_in_with_the_token(lab: Lab) -> None:
    async with sink_client(lab, sink_only=True) as client:
        first = await client.get("/sink", params={"to": KARI})
        assert first.status_code == 303
        form = await client.get(first.headers["location"])
        assert form.status_code == 200
        token = _CSRF.search(form.text)
        assert token is not None
        assert 'name="next" value="/sink?to=kari%40kunde-ok.example"' in form.text
        data = {"csrf_token": token.group(1), "next": "/sink?to=" + KARI}
        wrong = await client.post("/sink/login", data={**data, "token": "not-the-token"})
        assert wrong.status_code == 401
        assert (await client.get("/sink")).status_code == 303
        right = await client.post("/sink/login", data={**data, "token": SINK_TOKEN})
        assert right.status_code == 303
        assert right.headers["location"] == "/sink?to=" + KARI
        cookie = right.headers["set-cookie"]
        assert cookie.startswith("maildiag_sink=")
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/"):
            assert attribute.lower() in cookie.lower()
        assert SINK_TOKEN not in cookie
        assert (await client.get("/sink")).status_code == 200
        assert (await client.get("/api/v1/sink/messages")).status_code == 200
        page = await client.get("/sink")
        logout = {"csrf_token": _csrf(page.text)}
        assert (await client.post("/sink/logout", data=logout)).status_code == 303
        assert (await client.get("/sink")).status_code == 303


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None
    return found.group(1)


async def test_a_forged_or_stale_sink_cookie_is_refused(lab: Lab) -> None:
    from maildiag.web.sink_access import sink_cookie_value

    good = sink_cookie_value(lab.settings, 2_000_000_000)
    other = lab.settings.model_copy(update={"sink_api_token": SecretStr("y" * 40)})
    for value, status in [
        (good, 200),
        (good[:-1] + ("0" if good[-1] != "0" else "1"), 303),
        (sink_cookie_value(lab.settings, 1_000_000_000), 303),  # expired in 2001
        (sink_cookie_value(other, 2_000_000_000), 303),  # made for another token
        ("9999999999." + "0" * 64, 303),
        ("x" * 500, 303),
    ]:
        async with sink_client(lab, sink_only=True, cookies={"maildiag_sink": value}) as client:
            assert (await client.get("/sink")).status_code == status, value
