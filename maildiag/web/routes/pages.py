"""Server-rendered pages: the layout, the language choice, the error page, and the SPF page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from diag.errors import InputError
from maildiag.web import i18n
from maildiag.web.auth import secure_cookies
from maildiag.web.spf_service import run_spf
from reports import environment

router = APIRouter(include_in_schema=False)


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page in the request's language with the shared layout."""
    settings = request.app.state.maildiag.settings
    lang = i18n.lang_of(request, settings.lang)

    def t(key: str, **values: Any) -> str:
        return i18n.text(key, lang, **values)

    other = "en" if lang == "nb" else "nb"
    switch = "?" + urlencode(
        [*((k, v) for k, v in request.query_params.multi_items() if k != "lang"), ("lang", other)]
    )
    base = {"t": t, "lang": lang, "lab": settings.lab, "lang_switch": switch}
    body = environment().get_template(f"maildiag/{template}").render({**base, **context})
    response = HTMLResponse(body, status_code)
    if request.query_params.get("lang") in ("nb", "en"):
        response.set_cookie(
            "lang", lang, samesite="lax", httponly=True, secure=secure_cookies(settings)
        )
    return response


def error_page(request: Request, status_code: int, reason: str) -> HTMLResponse:
    return page(request, "error.html", status_code, code=status_code, reason=reason)


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
    state = request.app.state.maildiag
    lang = i18n.lang_of(request, state.settings.lang)
    try:
        view = await run_spf(state.new_resolver(), domain, ip, sender, helo, lint=lint, lang=lang)
    except InputError as exc:  # the SPF form's reasons are worded in English, as its API's
        error = i18n.reason(exc, "en")
        return page(request, "spf.html", 400, form=form, report=None, error=error)
    return page(request, "spf.html", form=form, report=view, error=None)
