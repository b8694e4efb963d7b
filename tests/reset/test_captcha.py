"""Captcha: ALTCHA proof-of-work (issue, solve, verify once, expire) and siteverify providers
against a real local HTTP server."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn

import reset

KEY = "test-hmac-key"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def altcha(clock: Clock) -> reset.AltchaVerifier:
    return reset.AltchaVerifier(hmac_key=KEY, max_number=2000, clock=clock)


async def test_a_solved_challenge_passes_once(altcha: reset.AltchaVerifier) -> None:
    verifier: reset.CaptchaVerifier = altcha
    challenge = altcha.create_challenge()
    assert challenge["maxnumber"] == 2000
    assert challenge["algorithm"] == "SHA-256"
    payload = reset.solve_challenge(challenge)
    assert await verifier.verify(payload, "127.0.0.1") == reset.CaptchaOutcome(True, "ok")
    assert await verifier.verify(payload, "127.0.0.1") == reset.CaptchaOutcome(False, "replayed")


async def test_challenges_expire(altcha: reset.AltchaVerifier, clock: Clock) -> None:
    payload = reset.solve_challenge(altcha.create_challenge())
    clock.now += dt.timedelta(minutes=11)
    assert await altcha.verify(payload, None) == reset.CaptchaOutcome(False, "expired")


async def test_replay_store_forgets_expired_entries(clock: Clock) -> None:
    store = reset.MemoryReplayStore()
    verifier = reset.AltchaVerifier(
        hmac_key=KEY,
        max_number=500,
        clock=clock,
        replay_store=store,
        challenge_ttl=dt.timedelta(seconds=30),
    )
    assert (await verifier.verify(reset.solve_challenge(verifier.create_challenge()), None)).ok
    assert len(store) == 1
    clock.now += dt.timedelta(minutes=1)
    assert (await verifier.verify(reset.solve_challenge(verifier.create_challenge()), None)).ok
    assert len(store) == 1


async def test_redis_replay_store_is_shared_between_verifiers(clock: Clock) -> None:
    url = os.environ.get("MAILDIAG_TEST_REDIS_URL")
    if not url:
        pytest.skip("MAILDIAG_TEST_REDIS_URL is not set; Redis tests skipped")
    store = reset.RedisReplayStore(url=url, prefix=f"maildiag-test-{uuid.uuid4().hex}:")
    try:
        first = reset.AltchaVerifier(hmac_key=KEY, max_number=500, clock=clock, replay_store=store)
        second = reset.AltchaVerifier(hmac_key=KEY, max_number=500, clock=clock, replay_store=store)
        payload = reset.solve_challenge(first.create_challenge())
        assert (await first.verify(payload, None)).ok
        assert await second.verify(payload, None) == reset.CaptchaOutcome(False, "replayed")
        expires_at = clock.now + dt.timedelta(milliseconds=50)
        assert await store.claim("short", expires_at=expires_at, now=clock.now)
        await asyncio.sleep(0.15)
        assert await store.claim("short", expires_at=expires_at, now=clock.now)
    finally:
        await store.aclose()


def tamper(payload: str, **changes: Any) -> str:
    data = json.loads(base64.b64decode(payload))
    data.update(changes)
    return base64.b64encode(json.dumps(data).encode()).decode()


async def test_forged_and_wrong_key_payloads_are_invalid(
    altcha: reset.AltchaVerifier, clock: Clock
) -> None:
    challenge = altcha.create_challenge()
    payload = reset.solve_challenge(challenge)
    number = json.loads(base64.b64decode(payload))["number"]
    assert await altcha.verify(tamper(payload, number=number + 1), None) == reset.CaptchaOutcome(
        False, "invalid"
    )
    other = reset.AltchaVerifier(hmac_key="another-key", max_number=2000, clock=clock)
    assert (await other.verify(payload, None)).reason == "invalid"
    assert (await altcha.verify(tamper(payload, algorithm="SHA-1"), None)).reason == "invalid"
    no_expiry = tamper(payload, salt=challenge["salt"].split("?")[0])
    assert (await altcha.verify(no_expiry, None)).reason == "invalid"
    # the genuine payload still works after the failed attempts
    assert (await altcha.verify(payload, None)).ok


@pytest.mark.parametrize(
    ("solution", "reason"),
    [
        ("", "missing"),
        ("%%%not-base64", "malformed"),
        (base64.b64encode(b"[1, 2]").decode(), "malformed"),
        (base64.b64encode(b'{"algorithm": "SHA-256"}').decode(), "malformed"),
        (base64.b64encode(b"not json").decode(), "malformed"),
        ("A" * 5000, "malformed"),
    ],
)
async def test_malformed_solutions(
    altcha: reset.AltchaVerifier, solution: str, reason: str
) -> None:
    assert await altcha.verify(solution, None) == reset.CaptchaOutcome(False, reason)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="hmac_key"):
        reset.AltchaVerifier(hmac_key="")
    assert KEY not in repr(reset.AltchaVerifier(hmac_key=KEY))


def test_solver_gives_up_beyond_maxnumber(altcha: reset.AltchaVerifier) -> None:
    challenge = dict(altcha.create_challenge())
    challenge["challenge"] = "0" * 64
    with pytest.raises(ValueError, match="no solution"):
        reset.solve_challenge(challenge)


# -- siteverify against a real server on 127.0.0.1 -------------------------------------------


class FakeSiteverify:
    """A tiny ASGI siteverify endpoint; the response token picks the answer."""

    def __init__(self) -> None:
        self.requests: list[dict[str, list[str]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = parse_qs(body.decode())
        self.requests.append(form)
        token = form.get("response", [""])[0]
        status, answer = 200, b""
        if form.get("secret") != ["site-secret"]:
            answer = json.dumps(
                {"success": False, "error-codes": ["invalid-input-secret"]}
            ).encode()
        elif token == "good":
            answer = json.dumps({"success": True, "hostname": "x", "error-codes": []}).encode()
        elif token == "bad":
            answer = json.dumps(
                {
                    "success": False,
                    "error-codes": ["invalid-input-response", "timeout-or-duplicate"],
                }
            ).encode()
        elif token == "html":
            answer = b"<html>oops</html>"
        elif token == "shape":
            answer = b'{"ok": 1}'
        else:
            status, answer = 503, b"{}"
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def siteverify_server() -> Iterator[tuple[str, FakeSiteverify]]:
    app = FakeSiteverify()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/siteverify", app
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("provider", [reset.RECAPTCHA_URL, reset.HCAPTCHA_URL, reset.TURNSTILE_URL])
def test_provider_urls_are_https(provider: str) -> None:
    assert provider.startswith("https://")
    assert provider.endswith("/siteverify")


async def test_siteverify_success_and_posted_fields(
    siteverify_server: tuple[str, FakeSiteverify],
) -> None:
    url, app = siteverify_server
    verifier: reset.CaptchaVerifier = reset.SiteverifyVerifier(
        url=url, secret=reset.Secret("site-secret")
    )
    assert await verifier.verify("good", "192.0.2.7") == reset.CaptchaOutcome(True, "ok")
    assert app.requests[-1] == {
        "secret": ["site-secret"],
        "response": ["good"],
        "remoteip": ["192.0.2.7"],
    }
    assert "site-secret" not in repr(verifier)


@pytest.mark.parametrize(
    ("token", "reason", "codes"),
    [
        ("bad", "invalid-input-response", ("invalid-input-response", "timeout-or-duplicate")),
        ("html", "bad_response", ()),
        ("shape", "bad_response", ()),
        ("boom", "bad_response", ()),
        ("", "missing", ()),
        ("x" * 5000, "malformed", ()),
    ],
)
async def test_siteverify_failures(
    siteverify_server: tuple[str, FakeSiteverify], token: str, reason: str, codes: tuple[str, ...]
) -> None:
    url, _app = siteverify_server
    async with httpx.AsyncClient() as client:
        verifier = reset.SiteverifyVerifier(
            url=url, secret=reset.Secret("site-secret"), client=client
        )
        outcome = await verifier.verify(token, None)
    assert outcome == reset.CaptchaOutcome(False, reason, codes)


async def test_siteverify_wrong_secret_and_no_remote_ip(
    siteverify_server: tuple[str, FakeSiteverify],
) -> None:
    url, app = siteverify_server
    verifier = reset.SiteverifyVerifier(url=url, secret=reset.Secret("wrong"), send_remote_ip=False)
    outcome = await verifier.verify("good", "192.0.2.7")
    assert outcome.reason == "invalid-input-secret"
    assert "remoteip" not in app.requests[-1]


async def test_siteverify_unreachable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    verifier = reset.SiteverifyVerifier(
        url=f"http://127.0.0.1:{port}/siteverify", secret=reset.Secret("s"), timeout=2
    )
    assert await verifier.verify("good", None) == reset.CaptchaOutcome(False, "unreachable")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"success": True}, reset.CaptchaOutcome(True, "ok")),
        ({"success": False}, reset.CaptchaOutcome(False, "rejected")),
        ({"success": "yes"}, reset.CaptchaOutcome(False, "bad_response")),
        ([], reset.CaptchaOutcome(False, "bad_response")),
        ({"success": False, "error-codes": "x"}, reset.CaptchaOutcome(False, "rejected")),
    ],
)
def test_parse_siteverify(data: Any, expected: reset.CaptchaOutcome) -> None:
    assert reset.parse_siteverify(data) == expected
