"""Server-rendered pages: the layout in the request's language, the language switch, the
signed-in person's sign-out in the navigation, and the error page. Every page and router
renders through ``page`` (or ``form_page``, for a page with forms).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from maildiag.settings import Settings
from maildiag.web import csrf, deps, i18n
from maildiag.web.auth import SignedIn, optional_user, secure_cookies, signed_in
from maildiag.web.checklist_web import private
from reports import environment


def page(
    request: Request, template: str, status_code: int = 200, **context: object
) -> HTMLResponse:
    """Render a page in the request's language with the shared layout. For a signed-in
    person the layout's navigation holds the sign-out form, so the page carries a CSRF token
    (as ``form_page``)."""
    if _nav_user(request) is not None:
        return form_page(request, template, status_code, **context)
    return _render(request, template, status_code, **context)


def form_page(
    request: Request, template: str, status_code: int = 200, **context: object
) -> HTMLResponse:
    """``page()`` with a ``csrf_token`` in the context, setting the cookie when it is new."""
    token, fresh = csrf.token_for(request)
    response = _render(
        request, template, status_code, csrf_token=token, csrf_field=csrf.FIELD, **context
    )
    if fresh is not None:
        csrf.set_binding(response, deps.settings(request), fresh)
    return response


def _nav_user(request: Request) -> SignedIn | None:
    """Who the navigation shows as signed in: nobody in the sink-only app, whose sign-in is
    its own (``maildiag.web.sink_access``)."""
    return None if deps.sink_only(request) else signed_in(request)


def _render(
    request: Request, template: str, status_code: int = 200, **context: object
) -> HTMLResponse:
    settings = deps.settings(request)
    lang = deps.lang_of(request)

    def t(key: str, **values: object) -> str:
        return i18n.text(key, lang, **values)

    other = "en" if lang == "nb" else "nb"
    switch = "?" + urlencode(
        [*((k, v) for k, v in request.query_params.multi_items() if k != "lang"), ("lang", other)]
    )
    base = {
        "t": t,
        "lang": lang,
        "lab": settings.lab,
        "lang_switch": switch,
        "signed_in": _nav_user(request),
    }
    body = environment().get_template(f"maildiag/{template}").render({**base, **context})
    response = HTMLResponse(body, status_code)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        set_language_cookie(response, settings, lang)
    return response


def set_language_cookie(response: Response, settings: Settings, lang: str) -> None:
    """Remember ``lang`` as this browser's language (the switch, sign-in, the account page)."""
    response.set_cookie(
        "lang", lang, samesite="lax", httponly=True, secure=secure_cookies(settings)
    )


def error_page(request: Request, status_code: int, reason: str) -> HTMLResponse:
    return page(request, "error.html", status_code, code=status_code, reason=reason)


async def staff_page_user(
    request: Request, role: str, forbidden: str, *, home: str
) -> SignedIn | Response:
    """The signed-in user of a staff page with ``role`` or above, or the answer to give
    instead: a GET goes to ``/login?next=`` (this page) and other methods back to ``home``;
    a lower role gets a 403 page saying ``forbidden`` (a catalog key)."""
    user = await optional_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = home
        query = urlencode({"next": target})
        return private(RedirectResponse(f"/login?{query}", status_code=303))
    if not user.has_role(role):
        logging.getLogger(__name__).info("page.forbidden path=%s role=%s", home, user.role)
        return private(error_page(request, 403, i18n.text(forbidden, deps.lang_of(request))))
    return user
