"""The captcha's route: ``GET /captcha/challenge`` for our ALTCHA widget.

ALTCHA (proof-of-work, no outside service) is the default; reCAPTCHA, hCaptcha and Turnstile
plug in through ``reset.SiteverifyVerifier`` (``maildiag.services.accounts.build_verifier``).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

import reset
from maildiag.web import deps

router = APIRouter(include_in_schema=False)


@router.get("/captcha/challenge")
def challenge(request: Request) -> JSONResponse:
    """A fresh signed ALTCHA challenge (never cached); 404 when another captcha is configured."""
    verifier = deps.reset_services(request).captcha
    if not isinstance(verifier, reset.AltchaVerifier):
        raise HTTPException(404, "no ALTCHA challenge: another captcha provider is configured")
    return JSONResponse(verifier.create_challenge(), headers={"Cache-Control": "no-store"})
