"""The receivers' reports as JSON under ``/api/v1/reports``, and uploads of report files.

Who may: reading (the sender domains, one domain's figures, the records behind them) needs a
signed-in session with the support role or above; ``POST /api/v1/reports`` (an import) and
the list of refused files need the admin role. 401 without a session, 403 below the role.
An upload is one report file as the request body (any of the formats ``maildiag reports
import`` reads), at most ``UPLOAD_LIMIT`` bytes, refused at its Content-Length before it is
read, and parsed and stored in a worker thread. Its content type must be one a cross-site
form cannot send, so a signed-in admin's browser cannot be made to upload.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response

from diag.errors import InputError
from diag.feedback import DEFAULT_LIMITS
from maildiag.feedback import Source
from maildiag.services import feedback
from maildiag.web import deps, i18n
from maildiag.web.auth import SignedIn, require_role
from maildiag.web.checklist_web import private

log = logging.getLogger(__name__)
router = APIRouter(prefix="/reports", tags=["reports"])
UPLOAD_LIMIT = DEFAULT_LIMITS.max_input_bytes  # one report file, as ``reports import`` takes it
MAX_NAME = 255
UPLOAD_TYPES = (  # none of them is one a cross-site form may send (Fetch: CORS-safelisted)
    "application/octet-stream",
    "application/gzip",
    "application/zip",
    "application/xml",
    "text/xml",
    "application/json",
    "application/tlsrpt+json",
    "application/tlsrpt+gzip",
    "message/rfc822",
    "application/mbox",
)
Days = Annotated[int, Query(ge=1, le=feedback.MAX_DAYS, description="whole UTC days up to today")]
Staff = Annotated[SignedIn, Depends(require_role("support"))]


def _invalid(error: InputError) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_input", "reasons": [i18n.reason(error, "en")]}, status_code=422
    )


@router.get("/domains", summary="Sender domains the receivers reported on")
async def domains(request: Request, user: Staff, days: Days = feedback.DEFAULT_DAYS) -> Response:
    """The From domains reported on in the last ``days`` days, most messages first."""
    period = feedback.period_of(days)
    found = await asyncio.to_thread(feedback.sender_domains, deps.database(request), period)
    body = {
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "domains": [{"domain": d.domain, "messages": d.messages} for d in found],
    }
    return private(JSONResponse(body))


@router.get("/domains/{domain}", summary="One sender domain's figures by day")
async def domain(
    request: Request,
    user: Staff,
    domain: Annotated[str, PathParam(min_length=1, max_length=feedback.MAX_DOMAIN)],
    days: Days = feedback.DEFAULT_DAYS,
) -> Response:
    """Messages by disposition and the DKIM, SPF and DMARC pass rates per day, the top source
    IPs (``ours`` or not), the receivers that quarantined or rejected, and TLS sessions and
    failures, for ``domain`` over the last ``days`` days."""
    try:
        name = feedback.clean_domain(domain)
    except InputError as exc:
        return _invalid(exc)
    report = await asyncio.to_thread(
        feedback.domain_report,
        deps.database(request),
        deps.settings(request),
        name,
        feedback.period_of(days),
    )
    return private(JSONResponse(report.to_json()))


@router.get("/records", summary="The records behind the figures")
async def records(
    request: Request,
    user: Staff,
    days: Days = feedback.DEFAULT_DAYS,
    domain: Annotated[str | None, Query(max_length=feedback.MAX_DOMAIN)] = None,
    source_ip: Annotated[str | None, Query(max_length=45)] = None,
    receiver: Annotated[str | None, Query(max_length=feedback.MAX_NAME)] = None,
) -> Response:
    """The aggregate records of ``domain``, from ``source_ip``, reported by ``receiver``
    (any combination), most messages first, at most 200."""
    try:
        found = await asyncio.to_thread(
            feedback.record_rows,
            deps.database(request),
            feedback.period_of(days),
            domain=domain,
            source_ip=source_ip,
            receiver=receiver,
        )
    except InputError as exc:
        return _invalid(exc)
    return private(JSONResponse({"records": [r.to_json() for r in found]}))


@router.get("/rejected", summary="Report files refused last (admin)")
async def rejected(
    request: Request, user: Annotated[SignedIn, Depends(require_role("admin"))]
) -> Response:
    """The report files or parts refused last, newest first (at most 50), each with its
    reason code and the parser's detail."""
    found = await asyncio.to_thread(feedback.rejected_uploads, deps.database(request))
    return private(JSONResponse({"rejected": [r.to_json() for r in found]}))


async def _upload(request: Request) -> bytes:
    """The request body: a report file of a known, bounded length and an allowed type."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in UPLOAD_TYPES:
        raise HTTPException(415, f"send the file as one of: {', '.join(UPLOAD_TYPES)}")
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "send a Content-Length header")
    if int(length) > UPLOAD_LIMIT:
        raise HTTPException(413, f"the upload is larger than {UPLOAD_LIMIT} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > UPLOAD_LIMIT:
            raise HTTPException(413, f"the upload is larger than {UPLOAD_LIMIT} bytes")
    return bytes(body)


@router.post(
    "",
    summary="Import one report file (admin)",
    responses={401: {}, 403: {}, 411: {}, 413: {}, 415: {}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in UPLOAD_TYPES
            },
        }
    },
)
async def upload(
    request: Request,
    user: Annotated[SignedIn, Depends(require_role("admin"))],
    name: Annotated[str, Query(max_length=MAX_NAME, description="the file's name")] = "upload",
) -> Response:
    """Import the DMARC aggregate or failure report or SMTP TLS report in the body (XML,
    JSON, gzip, zip, a message or an mbox). A refused file is kept as a rejected upload and
    the answer says why; a report already stored is counted as a duplicate."""
    data = await _upload(request)
    source = Source(name=f"api:{name}", data=data)
    summary = await asyncio.to_thread(feedback.import_sources, deps.database(request), [source])
    log.info(
        "reports.upload accepted=%d duplicate=%d rejected=%d",
        summary.accepted,
        summary.duplicates,
        len(summary.refused),
    )
    return private(JSONResponse(summary.to_json()))
