"""``GET /api/v1/spf``: the SPF evaluation as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from diag.errors import InputError
from diag.names import MAX_NAME_LENGTH
from maildiag.services.spf import run_spf
from maildiag.web import deps, i18n
from reports import spf_json

router = APIRouter(tags=["spf"])


@router.get("/spf", summary="Evaluate SPF for a domain and client IP (RFC 7208 check_host)")
async def spf(
    request: Request,
    domain: Annotated[str, Query(max_length=MAX_NAME_LENGTH, examples=["platform.visma.com"])],
    ip: Annotated[str, Query(max_length=64, examples=["198.51.100.10"])],
    sender: Annotated[str, Query(max_length=320)] = "",
    helo: Annotated[str, Query(max_length=MAX_NAME_LENGTH)] = "",
    lint: bool = False,
) -> dict[str, Any]:  # the JSON schema of an open object
    resolver, lang = deps.new_resolver(request), deps.settings(request).lang
    try:
        view = await run_spf(resolver, domain, ip, sender, helo, lint=lint, lang=lang)
    except InputError as exc:
        raise HTTPException(status_code=400, detail=i18n.reason(exc, "en")) from exc
    return spf_json(view)
