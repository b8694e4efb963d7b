"""Server-rendered pages: the home page and the SPF page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from diag.errors import InputError
from maildiag.services.spf import run_spf
from maildiag.web import deps, i18n
from maildiag.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return page(request, "home.html")


@router.get("/spf", response_class=HTMLResponse)
async def spf_page(
    request: Request,
    domain: str = "",
    ip: str = "",
    sender: str = "",
    helo: str = "",
    lint: bool = False,
) -> HTMLResponse:
    form = {"domain": domain, "ip": ip, "sender": sender, "helo": helo, "lint": lint}
    if not domain and not ip:
        return page(request, "spf.html", form=form, report=None, error=None)
    lang = deps.lang_of(request)
    resolver = deps.new_resolver(request)
    try:
        view = await run_spf(resolver, domain, ip, sender, helo, lint=lint, lang=lang)
    except InputError as exc:  # the SPF form's reasons are worded in English, as its API's
        error = i18n.reason(exc, "en")
        return page(request, "spf.html", 400, form=form, report=None, error=error)
    return page(request, "spf.html", form=form, report=view, error=None)
