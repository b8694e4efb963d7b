"""The checklist's JSON API: ``POST /api/v1/checklist`` and ``GET /api/v1/check``.

The self audience needs no login and is rate limited per client IP and per address; it never
reads accounts and never opens an SMTP session (the DNS-only check). The support and admin
audiences need a logged-in session with that role (or higher): 401 without one, 403 with a
lower role; they probe the recipient's server, RCPT TO only for an address with an account
unless an admin asks. Without a session cookie they are refused before any lookup; with one,
the session is read while the first DNS questions are out, and a refusal cancels the lookups
before any account read, placement read or probe. ``GET /api/v1/check`` probes only for a
signed-in admin. Probes are limited per mail server for all users (``maildiag.web.probing``).
Bad input is a 4xx with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

import reset
from diag.checklist import RcptSource
from diag.errors import InputError
from maildiag.services.accounts import account_facts
from maildiag.services.checklist import admin_check, check, probe_options
from maildiag.services.inputs import (
    MAX_ADDRESS,
    MAX_DOMAIN,
    clean_address,
    clean_domain,
    domain_target,
)
from maildiag.web import deps, i18n
from maildiag.web.auth import SignedIn, optional_user, session_id_of, staff
from maildiag.web.checklist_web import (
    MAX_PASTE,
    client_ip,
    count_domain_check,
    limited_reason,
    next_allowed,
    private,
    retry_after,
)
from maildiag.web.probing import CHECK_ROLE, rcpt_rule, smtp_probe, staff_probe
from reports import checklist_json, checklist_view

log = logging.getLogger(__name__)
router = APIRouter(tags=["checklist"])
MAX_BODY = 2 * MAX_PASTE + 4096  # two pastes, the address and the JSON around them


class ChecklistRequest(BaseModel):
    """What to check: one address, for one audience, worded in one language.

    ``headers`` and ``bounce`` (pasted message headers or a bounce) are for the support and
    admin audiences.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    address: str = Field(min_length=1, max_length=MAX_ADDRESS, examples=["kari@kunde-ok.example"])
    audience: Literal["self", "support", "admin"] = "self"
    lang: Literal["nb", "en"] | None = None
    headers: str | None = Field(default=None, max_length=MAX_PASTE)
    bounce: str | None = Field(default=None, max_length=MAX_PASTE)


class ChecklistItemOut(BaseModel):
    key: str
    status: Literal["ok", "problem", "warning", "not_checked", "todo"]
    title: str
    evidence: dict[str, object]
    next_step: str


class ChecklistOut(BaseModel):
    """The checklist JSON (DESIGN.md): items in order, and every finding behind them."""

    address: str
    audience: str
    provider: str
    items: list[ChecklistItemOut]
    findings: list[dict[str, object]]


def _invalid(where: str, reason: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_input", "reasons": [f"{where}: {reason}"]}, status_code=422
    )


def _rate_limited(decision: reset.RateDecision, lang: str) -> Response:
    at = next_allowed(decision)
    body = {
        "error": "rate_limited",
        "reason": limited_reason(decision, lang, at),
        "limited_by": decision.limited_by,
        "retry_after": round(decision.retry_after),
        "next_check_at": at.isoformat(),
    }
    return JSONResponse(body, status_code=429, headers={"Retry-After": retry_after(decision)})


async def _require_json(request: Request) -> None:
    """Dependency: a JSON body (a cross-site form cannot send one without CORS) of a known,
    bounded length, refused before it is read. A coroutine function, so FastAPI runs it on the
    event loop instead of handing it to a worker thread and back (a plain ``def`` would be)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(415, "send the request as application/json")
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "send a Content-Length header")
    if int(length) > MAX_BODY:
        raise HTTPException(413, f"the request body is larger than {MAX_BODY} bytes")


async def staff_user(request: Request, audience: str) -> SignedIn:
    """The logged-in user allowed ``audience``; raises HTTPException 401 or 403."""
    user = await optional_user(request)
    if user is None:
        raise HTTPException(401, "login required: sign in at /login")
    if not user.has_role(audience):
        raise HTTPException(403, f"the {audience} audience needs the {audience} role")
    return user


@router.post(
    "/checklist",
    response_model=ChecklistOut,
    responses={401: {}, 403: {}, 411: {}, 413: {}, 415: {}, 422: {}, 429: {}},
    dependencies=[Depends(_require_json)],
)
async def checklist(body: ChecklistRequest, request: Request) -> Response:
    """Run the checklist for ``body.address``; the self audience is rate limited."""
    lang = body.lang or deps.settings(request).lang
    try:
        address = clean_address(body.address)
    except InputError as exc:
        return _invalid("address", i18n.reason(exc, "en"))
    admit: Callable[[], Awaitable[None]] | None = None  # the caller's permission, when needed
    if body.audience == "self":
        if body.headers is not None or body.bounce is not None:
            return _invalid("headers", "pasted headers and bounces are for support and admin")
        decision = await deps.limits(request).self_service.hit(client_ip(request), address)
        if not decision.allowed:
            log.info("checklist.rate_limited audience=self by=%s", decision.limited_by)
            return _rate_limited(decision, lang)
        probe, account = probe_options(deps.settings(request), smtp=False), None
        rcpt: RcptSource = False
    else:
        if session_id_of(request) is None:  # no lookup at all without a session to check
            raise HTTPException(401, "login required: sign in at /login")
        admitted: list[SignedIn] = []

        async def read_session() -> None:  # beside the first lookups
            admitted.append(await staff_user(request, body.audience))

        admit = read_session
        probe, rcpt = staff_probe(request), lambda: rcpt_rule(admitted[0])
        # read while the checklist's lookups are in flight, not before them
        svc = deps.reset_services(request)
        account = partial(account_facts, svc, address) if body.audience == "support" else None
    outcome = await check(
        deps.settings(request),
        deps.new_resolver(request),
        address,
        audience=body.audience,
        probe=probe,
        rcpt=rcpt,
        account=account,
        headers=_bytes(body.headers),
        bounce=_bytes(body.bounce),
        sink=deps.sink(request),
        reports=deps.database(request) if body.audience != "self" else None,
        admit=admit,
    )
    return private(JSONResponse(checklist_json(checklist_view(outcome.checklist, lang=lang))))


def _bytes(text: str | None) -> bytes | None:
    return None if not text else text.encode("utf-8", "surrogateescape")


@router.get("/check", response_model=ChecklistOut, responses={422: {}, 429: {}})
async def check_domain(
    request: Request,
    domain: Annotated[
        str, Query(min_length=1, max_length=MAX_DOMAIN, examples=["kunde-blokkerer.example"])
    ],
    lang: Annotated[Literal["nb", "en"] | None, Query()] = None,
) -> Response:
    """The mail administrator's check of a recipient domain: the admin-audience checklist. Its
    SMTP probe (stopping after MAIL FROM, no RCPT TO) runs only for a signed-in admin; anyone
    else gets the DNS-only check (``delivery.accepted`` not_checked, reason ``not_probed``).
    Rate limited per client IP and per domain (signed-in staff on limits of their own), the
    probe per mail server for all users; a 429 says when the next check is possible
    (``next_check_at``)."""
    chosen = lang or deps.settings(request).lang
    try:
        name = clean_domain(domain)
    except InputError as exc:
        return _invalid("domain", i18n.reason(exc, "en"))
    user = await optional_user(request)
    decision = await count_domain_check(request, user, name)
    if not decision.allowed:
        log.info("checklist.rate_limited audience=admin by=%s", decision.limited_by)
        return _rate_limited(decision, chosen)
    probe = smtp_probe(request, user, CHECK_ROLE)
    result = await admin_check(
        deps.settings(request),
        deps.new_resolver(request),
        domain_target(name),
        rcpt=False,
        probe=probe,
        sink=deps.sink(request),
        reports=deps.database(request) if staff(user) else None,
    )
    return private(JSONResponse(checklist_json(checklist_view(result.checklist, lang=chosen))))
