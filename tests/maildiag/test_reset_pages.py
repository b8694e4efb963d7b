"""The account pages in process: wording, the forgot-password request, tokens, login."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

import reset
from tests.maildiag.test_reset_support import (
    NEW_PASSWORD,
    OLD_PASSWORD,
    Env,
    csrf_of,
    reset_env,
)

KARI = "kari@kunde-ok.example"
STRANGER = "ola@kunde-ok.example"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with reset_env(tmp_path) as env:
        env.add_user(KARI)
        yield env


def _alert(response: httpx.Response) -> str:
    found = re.search(r'role="alert"[^>]*>(.*?)</', response.text, re.S)
    return found.group(1) if found else ""


# --- wording --------------------------------------------------------------------------------


async def test_login_page_has_the_seed_wording(env: Env) -> None:
    response = await env.client.get("/login")
    assert response.status_code == 200
    for text in (
        "E-postadresse",
        "Passord",
        "Logg inn",
        "Husk e-postadressen",
        "Glemt ditt passord?",
    ):
        assert text in response.text
    assert 'href="/forgot-password"' in response.text
    assert '<label for="email">' in response.text
    assert '<label for="password">' in response.text


async def test_forgot_page_has_the_seed_wording_and_the_captcha(env: Env) -> None:
    response = await env.client.get("/forgot-password")
    assert "For å gjenopprette identiteten din / tilbakestille ditt passord" in response.text
    assert "klikk Send forespørsel" in response.text
    assert "Send forespørsel" in response.text
    assert "Tilbake til innlogging" in response.text
    assert 'data-challenge-url="/captcha/challenge"' in response.text
    assert 'name="altcha"' in response.text
    assert '<script src="/static/altcha-widget.js"' in response.text


async def test_english_through_the_query(env: Env) -> None:
    response = await env.client.get("/forgot-password?lang=en")
    assert "Send request" in response.text
    assert 'lang="en"' in response.text


async def test_no_third_party_resources(env: Env) -> None:
    token = env.issue(KARI)
    pages = ["/login", "/forgot-password", f"/reset-password?token={token}", "/reset-password/done"]
    for path in pages:
        html = (await env.client.get(path)).text
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"(?:https?:)?//", url), (path, url)


async def test_captcha_challenge_is_fresh_json(env: Env) -> None:
    response = await env.client.get("/captcha/challenge")
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert data["algorithm"] == "SHA-256"
    assert data["maxnumber"] == 50
    assert (await env.client.get("/captcha/challenge")).json()["challenge"] != data["challenge"]


# --- forgot password: OWASP --------------------------------------------------------------


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


async def test_same_answer_and_same_work_for_known_and_unknown(env: Env) -> None:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])  # (conn, cursor, statement, parameters, context, many)

    event.listen(env.svc.engine, "before_cursor_execute", record)
    try:
        known = await env.forgot(KARI)
        known_sql, statements[:] = statements[:], []
        unknown = await env.forgot(STRANGER)
    finally:
        event.remove(env.svc.engine, "before_cursor_execute", record)
    # The same SQL, in the same order, and none of it reads the accounts.
    assert known_sql == statements
    assert any(s.startswith("INSERT INTO outbox") for s in known_sql)
    assert not any("users" in s for s in known_sql)
    assert known.status_code == unknown.status_code == 200
    assert _without_csrf(known.text) == _without_csrf(unknown.text)
    assert dict(known.headers) == dict(unknown.headers)
    assert "søppelpost" in known.text
    assert "lønningsansvarlig" in known.text
    assert "do.not.reply@platform.visma.com" in known.text
    assert "do.not.reply@connect.visma.com" in known.text
    assert 'href="/help/no-email"' in known.text
    # The request path never branched on the account: one queued row each, no token yet.
    rows = env.outbox()
    assert [(r.kind, r.recipient, r.status) for r in rows] == [
        ("reset_request", KARI, "queued"),
        ("reset_request", STRANGER, "queued"),
    ]
    with env.svc.sessions() as session:
        assert session.scalars(select(reset.ResetToken)).all() == []


async def test_over_the_limit_the_answer_stays_identical(tmp_path: Path) -> None:
    async with reset_env(tmp_path, rate_limit_per_address="2/15 minutes") as env:
        env.add_user(KARI)
        answers = {}
        for address in (KARI, STRANGER):
            first = [await env.forgot(address) for _ in range(2)]
            over = await env.forgot(address)
            answers[address] = over
            assert over.status_code == first[0].status_code == 200
            assert _without_csrf(over.text) == _without_csrf(first[0].text)
        assert _without_csrf(answers[KARI].text) == _without_csrf(answers[STRANGER].text)
        recipients = [r.recipient for r in env.outbox()]
        assert recipients == [KARI, KARI, STRANGER, STRANGER]  # nothing queued over the limit


async def test_the_address_limit_is_on_the_normalized_address(tmp_path: Path) -> None:
    async with reset_env(tmp_path, rate_limit_per_address="1/15 minutes") as env:
        await env.forgot("Ola@Kunde-OK.example")
        await env.forgot("  ola@KUNDE-ok.example ")
        assert len(env.outbox()) == 1


async def test_per_ip_limit(tmp_path: Path) -> None:
    async with reset_env(tmp_path, rate_limit_per_ip="2/minute") as env:
        for i in range(3):
            assert (await env.forgot(f"user{i}@kunde-ok.example")).status_code == 200
        assert len(env.outbox()) == 2
        async with env.new_client(ip="198.51.100.99") as other:
            await env.forgot("user9@kunde-ok.example", client=other)
        assert len(env.outbox()) == 3


async def test_reset_pages_send_no_referrer_and_are_not_cached(env: Env) -> None:
    token = env.issue(KARI)
    for path in ("/forgot-password", f"/reset-password?token={token}", "/reset-password/done"):
        response = await env.client.get(path)
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"


# --- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/forgot-password", "/login", "/reset-password", "/logout"])
@pytest.mark.parametrize("case", ["missing", "forged", "other_cookie"])
async def test_every_form_needs_a_valid_csrf_token(env: Env, path: str, case: str) -> None:
    token = await env.csrf("/login")
    data = {"email": KARI, "password": OLD_PASSWORD, "token": "x" * 43}
    if case == "forged":
        data["csrf_token"] = token[:-4] + "0000"
    elif case == "other_cookie":
        async with env.new_client() as other:
            data["csrf_token"] = await env.csrf("/login", client=other)
    response = await env.client.post(path, data=data)
    assert response.status_code == 403
    expected = {"missing": "mangler kode", "forged": "koden stemmer ikke"}.get(case, "stemmer ikke")
    assert "CSRF" in response.text
    assert expected in response.text
    assert env.outbox() == []


async def test_csrf_without_the_cookie(env: Env) -> None:
    token = await env.csrf("/login")
    async with env.new_client() as fresh:
        response = await fresh.post("/forgot-password", data={"csrf_token": token, "email": KARI})
    assert response.status_code == 403
    assert "mangler informasjonskapsel" in response.text


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("a" * 250 + "@kunde-ok.example", "for lang"),
        ("kåre@kunde-ok.example", "ASCII"),
        ("", "Skriv inn e-postadressen"),
        ("not-an-address", "ikke en gyldig"),
        ("kari@@kunde-ok.example", "ikke en gyldig"),
    ],
)
async def test_bad_addresses_are_400_with_a_reason(env: Env, email: str, reason: str) -> None:
    response = await env.forgot(email)
    assert response.status_code == 400
    assert reason in _alert(response)
    assert env.outbox() == []


async def test_missing_fields_are_400(env: Env) -> None:
    response = await env.client.post("/forgot-password", data={"csrf_token": await env.csrf()})
    assert response.status_code == 400
    assert "Skriv inn" in _alert(response)


@pytest.mark.parametrize(
    ("altcha", "reason"),
    [
        ("", "missing"),
        ("bm90IGpzb24=", "malformed"),
        (
            "eyJhbGdvcml0aG0iOiJTSEEtMjU2IiwiY2hhbGxlbmdlIjoiMDAiLCJudW1iZXIiOjEsInNhbHQiOiJ4P2V4cGlyZXM9OTk5OTk5OTk5OSIsInNpZ25hdHVyZSI6IjAwIn0=",
            "invalid",
        ),
    ],
)
async def test_forged_captcha_is_refused(env: Env, altcha: str, reason: str) -> None:
    response = await env.forgot(KARI, altcha=altcha)
    assert response.status_code == 400
    assert reason in _alert(response)
    assert env.outbox() == []


async def test_replayed_captcha_is_refused(env: Env) -> None:
    solution = await env.captcha()
    first = await env.forgot(KARI, altcha=solution)
    second = await env.forgot(KARI, altcha=solution)
    assert first.status_code == 200
    assert second.status_code == 400
    assert "replayed" in _alert(second)
    assert len(env.outbox()) == 1


async def test_oversized_form_is_413(env: Env) -> None:
    data = {"csrf_token": await env.csrf(), "email": "a" * 70_000}
    response = await env.client.post("/forgot-password", data=data)
    assert response.status_code == 413


@pytest.mark.parametrize(
    "token", ["", "short", "bad token with spaces!!!!!!", "ø" * 43, "a" * 300, "%00" * 20]
)
async def test_malformed_tokens_are_400(env: Env, token: str) -> None:
    response = await env.client.get("/reset-password", params={"token": token})
    assert response.status_code == 400
    assert "Be om en ny lenke" in response.text
    assert 'href="/forgot-password"' in response.text
    data = {
        "csrf_token": await env.csrf(),
        "token": token,
        "password": NEW_PASSWORD,
        "confirmation": NEW_PASSWORD,
    }
    assert (await env.client.post("/reset-password", data=data)).status_code == 400


# --- the new password ------------------------------------------------------------------------


async def _post_new(
    env: Env, token: str, password: str, confirmation: str | None = None
) -> httpx.Response:
    data = {
        "csrf_token": await env.csrf(),
        "token": token,
        "password": password,
        "confirmation": password if confirmation is None else confirmation,
    }
    return await env.client.post("/reset-password", data=data)


async def test_get_shows_the_form_and_never_consumes(env: Env) -> None:
    token = env.issue(KARI)
    for _ in range(2):
        response = await env.client.get("/reset-password", params={"token": token})
        assert response.status_code == 200
    for text in ("Angi ditt nye passord", "Nytt passord", "Bekreft passord", "Endre passord"):
        assert text in response.text
    for rule in (
        "Minimum 8 tegn",
        "Minimum 1 store tegn",
        "Minimum 1 små tegn",
        "Minimum 1 numeriske tegn",
        "Minimum 1 spesialtegn",
    ):
        assert rule in response.text
    assert 'aria-live="polite"' in response.text
    assert "/static/password-rules.js" in response.text
    assert (await _post_new(env, token, NEW_PASSWORD)).status_code == 303


@pytest.mark.parametrize(
    ("password", "confirmation", "refused"),
    [
        ("kort1A!", None, "Minimum 8 tegn"),
        ("alllowercase1!", None, "Minimum 1 store tegn"),
        ("ALLUPPERCASE1!", None, "Minimum 1 små tegn"),
        ("NoDigitsHere!", None, "Minimum 1 numeriske tegn"),
        ("NoSpecials123", None, "Minimum 1 spesialtegn"),
        ("Password1!", None, "for vanlig"),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "ikke like"),
    ],
)
async def test_weak_or_mismatched_passwords_are_refused_and_the_link_survives(
    env: Env, password: str, confirmation: str | None, refused: str
) -> None:
    token = env.issue(KARI)
    response = await _post_new(env, token, password, confirmation)
    assert response.status_code == 400
    assert refused in _alert(response) or refused in response.text.split('id="reset-error"')[1]
    assert env.password_ok(KARI, OLD_PASSWORD)
    assert (await env.client.get("/reset-password", params={"token": token})).status_code == 200


async def test_a_reset_sets_the_password_ends_sessions_and_queues_the_notice(env: Env) -> None:
    async with env.new_client() as browser:
        login = await browser.post(
            "/login",
            data={
                "csrf_token": await env.csrf("/login", browser),
                "email": KARI,
                "password": OLD_PASSWORD,
            },
        )
        assert login.status_code == 303
        assert "Du er logget inn" in (await browser.get("/login")).text
        token = env.issue(KARI)
        response = await _post_new(env, token, NEW_PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == "/reset-password/done"
        assert "Du er logget inn" not in (await browser.get("/login")).text  # session ended
    assert env.password_ok(KARI, NEW_PASSWORD)
    assert not env.password_ok(KARI, OLD_PASSWORD)
    assert [(r.kind, r.recipient) for r in env.outbox()] == [("password_changed", KARI)]
    done = await env.client.get("/reset-password/done")
    assert "Gå til innlogging" in done.text
    assert 'href="/login"' in done.text
    again = await _post_new(env, token, "Annet#Passord2027")
    assert again.status_code == 410
    assert "Be om en ny lenke" in again.text
    assert (await env.client.get("/reset-password", params={"token": token})).status_code == 410


async def test_expired_and_unknown_tokens_are_410(env: Env) -> None:
    expired = env.issue(KARI, ttl=dt.timedelta(seconds=-1))
    for token in (expired, "A" * 43):
        response = await env.client.get("/reset-password", params={"token": token})
        assert response.status_code == 410
        assert "ugyldig, utløpt eller allerede brukt" in response.text
        assert 'href="/forgot-password"' in response.text
        assert (await _post_new(env, token, NEW_PASSWORD)).status_code == 410


@pytest.mark.parametrize("take_turns", [True, False], ids=["turns", "racing-writers"])
async def test_two_concurrent_posts_with_one_token_one_wins(env: Env, take_turns: bool) -> None:
    if not take_turns:  # let both transactions race inside SQLite (busy/snapshot retries)
        env.svc.turns = None
    token = env.issue(KARI)
    async with env.new_client() as a, env.new_client() as b:
        forms = []
        for client in (a, b):
            forms.append(
                {
                    "csrf_token": await env.csrf(client=client),
                    "token": token,
                    "password": NEW_PASSWORD,
                    "confirmation": NEW_PASSWORD,
                }
            )
        first, second = await asyncio.gather(
            a.post("/reset-password", data=forms[0]), b.post("/reset-password", data=forms[1])
        )
    assert sorted([first.status_code, second.status_code]) == [303, 410]
    assert [r.kind for r in env.outbox()] == ["password_changed"]


async def test_a_known_token_never_reaches_the_logs(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = env.issue(KARI)
    await env.client.get("/reset-password", params={"token": token})
    await _post_new(env, token, "weak")
    await _post_new(env, token, NEW_PASSWORD)
    await _post_new(env, token, NEW_PASSWORD)
    # Everything the server side logged; the test's own HTTP client (httpx) logs the URL it
    # fetched, as a browser's history would, and is not the service.
    server = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert any(r.name.startswith("reset.") for r in server), "the flow logs something"
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in server)
    assert token not in text
    assert NEW_PASSWORD not in text


# --- login ---------------------------------------------------------------------------------


async def _login(
    env: Env, client: httpx.AsyncClient, email: str, password: str, **extra: str
) -> httpx.Response:
    data = {"csrf_token": await env.csrf("/login", client), "email": email, "password": password}
    data.update(extra)
    return await client.post("/login", data=data)


async def test_login_sets_a_safe_session_cookie(env: Env) -> None:
    response = await _login(env, env.client, KARI, OLD_PASSWORD)
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("maildiag_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie
    assert "kari@kunde-ok.example" in (await env.client.get("/login")).text
    with env.svc.sessions() as session:
        stored = session.scalars(select(reset.UserSession)).one()
    assert stored.id_hash != cookie.split("=", 1)[1].split(";")[0]  # only the hash is stored


async def test_wrong_password_and_unknown_user_get_the_same_answer(env: Env) -> None:
    wrong = await _login(env, env.client, KARI, "Feil#Passord9")
    unknown = await _login(env, env.client, STRANGER, "Feil#Passord9")
    assert wrong.status_code == unknown.status_code == 401
    assert _alert(wrong) == _alert(unknown) == "Feil e-postadresse eller passord."
    assert _without_csrf(wrong.text).replace(KARI, "X") == _without_csrf(unknown.text).replace(
        STRANGER, "X"
    )


async def test_failed_sign_ins_are_throttled_per_address(tmp_path: Path) -> None:
    async with reset_env(tmp_path, login_failures_per_address="3/15 minutes") as env:
        env.add_user(KARI)
        for _ in range(3):
            assert (await _login(env, env.client, KARI, "Feil#Passord9")).status_code == 401
        blocked = await _login(env, env.client, KARI, OLD_PASSWORD)  # even the right password
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 15 * 60
        assert _alert(blocked).startswith("For mange mislykkede innlogginger. Vent 15 minutter")
        assert "maildiag_session" not in blocked.headers.get("set-cookie", "")
        # an unknown address is counted and refused the same way (no enumeration)
        for _ in range(3):
            await _login(env, env.client, STRANGER, "Feil#Passord9")
        stranger = await _login(env, env.client, STRANGER, "Feil#Passord9")
        assert stranger.status_code == 429
        assert _without_csrf(stranger.text).replace(STRANGER, "X") == _without_csrf(
            blocked.text
        ).replace(KARI, "X")


async def test_successful_sign_ins_are_not_counted(tmp_path: Path) -> None:
    async with reset_env(tmp_path, login_failures_per_address="2/15 minutes") as env:
        env.add_user(KARI)
        for _ in range(4):
            assert (await _login(env, env.client, KARI, OLD_PASSWORD)).status_code == 303


async def test_failed_sign_ins_are_throttled_per_client_ip(tmp_path: Path) -> None:
    async with reset_env(tmp_path, login_failures_per_ip="2/15 minutes") as env:
        env.add_user(KARI)
        for address in ("a@kunde-ok.example", "b@kunde-ok.example"):
            assert (await _login(env, env.client, address, "Feil#Passord9")).status_code == 401
        env.client.cookies.set("lang", "en")
        blocked = await _login(env, env.client, KARI, OLD_PASSWORD)
        assert blocked.status_code == 429
        assert _alert(blocked).startswith("Too many failed sign-ins.")


@pytest.mark.parametrize("trusted", [[], ["203.0.113.0/24"]])
async def test_the_client_ip_comes_from_a_trusted_proxy_only(
    tmp_path: Path, trusted: list[str]
) -> None:
    # the test client connects from 203.0.113.7: a proxy when trusted, a client otherwise
    overrides = {"login_failures_per_ip": "1/15 minutes", "trusted_proxies": trusted}
    async with reset_env(tmp_path, **overrides) as env:
        statuses = []
        for forwarded in ("192.0.2.1", "192.0.2.2", "192.0.2.1"):
            env.client.headers["x-forwarded-for"] = forwarded
            statuses.append((await _login(env, env.client, KARI, "Feil#Passord9")).status_code)
        assert statuses == ([401, 401, 429] if trusted else [401, 429, 429])


async def test_remember_the_address(env: Env) -> None:
    await _login(env, env.client, KARI, OLD_PASSWORD, remember="1")
    await env.client.post("/logout", data={"csrf_token": await env.csrf("/login")})
    page = await env.client.get("/login")
    assert f'value="{KARI}"' in page.text
    assert "checked" in page.text


async def test_logout_ends_the_session(env: Env) -> None:
    await _login(env, env.client, KARI, OLD_PASSWORD)
    response = await env.client.post("/logout", data={"csrf_token": await env.csrf("/login")})
    assert response.status_code == 303
    page = await env.client.get("/login")
    assert "Du er logget ut" in page.text or "Logg inn" in page.text
    with env.svc.sessions() as session:
        assert session.scalars(select(reset.UserSession)).one().ended is not None


async def test_https_base_url_makes_cookies_secure(tmp_path: Path) -> None:
    async with reset_env(tmp_path, public_base_url="https://konto.example") as env:
        env.add_user(KARI)
        page = await env.client.get("/login")
        assert "__Host-maildiag_csrf=" in page.headers["set-cookie"]
        assert "Secure" in page.headers["set-cookie"]
        token = csrf_of(page.text)
        cookie = page.headers["set-cookie"].split(";")[0]
        response = await env.client.post(
            "/login",
            data={"csrf_token": token, "email": KARI, "password": OLD_PASSWORD},
            headers={"cookie": cookie},
        )
        assert response.status_code == 303
        session_cookie = next(
            c
            for c in response.headers.get_list("set-cookie")
            if c.startswith("__Host-maildiag_session=")
        )
        assert "Secure" in session_cookie
        assert "HttpOnly" in session_cookie


async def test_a_siteverify_provider_is_configured_through_the_same_interface(
    tmp_path: Path,
) -> None:
    from starlette.datastructures import FormData

    from maildiag.services.accounts import build_verifier
    from maildiag.web.captcha import solution_of

    async with reset_env(
        tmp_path, captcha_kind="turnstile", captcha_siteverify_url="http://127.0.0.1:9/verify"
    ) as env:
        verifier = build_verifier(env.settings)
        assert isinstance(verifier, reset.SiteverifyVerifier)
        assert verifier.url == "http://127.0.0.1:9/verify"
        form = FormData([("cf-turnstile-response", "tok"), ("altcha", "other")])
        assert solution_of(env.settings, form) == "tok"
        env.svc.captcha = verifier
        assert (await env.client.get("/captcha/challenge")).status_code == 404
        page = await env.client.get("/forgot-password")
        assert 'data-kind="turnstile"' in page.text
        assert "altcha-widget.js" not in page.text
        # Nobody answers at the siteverify URL: the request is refused, not a 500.
        data = {"csrf_token": csrf_of(page.text), "email": KARI, "cf-turnstile-response": "tok"}
        response = await env.client.post("/forgot-password", data=data)
        assert response.status_code == 400
        assert "unreachable" in _alert(response)
        assert env.outbox() == []


@pytest.mark.parametrize("path", ["/forgot-password", "/login", "/reset-password"])
async def test_odd_request_bodies_are_4xx_never_500(env: Env, path: str) -> None:
    token = await env.csrf()
    form = {"content-type": "application/x-www-form-urlencoded"}
    odd: list[dict[str, Any]] = [
        {"data": {"csrf_token": token}, "files": {"email": ("a.txt", b"x")}},
        {"json": {"csrf_token": token, "email": KARI}},
        {"content": f"csrf_token={token}&email=%ff%fe".encode(), "headers": form},
        {"content": "&".join(f"f{i}=1" for i in range(5000)).encode(), "headers": form},
        {"data": {"csrf_token": token, "email": "kari\x00@kunde-ok.example"}},
    ]
    for kwargs in odd:
        response = await env.client.post(path, **kwargs)
        assert 400 <= response.status_code < 500, (kwargs, response.status_code)
    assert env.outbox() == []


@pytest.mark.parametrize(
    ("next_path", "target"),
    [
        ("/support?address=kari%40kunde-ok.example", "/support?address=kari%40kunde-ok.example"),
        ("https://evil.example/", "/account"),
        ("//evil.example/x", "/account"),
        ("/\\evil.example", "/account"),
        ("support", "/account"),
    ],
)
async def test_login_returns_to_a_local_next_only(env: Env, next_path: str, target: str) -> None:
    page = await env.client.get("/login", params={"next": next_path})
    assert ('name="next" value="' in page.text) is (target != "/account")
    response = await _login(env, env.client, KARI, OLD_PASSWORD, next=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == target


# --- cookies at sign-in and sign-out ---------------------------------------------------------


def set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]


async def test_login_and_logout_renew_the_csrf_cookie(env: Env) -> None:
    page = await env.client.get("/login")
    before = env.client.cookies["maildiag_csrf"]
    old_token = csrf_of(page.text)
    login = await env.client.post(
        "/login", data={"csrf_token": old_token, "email": KARI, "password": OLD_PASSWORD}
    )
    assert login.status_code == 303
    assert set_cookies(login, "maildiag_csrf")
    signed_in = env.client.cookies["maildiag_csrf"]
    assert signed_in != before
    # a token made before the sign-in no longer passes
    refused = await env.client.post("/logout", data={"csrf_token": old_token})
    assert refused.status_code == 403
    token = csrf_of((await env.client.get("/login")).text)
    logout = await env.client.post("/logout", data={"csrf_token": token})
    assert logout.status_code == 303
    assert env.client.cookies["maildiag_csrf"] not in (before, signed_in)
    again = await env.client.post(
        "/login", data={"csrf_token": token, "email": KARI, "password": OLD_PASSWORD}
    )
    assert again.status_code == 403  # nor one made while signed in, after the sign-out


async def test_a_failed_login_keeps_the_csrf_cookie(env: Env) -> None:
    token = csrf_of((await env.client.get("/login")).text)
    failed = await env.client.post(
        "/login", data={"csrf_token": token, "email": KARI, "password": "Feil#Passord9"}
    )
    assert failed.status_code == 401
    assert not set_cookies(failed, "maildiag_csrf")


async def test_on_https_the_remember_cookie_is_deleted_with_secure(tmp_path: Path) -> None:
    async with reset_env(tmp_path, public_base_url="https://konto.example") as env:
        env.add_user(KARI)
        page = await env.client.get("/login")
        cookie = page.headers["set-cookie"].split(";")[0]
        data = {"csrf_token": csrf_of(page.text), "email": KARI, "password": OLD_PASSWORD}
        remembered = await env.client.post(
            "/login", data={**data, "remember": "1"}, headers={"cookie": cookie}
        )
        (kept,) = set_cookies(remembered, "maildiag_email")
        assert "Secure" in kept
        forgotten = await env.client.post("/login", data=data, headers={"cookie": cookie})
        assert forgotten.status_code == 303
        (deleted,) = set_cookies(forgotten, "maildiag_email")
        assert "Max-Age=0" in deleted
        assert "Secure" in deleted
        assert "HttpOnly" in deleted
        language = await env.client.get("/login", params={"lang": "en"})
        (lang,) = set_cookies(language, "lang")
        assert "Secure" in lang


# --- a locked address and its owner -----------------------------------------------------------


async def _lock_out(env: Env, address: str, attempts: int = 10) -> None:
    """Someone else, from another address, fails ``attempts`` times for ``address``."""
    async with env.new_client("198.51.100.66") as attacker:
        for _ in range(attempts):
            assert (await _login(env, attacker, address, "Feil#Passord9")).status_code == 401


async def test_the_owner_gets_in_with_a_captcha_after_someone_else_failed(env: Env) -> None:
    await _lock_out(env, KARI)  # the default limit: 10 failures per address in 15 minutes
    blocked = await _login(env, env.client, KARI, OLD_PASSWORD)
    assert blocked.status_code == 429
    assert 'data-challenge-url="/captcha/challenge"' in blocked.text
    assert 'id="captcha-hint"' in blocked.text
    assert "maildiag_session" not in blocked.headers.get("set-cookie", "")
    solved = await _login(env, env.client, KARI, OLD_PASSWORD, altcha=await env.captcha())
    assert solved.status_code == 303
    assert "Du er logget inn" in (await env.client.get("/login")).text


async def test_a_captcha_is_no_way_around_a_wrong_password(env: Env) -> None:
    await _lock_out(env, KARI)
    wrong = await _login(env, env.client, KARI, "Feil#Passord8", altcha=await env.captcha())
    assert wrong.status_code == 401
    assert 'id="captcha-hint"' in wrong.text
    solution = await env.captcha()
    assert (await _login(env, env.client, KARI, OLD_PASSWORD, altcha=solution)).status_code == 303
    async with env.new_client("192.0.2.99") as other:  # a solved challenge counts once
        replayed = await _login(env, other, KARI, OLD_PASSWORD, altcha=solution)
        assert replayed.status_code == 429


@pytest.mark.parametrize("solution", ["", "bm90LWEtc29sdXRpb24=", "x" * 5000])
async def test_a_locked_address_without_a_valid_captcha_stays_429(env: Env, solution: str) -> None:
    await _lock_out(env, KARI)
    response = await _login(env, env.client, KARI, OLD_PASSWORD, altcha=solution)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1


async def test_a_captcha_does_not_lift_the_per_ip_limit(tmp_path: Path) -> None:
    overrides = {"login_failures_per_ip": "3/15 minutes", "login_failures_per_address": "2/hour"}
    async with reset_env(tmp_path, **overrides) as env:
        env.add_user(KARI)
        await _lock_out(env, KARI, attempts=2)
        for address in ("a@kunde-ok.example", "b@kunde-ok.example", "c@kunde-ok.example"):
            assert (await _login(env, env.client, address, "Feil#Passord9")).status_code == 401
        blocked = await _login(env, env.client, KARI, OLD_PASSWORD, altcha=await env.captcha())
        assert blocked.status_code == 429
        assert 'id="captcha-hint"' not in blocked.text  # a captcha would not help here
        async with env.new_client("192.0.2.99") as elsewhere:  # another IP: the captcha helps
            solution = await env.captcha(elsewhere)
            passed = await _login(env, elsewhere, KARI, OLD_PASSWORD, altcha=solution)
            assert passed.status_code == 303


async def test_a_locked_unknown_address_looks_the_same(env: Env) -> None:
    await _lock_out(env, KARI)
    await _lock_out(env, STRANGER)
    pages = []
    for address in (KARI, STRANGER):
        pages.append(await _login(env, env.client, address, "Feil#Passord7"))
        pages.append(
            await _login(env, env.client, address, "Feil#Passord7", altcha=await env.captcha())
        )
    assert [p.status_code for p in pages] == [429, 401, 429, 401]
    assert _without_csrf(pages[0].text).replace(KARI, "X") == _without_csrf(pages[2].text).replace(
        STRANGER, "X"
    )
    assert _without_csrf(pages[1].text).replace(KARI, "X") == _without_csrf(pages[3].text).replace(
        STRANGER, "X"
    )
