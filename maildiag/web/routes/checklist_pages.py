"""The self-service page ``/help/no-email``: an address in, the self-audience checklist out.

Rate limited per client IP and per submitted address. The self-service path never reads
accounts and never opens an SMTP session, so its answer cannot reveal whether an account
exists.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from diag.errors import InputError
from maildiag.services.checklist import check, probe_options
from maildiag.services.inputs import MAX_ADDRESS, clean_address
from maildiag.web import deps, i18n
from maildiag.web.checklist_web import client_ip, limited_reason, private, retry_after, senders_of
from maildiag.web.csrf import csrf_protect, field, read_form
from maildiag.web.render import form_page
from reports import checklist_view

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def _help_page(request: Request, status_code: int = 200, **context: object) -> Response:
    values: dict[str, object] = {
        "address": "",
        "error": None,
        "report": None,
        "senders": senders_of(request),
    }
    values.update(context)
    return private(form_page(request, "help_no_email.html", status_code, **values))


@router.get("/help/no-email", response_class=HTMLResponse)
async def help_form(request: Request) -> Response:
    return _help_page(request)


@router.post("/help/no-email", dependencies=[Depends(csrf_protect)])
async def help_submit(request: Request) -> Response:
    """The self-audience checklist; the same work for every well-formed address."""
    form = await read_form(request)
    given = field(form, "address")
    lang = deps.lang_of(request)
    shown = given[:MAX_ADDRESS]
    try:
        address = clean_address(given)
    except InputError as exc:
        return _help_page(request, 400, address=shown, error=i18n.reason(exc, lang))
    decision = await deps.limits(request).self_service.hit(client_ip(request), address)
    if not decision.allowed:
        log.info("checklist.rate_limited audience=self by=%s", decision.limited_by)
        response = _help_page(request, 429, address=shown, error=limited_reason(decision, lang))
        response.headers["Retry-After"] = retry_after(decision)
        return response
    settings = deps.settings(request)
    outcome = await check(
        settings,
        deps.new_resolver(request),
        address,
        audience="self",
        probe=probe_options(settings, smtp=False),
        sink=deps.sink(request),
    )
    domain = address.rpartition("@")[2]
    report = checklist_view(outcome.checklist, lang=lang)
    return _help_page(request, address=address, domain=domain, report=report)
