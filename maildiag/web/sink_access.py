"""Who may see the sink's captured mail, which holds reset links (DESIGN.md, the sink's API).

Every sink page and API route needs one of: a signed-in session with the support or admin role
(the app's accounts: in the lab, and in a sink that shares the app's database);
``Authorization: Bearer <sink_api_token>``; or the sink's own sign-in cookie, which the
standalone sink's ``/sink/login`` form sets for the same token. The token acts with the admin
role. Anonymous callers get 401 (a page asked for with GET redirects to the sign-in form), a
signed-in user below support gets 403. Owns no state; never logs a token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import time
import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr

from maildiag.settings import Settings
from maildiag.web import deps, i18n
from maildiag.web.auth import optional_user, safe_next
from maildiag.web.csrf import csrf_protect, field, read_form
from maildiag.web.render import form_page

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)  # the sign-in form, in the sink-only app

TOKEN_ACTOR = "sink-api-token"  # noqa: S105 - the audit trail's name for the token, not one
SINK_COOKIE = "maildiag_sink"
LOGIN_PATH = "/sink/login"
STAFF_ROLES = ("support", "admin")
MAX_TOKEN_FIELD = 512
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="maildiag sink"'}


@dataclasses.dataclass(frozen=True)
class SinkViewer:
    """Who is looking at the sink: an account's address and role, or the token (admin)."""

    actor: str
    role: str

    @property
    def is_admin(self) -> bool:
        """True for the admin role and the token: they see reset links unmasked."""
        return self.role == "admin"


class SignInRequired(Exception):
    """An anonymous GET of a sink page: answered with a redirect to the sign-in form."""

    def __init__(self, target: str) -> None:
        self.target = target
        super().__init__(target)


def _settings(request: Request) -> Settings:
    settings: Settings = deps.settings(request)
    return settings


def _same(given: str, token: SecretStr | None) -> bool:
    if token is None or not given or len(given) > MAX_TOKEN_FIELD:
        return False
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


def _cookie_mac(settings: Settings, expires: int) -> str:
    """The sign-in cookie's MAC: under the secret key, over its expiry and the token's hash,
    so a new token (or a new key) ends every sink sign-in."""
    assert settings.sink_api_token is not None
    secret = settings.secret_key.get_secret_value().encode()
    key = hashlib.sha256(b"maildiag-sink-session\0" + secret).digest()
    token = hashlib.sha256(settings.sink_api_token.get_secret_value().encode()).hexdigest()
    return hmac.new(key, f"{expires}|{token}".encode(), hashlib.sha256).hexdigest()


def sink_cookie_value(settings: Settings, now: float) -> str:
    """A sign-in cookie value valid for ``session_hours`` from ``now``."""
    expires = int(now + settings.session_hours * 3600)
    return f"{expires}.{_cookie_mac(settings, expires)}"


def _cookie_valid(settings: Settings, value: str | None, now: float) -> bool:
    if not value or settings.sink_api_token is None or len(value) > 128:
        return False
    expires, _, mac = value.partition(".")
    if not expires.isdigit() or int(expires) < now:
        return False
    return hmac.compare_digest(mac, _cookie_mac(settings, int(expires)))


def _cookie_name(request: Request) -> str:
    return f"__Host-{SINK_COOKIE}" if request.url.scheme == "https" else SINK_COOKIE


async def _identify(request: Request) -> SinkViewer | None:
    """The viewer, None for an anonymous caller. Raises HTTPException 401 for a wrong token,
    403 for an account below the support role."""
    settings = _settings(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, given = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not _same(given.strip(), settings.sink_api_token):
            log.info("sink.auth refused=token path=%s", request.url.path)
            raise HTTPException(401, "that is not the sink's API token", headers=_CHALLENGE)
        return SinkViewer(TOKEN_ACTOR, "admin")
    if _cookie_valid(settings, request.cookies.get(_cookie_name(request)), time.time()):
        return SinkViewer(TOKEN_ACTOR, "admin")
    user = await optional_user(request)
    if user is None:
        return None
    if user.role not in STAFF_ROLES:
        log.info("sink.auth refused=role role=%s", user.role)
        lang = i18n.lang_of(request, settings.lang)
        raise HTTPException(403, i18n.text("sink.auth.forbidden", lang))
    return SinkViewer(user.email, user.role)


async def sink_viewer(request: Request) -> SinkViewer:
    """Dependency for the sink's API: the viewer; 401 with a Bearer challenge for nobody."""
    viewer = await _identify(request)
    if viewer is None:
        raise HTTPException(
            401,
            "sign in with the support or admin role, or send Authorization: Bearer <token>",
            headers=_CHALLENGE,
        )
    return viewer


async def sink_page_viewer(request: Request) -> SinkViewer:
    """Dependency for the sink's pages: the viewer; an anonymous GET is sent to sign in."""
    viewer = await _identify(request)
    if viewer is not None:
        return viewer
    if request.method == "GET":
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query)
    lang = i18n.lang_of(request, _settings(request).lang)
    raise HTTPException(401, i18n.text("sink.auth.required", lang), headers=_CHALLENGE)


def _admin(viewer: SinkViewer) -> SinkViewer:
    if not viewer.is_admin:
        log.info("sink.auth refused=admin_only actor_role=%s", viewer.role)
        raise HTTPException(403, "this needs the admin role or the sink's API token")
    return viewer


async def sink_admin(viewer: Annotated[SinkViewer, Depends(sink_viewer)]) -> SinkViewer:
    """Dependency: an admin or the token (changing policies, deleting mail); 403 otherwise."""
    return _admin(viewer)


async def sink_page_admin(
    viewer: Annotated[SinkViewer, Depends(sink_page_viewer)],
) -> SinkViewer:
    """``sink_admin`` for the pages."""
    return _admin(viewer)


async def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """Exception handler: send a ``SignInRequired`` page request to the sign-in form."""
    assert isinstance(exc, SignInRequired)
    standalone = deps.sink_only(request)
    wanted = {"next": exc.target}
    if request.query_params.get("lang") in i18n.LANGUAGES:
        wanted["lang"] = request.query_params["lang"]  # the sign-in form in the asked language
    query = urllib.parse.urlencode(wanted)
    response = RedirectResponse(f"{LOGIN_PATH if standalone else '/login'}?{query}", 303)
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_page(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    target = safe_next(request.query_params.get("next")) or "/sink"
    response = form_page(
        request, "sink_login.html", status_code, next=target, error=error, standalone=True
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(LOGIN_PATH, response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post(LOGIN_PATH, dependencies=[Depends(csrf_protect)])
async def login_submit(request: Request) -> Response:
    """Take the token, set the sign-in cookie (HttpOnly, SameSite=Strict) and go on."""
    form = await read_form(request)
    settings = _settings(request)
    if not _same(field(form, "token").strip(), settings.sink_api_token):
        log.info("sink.login ok=False")
        lang = i18n.lang_of(request, settings.lang)
        return _login_page(request, 401, error=i18n.text("sink.login.failed", lang))
    log.info("sink.login ok=True")
    response = RedirectResponse(safe_next(field(form, "next")) or "/sink", status_code=303)
    response.set_cookie(
        _cookie_name(request),
        sink_cookie_value(settings, time.time()),
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/sink/logout", dependencies=[Depends(csrf_protect)])
async def logout(request: Request) -> Response:
    """Forget the sign-in cookie."""
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(
        _cookie_name(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


__all__ = [
    "LOGIN_PATH",
    "TOKEN_ACTOR",
    "SignInRequired",
    "SinkViewer",
    "router",
    "sign_in_redirect",
    "sink_admin",
    "sink_cookie_value",
    "sink_page_admin",
    "sink_page_viewer",
    "sink_viewer",
]
