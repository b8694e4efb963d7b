"""``/admin/accounts``: the admin's account page: list and search with paging, add an account
(it gets the set-password mail), change the role, disable or enable, delete, import a CSV
upload, and the audit of every change (who, what, when).

Admin role only: without a sign-in the browser is sent to ``/login?next=…``; any other role
gets a 404, as if there were no page. Every form is CSRF-protected; the upload is capped at
MAX_UPLOAD bytes and read off the event loop. An admin cannot disable, demote or delete the
account they are signed in with.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable
from typing import BinaryIO

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from diag.errors import InputError
from maildiag.services import account_admin as admin
from maildiag.web import deps, i18n
from maildiag.web.auth import SignedIn, optional_user
from maildiag.web.checklist_web import private
from maildiag.web.csrf import check_form, csrf_protect, field, read_form
from maildiag.web.render import error_page, form_page

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

PATH = "/admin/accounts"
ROLE = "admin"
MAX_UPLOAD = 16 * 1024 * 1024  # about 300,000 rows; larger files go through the CLI
MAX_SEARCH = 254
MAX_SHOWN_REFUSALS = 50
CHANGES = ("role:user", "role:support", "role:admin", "disable", "enable", "delete")


async def _admin(request: Request) -> SignedIn | Response:
    """The signed-in admin, or the answer to give instead (login redirect, or 404)."""
    user = await optional_user(request)
    if user is None:
        query = urllib.parse.urlencode({"next": PATH})
        return private(RedirectResponse(f"/login?{query}", status_code=303))
    if not user.has_role(ROLE):
        log.info("admin.refused role=%s", user.role)
        return private(error_page(request, 404, "Not Found"))
    return user


def _int(text: str, default: int) -> int:
    return int(text) if text.isdigit() and len(text) < 7 else default


async def _page(
    request: Request, user: SignedIn, status_code: int = 200, /, **context: object
) -> Response:
    search = request.query_params.get("q", "")[:MAX_SEARCH].strip()
    wanted = _int(request.query_params.get("page", ""), 1) or 1
    svc = deps.reset_services(request)
    rows, total = await asyncio.to_thread(admin.account_page, svc, search=search, page=wanted)
    trail = await asyncio.to_thread(admin.audit_trail, svc)
    pages = max(1, -(-total // admin.PAGE_SIZE))
    values: dict[str, object] = {
        "user": user,
        "search": search,
        "rows": rows,
        "total": total,
        "page_number": min(wanted, pages),
        "pages": pages,
        "trail": trail,
        "changes": CHANGES,
        "roles": ("user", "support", "admin"),
        "notice": None,
        "error": None,
        "refusals": [],
        "max_upload_mib": MAX_UPLOAD // (1024 * 1024),
    }
    values.update(context)
    return private(form_page(request, "admin_accounts.html", status_code, **values))


@router.get(PATH, response_class=HTMLResponse)
async def accounts(request: Request) -> Response:
    user = await _admin(request)
    if isinstance(user, Response):
        return user
    return await _page(request, user)


async def _done(
    request: Request, user: SignedIn, work: Callable[[], None], notice: str
) -> Response:
    """Run ``work`` off the loop; the page with ``notice``, or 400 with the reason."""
    lang = deps.lang_of(request)
    try:
        await asyncio.to_thread(work)
    except InputError as exc:
        return await _page(request, user, 400, error=i18n.reason(exc, lang))
    return await _page(request, user, notice=notice)


@router.post(f"{PATH}/add", dependencies=[Depends(csrf_protect)])
async def add(request: Request) -> Response:
    user = await _admin(request)
    if isinstance(user, Response):
        return user
    form, lang = await read_form(request), deps.lang_of(request)
    svc = deps.reset_services(request)
    try:
        wanted = admin.invitation(field(form, "address"), field(form, "role"), field(form, "lang"))
    except InputError as exc:
        return await _page(request, user, 400, error=i18n.reason(exc, lang))
    notice = i18n.text("accounts.cli.added", lang, address=wanted.email, role=wanted.role)
    return await _done(
        request, user, lambda: admin.add_account(svc, wanted, actor=user.email), notice
    )


@router.post(f"{PATH}/change", dependencies=[Depends(csrf_protect)])
async def change(request: Request) -> Response:
    user = await _admin(request)
    if isinstance(user, Response):
        return user
    form, lang = await read_form(request), deps.lang_of(request)
    address, action = field(form, "address")[:MAX_SEARCH], field(form, "change")
    svc = deps.reset_services(request)
    if action not in CHANGES:
        return await _page(request, user, 400, error=i18n.text("admin.bad_change", lang))
    if address.casefold() == user.email.casefold():
        return await _page(request, user, 400, error=i18n.text("admin.not_yourself", lang))
    kind, _, role = action.partition(":")
    if kind == "role":
        notice = i18n.text("accounts.cli.role", lang, address=address, role=role)
        return await _done(
            request, user, lambda: admin.change_role(svc, address, role, actor=user.email), notice
        )
    run = {
        "disable": admin.disable_account,
        "enable": admin.enable_account,
        "delete": admin.delete_account,
    }[kind]
    notice = i18n.text(f"accounts.cli.{kind}", lang, address=address)
    return await _done(request, user, lambda: run(svc, address, actor=user.email), notice)


@router.post(f"{PATH}/import")
async def upload(request: Request) -> Response:
    """A CSV upload (multipart, one file), imported as ``maildiag accounts import`` does."""
    user = await _admin(request)
    if isinstance(user, Response):
        return user
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "an upload needs a Content-Length")
    if int(length) > MAX_UPLOAD:
        raise HTTPException(413, f"the upload is larger than {MAX_UPLOAD} bytes")
    form = await request.form(max_files=1, max_fields=5)
    try:
        check_form(request, form)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            error = i18n.text("admin.no_file", deps.lang_of(request))
            return await _page(request, user, 400, error=error)
        return await _imported(request, user, upload)
    finally:
        await form.close()


async def _imported(request: Request, user: SignedIn, upload: UploadFile) -> Response:
    lang = deps.lang_of(request)
    refused: list[admin.BadRow] = []
    name = (upload.filename or "upload.csv")[-100:]

    def keep(bad: admin.BadRow) -> None:  # the first ones are shown; all are counted
        if len(refused) < MAX_SHOWN_REFUSALS:
            refused.append(bad)

    def work(handle: BinaryIO) -> admin.ImportReport:
        svc = deps.reset_services(request)
        return admin.import_accounts(svc, handle, actor=user.email, source=name, on_refused=keep)

    report = await asyncio.to_thread(work, upload.file)
    notice = i18n.text(
        "accounts.cli.imported",
        lang,
        added=report.added,
        unchanged=report.unchanged,
        refused=report.refused,
    )
    shown = [(bad.line, i18n.reason(bad.reason, lang)) for bad in refused]
    return await _page(request, user, notice=notice, refusals=shown)
