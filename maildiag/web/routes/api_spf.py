"""``GET /api/v1/spf``: the SPF evaluation as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from maildiag.services.spf import SpfQueryError, run_spf
from maildiag.web import deps
from reports import spf_json

router = APIRouter(tags=["spf"])


@router.get("/spf", summary="Evaluate SPF for a domain and client IP (RFC 7208 check_host)")
async def spf(
    request: Request,
    domain: Annotated[str, Query(max_length=253, examples=["platform.visma.com"])],
    ip: Annotated[str, Query(max_length=64, examples=["198.51.100.10"])],
    sender: Annotated[str, Query(max_length=320)] = "",
    helo: Annotated[str, Query(max_length=253)] = "",
    lint: bool = False,
) -> dict[str, Any]:  # the JSON schema of an open object
    resolver, lang = deps.new_resolver(request), deps.settings(request).lang
    try:
        view = await run_spf(resolver, domain, ip, sender, helo, lint=lint, lang=lang)
    except SpfQueryError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return spf_json(view)
