"""The support console ``/support``: find a user by address, see the account, its reset
requests and delivery log, run the support checklist (optionally with pasted headers or a
bounce; in the lab with the sink's verdicts on our test sends) and download it as standalone
HTML, Markdown or JSON. Its probe asks RCPT TO only for an address with an account, unless
an admin runs it (``maildiag.web.probing``).

Needs a login with the support role (admins too): without one the browser is sent to
``/login?next=…``; a lower role gets a 403 page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from diag.checklist import AccountFacts, Checklist
from diag.errors import InputError
from maildiag.services.accounts import AccountInfo, account_lookup
from maildiag.services.checklist import check, lab_test_sends
from maildiag.services.inputs import MAX_ADDRESS, clean_address
from maildiag.web import deps, i18n
from maildiag.web.auth import SignedIn
from maildiag.web.checklist_web import MAX_PASTE, private, testsend_section
from maildiag.web.csrf import csrf_protect, field, read_form
from maildiag.web.probing import rcpt_rule, smtp_probe
from maildiag.web.render import form_page, staff_page_user
from reports import checklist_json, checklist_view, render_checklist

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

ROLE = "support"
EXPORTS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {  # format -> (media type, file suffix)
        "html": ("text/html; charset=utf-8", "html"),
        "markdown": ("text/markdown; charset=utf-8", "md"),
        "json": ("application/json", "json"),
    }
)


async def _staff(request: Request) -> SignedIn | Response:
    """The logged-in support user, or the answer to give instead (login redirect or 403)."""
    return await staff_page_user(request, ROLE, "support.forbidden", home="/support")


async def _lookup(request: Request, address: str) -> tuple[AccountFacts, AccountInfo | None]:
    return await account_lookup(deps.reset_services(request), address)


def _console(request: Request, status_code: int = 200, /, **context: object) -> Response:
    values: dict[str, object] = {
        "address": "",
        "error": None,
        "facts": None,
        "info": None,
        "report": None,
        "headers": "",
        "bounce": "",
        "max_paste": MAX_PASTE,
        "testsend": None,
    }
    values.update(context)
    return private(form_page(request, "support.html", status_code, **values))


@router.get("/support", response_class=HTMLResponse)
async def console(request: Request, address: str = "") -> Response:
    """The search form; with ``?address=`` the account facts and the checklist form."""
    user = await _staff(request)
    if isinstance(user, Response):
        return user
    if not address:
        return _console(request, user=user)
    try:
        wanted = clean_address(address)
    except InputError as exc:
        shown = address[:MAX_ADDRESS]
        return _console(
            request, 400, user=user, address=shown, error=i18n.reason(exc, deps.lang_of(request))
        )
    facts, info = await _lookup(request, wanted)
    log.info("support.lookup exists=%s", facts.exists)
    return _console(request, user=user, address=wanted, facts=facts, info=info)


@router.post("/support/checklist", dependencies=[Depends(csrf_protect)])
async def run(request: Request) -> Response:
    """Run the support checklist; ``format`` page (default), html, markdown or json."""
    user = await _staff(request)
    if isinstance(user, Response):
        return user
    form = await read_form(request)
    given, headers, bounce = field(form, "address"), field(form, "headers"), field(form, "bounce")
    fmt = field(form, "format") or "page"
    lang = deps.lang_of(request)
    context: dict[str, object] = {
        "user": user,
        "address": given[:MAX_ADDRESS],
        "headers": headers,
        "bounce": bounce,
    }
    try:
        address = clean_address(given)
        if fmt not in ("page", *EXPORTS):
            raise InputError("support.bad_format")
        if max(len(headers.encode()), len(bounce.encode())) > MAX_PASTE:
            raise InputError("support.paste_too_long", n=MAX_PASTE // 1024)
    except InputError as exc:
        return _console(request, 400, error=i18n.reason(exc, lang), **context)
    lookup = asyncio.ensure_future(_lookup(request, address))  # beside the checklist's lookups

    async def account() -> AccountFacts:
        return (await lookup)[0]

    state = deps.app_state(request)
    try:
        result = await check(
            state.settings,
            state.new_resolver(),
            address,
            audience="support",
            rcpt=rcpt_rule(user),
            probe=smtp_probe(request, user, ROLE),
            account=account,
            headers=headers.encode() if headers.strip() else None,
            bounce=bounce.encode() if bounce.strip() else None,
            test_send=lambda: lab_test_sends(state, address),
            sink=state.sink,
            reports=state.reset.engine,
        )
        facts, info = await lookup
    finally:
        lookup.cancel()  # only when the checklist failed before it was read
    if fmt != "page":
        return _export(result.checklist, fmt, lang)
    report = checklist_view(result.checklist, lang=lang)
    context["address"] = address
    section = testsend_section(result.test_sends, lang)
    return _console(request, facts=facts, info=info, report=report, testsend=section, **context)


def _export(checklist: Checklist, fmt: str, lang: str) -> Response:
    media, suffix = EXPORTS[fmt]
    local, _, domain = checklist.address.partition("@")
    name = "".join(c if c.isalnum() or c in "-." else "_" for c in f"{local}_at_{domain}")
    disposition = f'attachment; filename="checklist-{name}.{suffix}"'
    headers = {"Content-Disposition": disposition}
    if fmt == "json":
        data = checklist_json(checklist_view(checklist, lang=lang))
        response: Response = JSONResponse(data, headers=headers)
    else:
        text = render_checklist(checklist_view(checklist, lang=lang), fmt=fmt)
        response = Response(text, media_type=media, headers=headers)
    return private(response)
