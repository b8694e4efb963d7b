"""A bulk scan's page ``/scans/{id}`` and its JSON ``/api/v1/scans/{id}``: progress, the
summary by status, provider and problem (with its chart), and the results a page at a time.

Admins only: a scan lists a company's customer domains. Without a login the page sends the
browser to ``/login?next=…`` and the API answers 401; other roles get 403. The page follows
the progress by polling the JSON from ``/static/scan.js`` (no inline script under the CSP);
without script it shows the state it was loaded in.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from maildiag.services.scans import ScanStatus, scan_status
from maildiag.web import deps, i18n
from maildiag.web.auth import SignedIn, optional_user, require_role
from maildiag.web.checklist_web import private
from maildiag.web.render import error_page, page
from reports import JsonObject, scan_json

log = logging.getLogger(__name__)
pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["scans"])
ROLE = "admin"
ScanId = Annotated[int, Path(ge=1, le=2**53)]
PageNo = Annotated[int, Query(ge=1, le=10_000_000)]


async def _status(request: Request, scan_id: int, page_no: int = 1) -> ScanStatus | None:
    engine = deps.reset_services(request).engine
    lang = deps.lang_of(request)
    return await asyncio.to_thread(scan_status, engine, scan_id, lang=lang, page=page_no)


@pages.get("/scans/{scan_id}", response_class=HTMLResponse)
async def scan_page(request: Request, scan_id: ScanId, page_no: PageNo = 1) -> Response:
    """The scan's progress, summary and one page of results."""
    user = await optional_user(request)
    lang = deps.lang_of(request)
    if user is None:
        query = urllib.parse.urlencode({"next": request.url.path})
        return private(RedirectResponse(f"/login?{query}", status_code=303))
    if not user.has_role(ROLE):
        log.info("scans.forbidden role=%s", user.role)
        return private(error_page(request, 403, i18n.text("scan.forbidden", lang)))
    found = await _status(request, scan_id, page_no)
    if found is None:
        return private(error_page(request, 404, i18n.text("scan.not_found", lang)))
    return private(page(request, "scan.html", scan=found, summary=found.summary))


@api.get("/scans/{scan_id}", summary="A bulk scan's progress and summary (admin role)")
async def scan_api(
    request: Request, scan_id: ScanId, _: Annotated[SignedIn, Depends(require_role(ROLE))]
) -> JSONResponse:
    """``{id, source, state, total, done, created_at, finished_at, summary}``; the summary
    counts the domains done so far (as ``maildiag scan --format jsonl`` ends with)."""
    found = await _status(request, scan_id)
    if found is None:
        raise HTTPException(404, "no such scan")
    info = found.info
    body: JsonObject = {
        "id": info.id,
        "source": info.source,
        "state": info.state,
        "total": info.total,
        "done": info.done,
        "created_at": info.created_at.isoformat(),
        "finished_at": info.finished_at.isoformat() if info.finished_at else None,
        "summary": scan_json(found.summary),
    }
    return JSONResponse(body)
