"""The captcha: ``GET /captcha/challenge`` for our ALTCHA widget, and the posted solution.

ALTCHA (proof-of-work, no outside service) is the default; reCAPTCHA, hCaptcha and Turnstile
plug in through ``reset.SiteverifyVerifier``. The pages read the posted solution with
``solution_of``, which knows each provider's form field.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData

import reset
from maildiag.settings import Settings
from maildiag.web import deps

router = APIRouter(include_in_schema=False)

FORM_FIELDS = {
    "altcha": "altcha",
    "recaptcha": "g-recaptcha-response",
    "hcaptcha": "h-captcha-response",
    "turnstile": "cf-turnstile-response",
}


def solution_of(settings: Settings, form: FormData) -> str:
    """The captcha answer in a posted form ("" when absent or not text)."""
    value = form.get(FORM_FIELDS[settings.captcha_kind])
    return value if isinstance(value, str) else ""


@router.get("/captcha/challenge")
def challenge(request: Request) -> JSONResponse:
    """A fresh signed ALTCHA challenge (never cached); 404 when another captcha is configured."""
    verifier = deps.reset_services(request).captcha
    if not isinstance(verifier, reset.AltchaVerifier):
        raise HTTPException(404, "no ALTCHA challenge: another captcha provider is configured")
    return JSONResponse(verifier.create_challenge(), headers={"Cache-Control": "no-store"})
