"""The account pages: /login, /forgot-password, /reset-password and /reset-password/done.

Follows the OWASP Forgot Password Cheat Sheet: the request path does the same work for every
well-formed address (captcha, rate limit, one outbox row; the worker decides whether anyone is
mailed), over the limit the same confirmation is shown without queuing, links come from the
configured base URL (``reset.MailComposer``), tokens are consumed only by the POST, and no
token or password is ever logged.
"""

from __future__ import annotations

import logging
import math
import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

import reset
from diag.names import MAX_ADDRESS_LENGTH
from maildiag.services.accounts import ResetServices, in_transaction
from maildiag.web import deps, i18n
from maildiag.web.auth import (
    SignedIn,
    log_in,
    log_out,
    optional_user,
    safe_next,
    secure_cookies,
    session_id_of,
    set_session_cookie,
)
from maildiag.web.captcha import solution_of
from maildiag.web.csrf import csrf_protect, field, read_form, rotate_binding
from maildiag.web.render import form_page, page, set_language_cookie
from maildiag.web.signout import signed_out

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

MAX_PASSWORD_FIELD = 1024  # the policy refuses more than 128; beyond this the input is junk
REMEMBER_COOKIE = "maildiag_email"
REMEMBER_SECONDS = 365 * 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # secrets.token_urlsafe alphabet


def _lang(request: Request) -> str:
    return deps.lang_of(request)


def _private(response: Response) -> Response:
    """Headers for every account page: no caching, no Referer carrying a token away."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def email_problem(address: str, lang: str) -> str | None:
    """Why ``address`` cannot be used (in ``lang``), or None. Never looks at accounts."""
    if not address.strip():
        return i18n.text("input.email_missing", lang)
    if len(address) > MAX_ADDRESS_LENGTH:
        return i18n.text("input.email_too_long", lang, n=MAX_ADDRESS_LENGTH)
    if not address.isascii():
        return i18n.text("input.email_non_ascii", lang)
    try:
        reset.normalize_address(address)
    except reset.InvalidAddressError as exc:
        return f"{i18n.text('input.email_invalid', lang)} ({exc.reason})"
    return None


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- login -------------------------------------------------------------------------------


def _login_page(request: Request, status_code: int = 200, **context: object) -> Response:
    remembered = request.cookies.get(REMEMBER_COOKIE, "")[:MAX_ADDRESS_LENGTH]
    settings = deps.settings(request)
    values: dict[str, object] = {
        "user": None,
        "email": remembered,
        "remember": bool(remembered),
        "error": None,
        "notice": None,
        "next": safe_next(request.query_params.get("next")),
        "captcha": False,  # shown once the address is over its failure limit
        "captcha_kind": settings.captcha_kind,
        "captcha_site_key": settings.captcha_site_key,
    }
    values.update(context)
    return _private(form_page(request, "login.html", status_code, **values))


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    user = await optional_user(request)
    notice = None
    if "logged_out" in request.query_params:
        notice = i18n.text("login.logged_out", _lang(request))
    return _login_page(request, user=user, notice=notice)


def landing(user: SignedIn) -> str:
    """Where a sign-in leads without ``?next=``: staff to the support console, everyone
    else to their account page."""
    return "/support" if user.has_role("support") else "/account"


@router.post("/login", dependencies=[Depends(csrf_protect)])
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    address, password = field(form, "email"), field(form, "password")
    remember = field(form, "remember") == "1"
    next_path = safe_next(field(form, "next"))
    lang = _lang(request)
    shown = address[:MAX_ADDRESS_LENGTH]
    problem = email_problem(address, lang)
    if problem is None and not password:
        problem = i18n.text("input.password_missing", lang)
    if problem is None and len(password) > MAX_PASSWORD_FIELD:
        problem = i18n.text("input.field_too_long", lang)
    if problem is not None:
        return _login_page(
            request, 400, email=shown, remember=remember, error=problem, next=next_path
        )
    svc, ip = deps.reset_services(request), _client_ip(request)
    throttled = await svc.login_limiter.check(ip, address)
    # Over the per-address limit a solved captcha lets a sign-in through, so nobody can lock
    # an owner out by failing on purpose; the per-IP limit (checked first) still holds.
    by_address = throttled.limited_by == "address"
    again = {"email": shown, "remember": remember, "next": next_path, "captcha": by_address}
    if not throttled.allowed and not (by_address and await _captcha_solved(request, svc, form, ip)):
        log.info("login.throttled by=%s", throttled.limited_by)
        minutes = max(1, math.ceil(throttled.retry_after / 60))
        error = i18n.text("login.too_many", lang, minutes=minutes)
        response = _login_page(request, 429, error=error, **again)
        response.headers["Retry-After"] = str(max(1, math.ceil(throttled.retry_after)))
        return response
    result = await log_in(svc, address, password)
    if result is None:
        await svc.login_limiter.hit(ip, address)
        error = i18n.text("login.failed", lang)
        return _login_page(request, 401, error=error, **again)
    user, session_id = result
    response = RedirectResponse(next_path or landing(user), status_code=303)
    settings = deps.settings(request)
    set_session_cookie(response, settings, session_id)
    rotate_binding(response, settings)
    if i18n.lang_of(request, "") == "":  # no language chosen in this browser: the account's
        set_language_cookie(response, settings, user.language)
    if remember:
        response.set_cookie(
            REMEMBER_COOKIE,
            user.email,
            max_age=REMEMBER_SECONDS,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(settings),
        )
    else:  # the attributes it was set with, Secure among them on https
        response.delete_cookie(
            REMEMBER_COOKIE, httponly=True, samesite="lax", secure=secure_cookies(settings)
        )
    return _private(response)


async def _captcha_solved(request: Request, svc: ResetServices, form: FormData, ip: str) -> bool:
    """Whether ``form`` carries a valid, unused captcha solution (the forgot-password form's
    verifier)."""
    verdict = await svc.captcha.verify(solution_of(deps.settings(request), form), ip)
    if not verdict.ok:
        log.info("login.captcha_refused reason=%s", verdict.reason)
    return verdict.ok


@router.post("/logout", dependencies=[Depends(csrf_protect)])
async def logout(request: Request) -> Response:
    session_id = session_id_of(request)
    if session_id is not None:
        await log_out(deps.reset_services(request), session_id)
    return signed_out(request)


# --- forgot password ---------------------------------------------------------------------


def _forgot_page(request: Request, status_code: int = 200, **context: object) -> Response:
    settings = deps.settings(request)
    values: dict[str, object] = {
        "email": "",
        "error": None,
        "captcha_kind": settings.captcha_kind,
        "captcha_site_key": settings.captcha_site_key,
    }
    values.update(context)
    return _private(form_page(request, "forgot_password.html", status_code, **values))


@router.get("/forgot-password", response_class=HTMLResponse)
async def forgot_form(request: Request) -> Response:
    return _forgot_page(request)


@router.post("/forgot-password", dependencies=[Depends(csrf_protect)])
async def forgot_submit(request: Request) -> Response:
    """Same page, same work, whatever the address (see the module docstring)."""
    form = await read_form(request)
    address = field(form, "email")
    lang = _lang(request)
    problem = email_problem(address, lang)
    counted = deps.app_state(request).metrics.reset_requests
    if problem is not None:
        counted.labels("invalid").inc()
        return _forgot_page(request, 400, email=address[:MAX_ADDRESS_LENGTH], error=problem)
    svc = deps.reset_services(request)
    ip = _client_ip(request)
    settings = deps.settings(request)
    verdict = await svc.captcha.verify(solution_of(settings, form), ip)
    if not verdict.ok:
        log.info("reset.captcha_refused reason=%s", verdict.reason)
        counted.labels("captcha_refused").inc()
        error = i18n.text("input.captcha", lang, reason=verdict.reason)
        return _forgot_page(request, 400, email=address, error=error)
    decision = await svc.limiter.hit(ip, address)
    if decision.allowed:
        await _queue_request(svc, address, lang, ip)
    else:
        log.info("reset.rate_limited by=%s", decision.limited_by)
    counted.labels("queued" if decision.allowed else "rate_limited").inc()
    return _private(page(request, "forgot_password_sent.html", senders=reset.SENDER_IDENTITIES))


async def _queue_request(svc: ResetServices, address: str, lang: str, ip: str) -> None:
    def work(session: Session) -> None:
        reset.request_reset(session, address, now=svc.clock(), language=lang, client_ip=ip)

    await in_transaction(svc, work)


# --- new password ------------------------------------------------------------------------


def _invalid_page(request: Request, status_code: int, reason_key: str) -> Response:
    reason = i18n.text(reason_key, _lang(request))
    return _private(page(request, "reset_password_invalid.html", status_code, reason=reason))


def _rule_rows(report: reset.PolicyReport, lang: str) -> list[dict[str, object]]:
    return [
        {"id": r.id, "n": r.n, "ok": r.ok, "text": reset.rule_text(r.id, lang, r.n)}
        for r in report.rules
    ]


def _reset_page(
    request: Request,
    token: str,
    email: str,
    status_code: int = 200,
    report: reset.PolicyReport | None = None,
) -> Response:
    svc, lang = deps.reset_services(request), _lang(request)
    shown = report or svc.policy.check("")
    refused = (
        [reset.rule_text(r.id, lang, r.n) for r in (*report.rules, *report.checks) if not r.ok]
        if report is not None
        else []
    )
    return _private(
        form_page(
            request,
            "reset_password.html",
            status_code,
            token=token,
            email=email,
            rules=_rule_rows(shown, lang),
            refused=refused,
        )
    )


@router.get("/reset-password", response_class=HTMLResponse)
async def reset_form(request: Request) -> Response:
    """Show the form for a usable token; never consumes it."""
    token = request.query_params.get("token", "")
    if not _TOKEN.fullmatch(token):
        return _invalid_page(request, 400, "invalid.malformed")
    svc = deps.reset_services(request)

    def work(session: Session) -> str | None:
        user = reset.user_for_token(session, token, now=svc.clock())
        return None if user is None else user.email

    email = await in_transaction(svc, work)
    if email is None:
        return _invalid_page(request, 410, "invalid.body")
    return _reset_page(request, token, email)


@router.post("/reset-password", dependencies=[Depends(csrf_protect)])
async def reset_submit(request: Request) -> Response:
    """Consume the token atomically and set the password; one concurrent POST wins."""
    form = await read_form(request)
    token = field(form, "token")
    password, confirmation = field(form, "password"), field(form, "confirmation")
    if not _TOKEN.fullmatch(token):
        return _invalid_page(request, 400, "invalid.malformed")
    if max(len(password), len(confirmation)) > MAX_PASSWORD_FIELD:
        return _invalid_page(request, 400, "input.field_too_long")
    svc = deps.reset_services(request)

    def work(session: Session) -> reset.ResetOutcome:
        return reset.complete_reset(
            session,
            token,
            password,
            confirmation,
            now=svc.clock(),
            policy=svc.policy,
            hasher=svc.hasher,
        )

    try:
        await in_transaction(svc, work)
    except reset.PolicyViolationError as exc:
        email = await _token_email(svc, token)
        return _reset_page(request, token, email, 400, exc.report)
    except reset.TokenError as exc:
        log.info("reset.token_refused reason=%s", exc.reason)
        return _invalid_page(request, 410, "invalid.body")
    return _private(RedirectResponse("/reset-password/done", status_code=303))


async def _token_email(svc: ResetServices, token: str) -> str:
    def work(session: Session) -> str:
        user = reset.user_for_token(session, token, now=svc.clock())
        return "" if user is None else user.email

    return await in_transaction(svc, work)


@router.get("/reset-password/done", response_class=HTMLResponse)
async def reset_done(request: Request) -> Response:
    return _private(page(request, "reset_password_done.html"))
