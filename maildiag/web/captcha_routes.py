"""The captcha: ``GET /captcha/challenge`` for our ALTCHA widget, and the verifier from settings.

ALTCHA (proof-of-work, no outside service) is the default; reCAPTCHA, hCaptcha and Turnstile
plug in through ``reset.SiteverifyVerifier``. The pages read the posted solution with
``solution_of``, which knows each provider's form field.
"""

from __future__ import annotations

import hashlib

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


def build_verifier(settings: Settings) -> reset.CaptchaVerifier:
    """The configured verifier. ALTCHA signs with a key derived from ``secret_key``."""
    if settings.captcha_kind == "altcha":
        default = LAB_MAX_NUMBER if settings.lab else DEFAULT_MAX_NUMBER
        key = hashlib.sha256(
            b"maildiag-altcha\0" + settings.secret_key.get_secret_value().encode()
        ).hexdigest()
        return reset.AltchaVerifier(hmac_key=key, max_number=settings.altcha_max_number or default)
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
