"""The posted captcha solution: each provider's form field, read with ``solution_of``."""

from __future__ import annotations

from starlette.datastructures import FormData

from maildiag.settings import Settings

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
