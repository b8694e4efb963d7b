"""What the checklist's pages and API answer alike: the client's IP for the rate limits, the
429 wording and ``Retry-After``, and the headers that keep a checklist private.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from fastapi import Request
from fastapi.responses import Response

import reset
from maildiag.services.checklist import TestSendRun
from maildiag.services.identities import sender_addresses
from maildiag.web import deps, i18n
from maildiag.web.auth import SignedIn
from reports import TestSendView, format_when, testsend_view

MAX_PASTE = 48 * 1024  # pasted headers or a bounce; the whole form is capped by csrf


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limited_reason(decision: reset.RateDecision, lang: str, at: dt.datetime | None = None) -> str:
    """Why a request was refused, naming the limit (``ip``, ``account`` or ``address``), and
    when the next request is possible (``at``, by default ``next_allowed``): a time in
    ``lang``'s format and the minutes to it."""
    minutes = max(1, math.ceil(decision.retry_after / 60))
    key = f"limit.{decision.limited_by}" if decision.limited_by in ("ip", "account") else ""
    when = format_when(at or next_allowed(decision), lang, width="short")
    return i18n.text(key or "limit.target", lang, minutes=minutes, time=when)


def next_allowed(decision: reset.RateDecision, now: dt.datetime | None = None) -> dt.datetime:
    """When a refused request may be made again, rounded up to the minute (the time shown)."""
    at = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=decision.retry_after)
    whole = at.replace(second=0, microsecond=0)
    return whole if whole == at else whole + dt.timedelta(minutes=1)


async def count_domain_check(
    request: Request, user: SignedIn | None, domain: str
) -> reset.RateDecision:
    """Count one domain check of ``domain``. Signed-in staff (support, admin) use counters
    of their own, per account and per account and domain (``check_limit_staff_*``), so
    nobody else's checks use them up; everyone else is counted per client IP and domain. A
    staff refusal by the per-account limit says ``account``."""
    limits = deps.limits(request)
    if user is None or not user.has_role("support"):
        return await limits.domain_check.hit(client_ip(request), domain)
    account = f"account-{user.user_id}"
    decision = await limits.staff_check.hit(account, f"{account}:{domain}")
    if decision.limited_by == "ip":
        return dataclasses.replace(decision, limited_by="account")
    return decision


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
