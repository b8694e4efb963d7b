"""The captcha: ``GET /captcha/challenge`` for our ALTCHA widget, and the verifier from settings.

ALTCHA (proof-of-work, no outside service) is the default; reCAPTCHA, hCaptcha and Turnstile
plug in through ``reset.SiteverifyVerifier``. The pages read the posted solution with
``solution_of``, which knows each provider's form field.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import redis.asyncio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData

import reset
from maildiag.settings import Settings
from maildiag.web.auth import services

router = APIRouter(include_in_schema=False)

DEFAULT_MAX_NUMBER = 100_000
LAB_MAX_NUMBER = 2_000  # the lab solves at once; production makes a bot pay
SITEVERIFY_URLS = {
    "recaptcha": reset.RECAPTCHA_URL,
    "hcaptcha": reset.HCAPTCHA_URL,
    "turnstile": reset.TURNSTILE_URL,
}
FORM_FIELDS = {
    "altcha": "altcha",
    "recaptcha": "g-recaptcha-response",
    "hcaptcha": "h-captcha-response",
    "turnstile": "cf-turnstile-response",
}


class RedisReplayStore:
    """A ``reset.ReplayStore`` in Redis, so app replicas refuse each other's solved challenges.

    One ``SET key NX PX ttl`` per claim: atomic, and the key expires with its challenge.
    """

    def __init__(self, url: str, *, namespace: str = "maildiag-altcha") -> None:
        self._client = redis.asyncio.Redis.from_url(url)
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"RedisReplayStore(namespace={self.namespace!r})"

    async def claim(self, key: str, *, expires_at: dt.datetime, now: dt.datetime) -> bool:
        ttl_ms = max(1, int((expires_at - now).total_seconds() * 1000))
        digest = hashlib.sha256(key.encode()).hexdigest()
        created = await self._client.set(f"{self.namespace}:{digest}", b"1", nx=True, px=ttl_ms)
        return bool(created)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_verifier(settings: Settings) -> reset.CaptchaVerifier:
    """The configured verifier. ALTCHA signs with a key derived from ``secret_key`` and keeps
    solved challenges in Redis when ``redis_url`` is set (else in this process)."""
    if settings.captcha_kind == "altcha":
        default = LAB_MAX_NUMBER if settings.lab else DEFAULT_MAX_NUMBER
        key = hashlib.sha256(
            b"maildiag-altcha\0" + settings.secret_key.get_secret_value().encode()
        ).hexdigest()
        store = RedisReplayStore(settings.redis_url) if settings.redis_url else None
        return reset.AltchaVerifier(
            hmac_key=key, max_number=settings.altcha_max_number or default, replay_store=store
        )
    return reset.SiteverifyVerifier(
        url=settings.captcha_siteverify_url or SITEVERIFY_URLS[settings.captcha_kind],
        secret=reset.Secret(settings.captcha_secret.get_secret_value()),
    )


def solution_of(settings: Settings, form: FormData) -> str:
    """The captcha answer in a posted form ("" when absent or not text)."""
    value = form.get(FORM_FIELDS[settings.captcha_kind])
    return value if isinstance(value, str) else ""


@router.get("/captcha/challenge")
def challenge(request: Request) -> JSONResponse:
    """A fresh signed ALTCHA challenge (never cached); 404 when another captcha is configured."""
    verifier = services(request).captcha
    if not isinstance(verifier, reset.AltchaVerifier):
        raise HTTPException(404, "no ALTCHA challenge: another captcha provider is configured")
    return JSONResponse(verifier.create_challenge(), headers={"Cache-Control": "no-store"})
