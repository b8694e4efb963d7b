"""Server-rendered pages: the layout in the request's language, the language switch, and the
error page. Every page and router renders through ``page``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from maildiag.web import deps, i18n
from maildiag.web.auth import secure_cookies
from reports import environment


def page(
    request: Request, template: str, status_code: int = 200, **context: object
) -> HTMLResponse:
    """Render a page in the request's language with the shared layout."""
    settings = deps.settings(request)
    lang = deps.lang_of(request)

    def t(key: str, **values: object) -> str:
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
