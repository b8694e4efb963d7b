"""The account page and the sign-out in process: where a sign-in lands, who may see
``/account``, what it shows (Babel-formatted in the page's language), the language it stores,
ending one session or every one (on SQLite, on PostgreSQL, and with Redis configured, which
holds no session), and the sign-out form in every page's navigation."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio
from sqlalchemy import Engine, select

import reset
from maildiag.services.accounts import build_reset_services
from tests.maildiag.test_reset_support import (
    CHEAP_HASHER,
    OLD_PASSWORD,
    Env,
    csrf_of,
    reset_env,
)
from tests.reset.conftest import postgres_engine

KARI = "kari@kunde-ok.example"
SUPPORT = "support@visma.example"
ADMIN = "admin@visma.example"
CHANGED = dt.datetime(2026, 3, 5, 14, 7, 9, tzinfo=dt.UTC)
REDIS_ENV = "MAILDIAG_TEST_REDIS_URL"
_NAV_SIGN_OUT = re.compile(
    r'<nav aria-label="[^"]+">.*?<form method="post" action="/logout" class="inline sign-out">'
    r'\s*<input type="hidden" name="csrf_token" value="([^"]+)">',
    re.S,
)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with reset_env(tmp_path) as env:
        env.add_user(KARI)
        env.add_user(SUPPORT, role="support")
        env.add_user(ADMIN, role="admin")
        yield env


async def sign_in(
    env: Env, address: str, client: httpx.AsyncClient | None = None, **extra: str
) -> httpx.Response:
    client = client or env.client
    data = {"csrf_token": await env.csrf("/login", client), "email": address}
    data.update(password=OLD_PASSWORD, **extra)
    response = await client.post("/login", data=data)
    assert response.status_code == 303, response.text
    return response


def _open_sessions(env: Env) -> list[reset.UserSession]:
    with env.svc.sessions() as session:
        rows = session.scalars(select(reset.UserSession).where(reset.UserSession.ended.is_(None)))
        return list(rows)


def _nav_token(html: str) -> str:
    found = _NAV_SIGN_OUT.search(html)
    assert found, "no sign-out form in the navigation"
    return found.group(1)


# --- where a sign-in lands, and who may see /account ----------------------------------------


@pytest.mark.parametrize(
    ("address", "landing"), [(KARI, "/account"), (SUPPORT, "/support"), (ADMIN, "/support")]
)
async def test_a_sign_in_lands_on_the_account_page_or_the_console(
    env: Env, address: str, landing: str
) -> None:
    response = await sign_in(env, address)
    assert response.headers["location"] == landing
    page = await env.client.get(landing)
    assert page.status_code == 200
    assert 'href="/check"' in page.text  # the main navigation
    assert _nav_token(page.text)


async def test_logged_out_visitors_are_sent_to_the_login(env: Env) -> None:
    response = await env.client.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"
    token = await env.csrf("/login")
    for path in ("/account/language", "/account/sessions/end", "/account/sessions/end-all"):
        posted = await env.client.post(path, data={"csrf_token": token, "language": "en"})
        assert posted.status_code == 303
        assert posted.headers["location"] == "/login?next=/account"
    back = await sign_in(env, KARI, next="/account")
    assert back.headers["location"] == "/account"


async def test_the_forms_need_the_csrf_token(env: Env) -> None:
    await sign_in(env, KARI)
    for path in ("/account/language", "/account/sessions/end-all"):
        refused = await env.client.post(path, data={"language": "en"})
        assert refused.status_code == 403
    assert len(_open_sessions(env)) == 1


# --- what the page shows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "shown"), [("nb", "5. mars 2026, 14:07:09 UTC"), ("en", "5 Mar 2026, 14:07:09 UTC")]
)
async def test_the_page_shows_the_account_in_the_page_language(
    env: Env, lang: str, shown: str
) -> None:
    with env.svc.sessions() as session, session.begin():
        user = reset.find_user(session, KARI)
        assert user is not None
        user.password_changed_at = CHANGED
    await sign_in(env, KARI)
    page = await env.client.get("/account", params={"lang": lang})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert f'<dd id="account-email">{KARI}</dd>' in page.text
    assert f'datetime="{CHANGED.isoformat()}" id="password-changed">{shown}</time>' in page.text
    assert page.text.count('class="session current" aria-current="true"') == 1


async def test_each_open_session_is_listed_with_created_and_last_seen(env: Env) -> None:
    clock = [dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)]
    env.svc.clock = lambda: clock[0]
    other = env.new_client()
    await sign_in(env, KARI, other)
    clock[0] += dt.timedelta(hours=1)
    await sign_in(env, KARI)
    clock[0] += dt.timedelta(minutes=30)
    await other.get("/")  # the other browser is used: its last_seen moves
    clock[0] += dt.timedelta(seconds=20)
    await other.get("/")  # within a minute: not written again
    page = (await env.client.get("/account", params={"lang": "en"})).text
    sessions = re.findall(r'<li class="session( current)?".*?</li>', page, re.S)
    assert len(sessions) == 2
    blocks = re.findall(r'<li class="session.*?</li>', page, re.S)
    # the most recently seen first: this one, seen as it loads the page
    assert blocks[0].startswith('<li class="session current"')
    assert "1 Dec 2026, 10:00:00 UTC" in blocks[0]  # signed in
    assert "1 Dec 2026, 10:30:20 UTC" in blocks[0]  # last seen: now
    assert "(this sign-in)" in blocks[0]
    assert "1 Dec 2026, 09:00:00 UTC" in blocks[1]  # the other browser's sign-in
    assert "1 Dec 2026, 10:30:00 UTC" in blocks[1]  # and its last use (not 10:30:20)
    assert "(this sign-in)" not in blocks[1]


# --- the language -----------------------------------------------------------------------------


async def test_the_language_is_stored_and_used(env: Env) -> None:
    await sign_in(env, KARI)
    page = await env.client.get("/account")
    assert 'lang="nb"' in page.text
    response = await env.client.post(
        "/account/language", data={"csrf_token": csrf_of(page.text), "language": "en"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account?done=language"
    with env.svc.sessions() as session:
        user = reset.find_user(session, KARI)
        assert user is not None
        assert user.language == "en"
    after = await env.client.get(response.headers["location"])
    assert '<html lang="en">' in after.text
    assert "The language is saved." in after.text
    assert '<option value="en" lang="en" selected>' in after.text


async def test_a_new_browser_starts_in_the_account_language(env: Env) -> None:
    await sign_in(env, KARI)
    page = await env.client.get("/account")
    await env.client.post(
        "/account/language", data={"csrf_token": csrf_of(page.text), "language": "en"}
    )
    fresh = env.new_client()
    response = await sign_in(env, KARI, fresh)
    assert any(c.startswith("lang=en;") for c in response.headers.get_list("set-cookie"))
    chosen = env.new_client()
    chosen.cookies.set("lang", "nb")  # a language chosen in the browser stays
    response = await sign_in(env, KARI, chosen)
    assert not any(c.startswith("lang=") for c in response.headers.get_list("set-cookie"))


async def test_an_unknown_language_is_refused(env: Env) -> None:
    await sign_in(env, KARI)
    token = csrf_of((await env.client.get("/account")).text)
    response = await env.client.post(
        "/account/language", data={"csrf_token": token, "language": "de"}
    )
    assert response.status_code == 400
    with env.svc.sessions() as session:
        user = reset.find_user(session, KARI)
        assert user is not None
        assert user.language == "nb"


# --- ending sessions --------------------------------------------------------------------------


async def test_ending_another_session_signs_that_browser_out(env: Env) -> None:
    other = env.new_client()
    await sign_in(env, KARI, other)
    await sign_in(env, KARI)
    page = (await env.client.get("/account")).text
    handle = re.search(r'<li class="session">.*?name="session" value="([0-9a-f]{64})"', page, re.S)
    assert handle
    response = await env.client.post(
        "/account/sessions/end", data={"csrf_token": csrf_of(page), "session": handle.group(1)}
    )
    assert response.headers["location"] == "/account?done=session"
    assert (await env.client.get("/account")).status_code == 200
    assert (await other.get("/account")).status_code == 303


async def test_nobody_ends_a_session_of_another_account(env: Env) -> None:
    support = env.new_client()
    await sign_in(env, SUPPORT, support)
    await sign_in(env, KARI)
    with env.svc.sessions() as session:
        theirs = session.scalars(
            select(reset.UserSession.id_hash).join(reset.User).where(reset.User.role == "support")
        ).one()
    token = csrf_of((await env.client.get("/account")).text)
    await env.client.post("/account/sessions/end", data={"csrf_token": token, "session": theirs})
    assert (await support.get("/support")).status_code == 200


async def test_ending_the_current_session_is_a_sign_out(env: Env) -> None:
    await sign_in(env, KARI)
    page = (await env.client.get("/account")).text
    handle = re.search(
        r'class="session current".*?name="session" value="([0-9a-f]{64})"', page, re.S
    )
    assert handle
    response = await env.client.post(
        "/account/sessions/end", data={"csrf_token": csrf_of(page), "session": handle.group(1)}
    )
    assert response.headers["location"] == "/login?logged_out=1"
    assert (await env.client.get("/account")).status_code == 303
    assert _open_sessions(env) == []


@contextlib.contextmanager
def _redis_url() -> Iterator[str]:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set; Redis tests skipped")
    yield url


@contextlib.asynccontextmanager
async def _backend(kind: str, tmp_path: Path) -> AsyncIterator[Env]:
    """The app with its sessions on SQLite or PostgreSQL, or on SQLite with Redis configured
    (rate limits and captchas in Redis)."""
    overrides: dict[str, object] = {}
    if kind == "redis":
        with _redis_url() as url:
            overrides["redis_url"] = url
    async with reset_env(tmp_path, **overrides) as env:
        if kind == "postgres":
            engines = postgres_engine()
            engine: Engine = next(engines)
            sqlite_svc = env.svc
            env.svc = build_reset_services(env.settings, engine=engine, hasher=CHEAP_HASHER)
            env.app.state.maildiag.reset = env.svc
            try:
                env.add_user(KARI)
                yield env
            finally:
                await env.svc.aclose()
                env.svc = sqlite_svc
                with contextlib.suppress(StopIteration):
                    next(engines)
        else:
            env.add_user(KARI)
            yield env


async def _redis_holds(url: str, values: list[str]) -> list[str]:
    """The Redis keys whose name or value holds one of ``values``."""
    client = redis.asyncio.Redis.from_url(url)
    found = []
    try:
        async for key in client.scan_iter(count=500):
            kind = await client.type(key)
            value = await client.get(key) if kind == b"string" else b""
            text = key + b" " + (value or b"")
            found += [v for v in values if v.encode() in text]
    finally:
        await client.aclose()
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis"])
async def test_sign_out_everywhere_ends_every_session(tmp_path: Path, backend: str) -> None:
    async with _backend(backend, tmp_path) as env:
        browsers = [env.new_client() for _ in range(3)]
        for browser in browsers:
            await sign_in(env, KARI, browser)
        ids = [b.cookies["maildiag_session"] for b in browsers]
        if backend == "redis":  # Redis holds counters, never a session: nothing to end there
            assert (
                await _redis_holds(env.settings.redis_url, ids + list(map(reset.hash_secret, ids)))
                == []
            )
        assert len(_open_sessions(env)) == 3
        page = (await browsers[0].get("/account")).text
        assert page.count('<li class="session') == 3
        response = await browsers[0].post(
            "/account/sessions/end-all", data={"csrf_token": csrf_of(page)}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/login?logged_out=1"
        assert _open_sessions(env) == []
        for browser in browsers:
            assert (await browser.get("/account")).status_code == 303
            await browser.aclose()


# --- the sign-out in the navigation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "paths"),
    [
        (KARI, ["/", "/spf", "/check", "/help/no-email", "/account", "/docs", "/no-such-page"]),
        (SUPPORT, ["/support", "/account", "/check", "/no-such-page"]),
        (ADMIN, ["/support", "/account", "/login"]),
    ],
)
async def test_every_page_offers_the_sign_out_to_the_signed_in(
    env: Env, address: str, paths: list[str]
) -> None:
    await sign_in(env, address)
    for path in paths:
        page = await env.client.get(path)
        assert "Logg ut" in page.text, path
        assert _nav_token(page.text), path
    token = _nav_token((await env.client.get(paths[0])).text)
    response = await env.client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert _open_sessions(env) == []
    assert "sign-out" not in (await env.client.get(paths[0])).text


async def test_logged_out_pages_have_no_sign_out(env: Env) -> None:
    for path in ("/", "/login", "/check", "/no-such-page"):
        assert 'action="/logout"' not in (await env.client.get(path)).text, path


async def test_a_lost_csrf_cookie_gets_a_new_one_with_the_navigation(env: Env) -> None:
    await sign_in(env, KARI)
    del env.client.cookies["maildiag_csrf"]
    page = await env.client.get("/spf")
    assert "maildiag_csrf=" in page.headers.get("set-cookie", "")
    response = await env.client.post("/logout", data={"csrf_token": _nav_token(page.text)})
    assert response.status_code == 303
