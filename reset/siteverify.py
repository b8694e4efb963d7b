"""Captcha providers that verify through a "siteverify" POST: reCAPTCHA, hCaptcha, Turnstile.

Owns the one HTTP call (httpx) and the pure reading of its JSON answer (``success`` and
``error-codes``). The URL is configurable so the lab and tests can point it at a local
server. Never raises for what the provider or the network does: that is an outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from reset.captcha import MAX_PAYLOAD_LENGTH, CaptchaOutcome
from reset.secret import Secret

log = logging.getLogger(__name__)

RECAPTCHA_URL = "https://www.google.com/recaptcha/api/siteverify"
HCAPTCHA_URL = "https://api.hcaptcha.com/siteverify"
TURNSTILE_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
MAX_RESPONSE_BYTES = 65536


def parse_siteverify(data: object) -> CaptchaOutcome:
    """Read a siteverify JSON answer; pure. Unknown shapes are ``bad_response``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("success"), bool):
        return CaptchaOutcome(False, "bad_response")
    raw_codes = data.get("error-codes", [])
    codes = tuple(str(c) for c in raw_codes) if isinstance(raw_codes, list) else ()
    if data["success"]:
        return CaptchaOutcome(True, "ok", codes)
    return CaptchaOutcome(False, codes[0] if codes else "rejected", codes)


class SiteverifyVerifier:
    """A ``CaptchaVerifier`` for any provider with a siteverify endpoint.

    Pass ``client`` to share one ``httpx.AsyncClient`` (the caller then closes it).
    """

    def __init__(
        self,
        *,
        url: str,
        secret: Secret,
        timeout: float = 5.0,
        send_remote_ip: bool = True,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self.send_remote_ip = send_remote_ip
        self._client = client

    def __repr__(self) -> str:
        return f"SiteverifyVerifier(url={self.url!r}, secret={self._secret!r})"

    async def verify(self, solution: str, remote_ip: str | None) -> CaptchaOutcome:
        """POST secret+response(+remoteip) and read the verdict."""
        if not solution:
            return CaptchaOutcome(False, "missing")
        if len(solution) > MAX_PAYLOAD_LENGTH:
            return CaptchaOutcome(False, "malformed")
        form = {"secret": self._secret.reveal(), "response": solution}
        if remote_ip and self.send_remote_ip:
            form["remoteip"] = remote_ip
        try:
            if self._client is not None:
                response = await self._client.post(self.url, data=form, timeout=self.timeout)
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(self.url, data=form)
        except httpx.HTTPError as exc:
            log.warning("siteverify.unreachable url=%s error=%s", self.url, type(exc).__name__)
            return CaptchaOutcome(False, "unreachable")
        if response.status_code != 200 or len(response.content) > MAX_RESPONSE_BYTES:
            return CaptchaOutcome(False, "bad_response")
        try:
            data = response.json()
        except ValueError:
            return CaptchaOutcome(False, "bad_response")
        outcome = parse_siteverify(data)
        log.info("siteverify.result ok=%s reason=%s", outcome.ok, outcome.reason)
        return outcome
