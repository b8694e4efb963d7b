"""What the checklist's pages and API answer alike: the client's IP for the rate limits, the
429 wording and ``Retry-After``, and the headers that keep a checklist private.
"""

from __future__ import annotations

import math

from fastapi import Request
from fastapi.responses import Response

import reset
from maildiag.services.checklist import TestSendRun
from maildiag.services.identities import sender_addresses
from maildiag.web import deps, i18n
from reports import TestSendView, testsend_view

MAX_PASTE = 48 * 1024  # pasted headers or a bounce; the whole form is capped by csrf


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limited_reason(decision: reset.RateDecision, lang: str) -> str:
    """Why a request was refused, naming the limit (``ip`` or ``address``) and when to retry."""
    minutes = max(1, math.ceil(decision.retry_after / 60))
    key = "limit.ip" if decision.limited_by == "ip" else "limit.target"
    return i18n.text(key, lang, minutes=minutes)


def retry_after(decision: reset.RateDecision) -> str:
    return str(max(1, math.ceil(decision.retry_after)))


def private(response: Response) -> Response:
    """Checklist answers hold personal data: never cached, never sent on as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def senders_of(request: Request) -> list[str]:
    """The addresses reset mail comes from, for the advice and the allowlisting steps."""
    return sender_addresses(deps.settings(request))


def testsend_section(run: TestSendRun | None, lang: str) -> TestSendView | str | None:
    """The test sends for a page: the test-send report's view (the page draws its table and
    reasons with the report's fragment template), or a note saying why there are none; None
    when no sink runs in this process."""
    if run is None:
        return None
    if run.error or not run.results:
        return i18n.text("testsend.not_run", lang, reason=run.error or "no_identities")
    return testsend_view(run.results, lang=lang)
