"""CSRF protection for every form: a signed double-submit token tied to a cookie.

OWASP CSRF Prevention Cheat Sheet, "signed double-submit cookie": the ``maildiag_csrf`` cookie
holds a random binding value; the form's ``csrf_token`` is ``nonce.HMAC(secret_key, binding,
nonce)``. A POST passes only when the cookie is present and the token's MAC matches that
cookie under the server's key. On https the cookie carries the ``__Host-`` prefix, so a
sibling subdomain cannot plant one. Owns no state; the key comes from the settings.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from fastapi import HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from maildiag.settings import Settings
from maildiag.web import deps, i18n
from maildiag.web.auth import cookie_name, set_host_cookie

log = logging.getLogger(__name__)

CSRF_COOKIE = "maildiag_csrf"
FIELD = "csrf_token"
MAX_FORM_BYTES = 64 * 1024  # every form here is a few short fields
_MAX_TOKEN = 200


class CsrfError(Exception):
    """A POST without a valid token. ``reason``: missing_cookie, missing_token, malformed,
    mismatch."""

    def __init__(self, *, reason: str) -> None:
        self.reason = reason
        super().__init__(f"CSRF check failed: {reason}")


def _mac(key: bytes, binding: str, nonce: str) -> str:
    message = f"{len(binding)}!{binding}!{len(nonce)}!{nonce}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _key(request: Request) -> bytes:
    secret: str = deps.settings(request).secret_key.get_secret_value()
    return hashlib.sha256(b"maildiag-csrf\0" + secret.encode()).digest()


def make_token(key: bytes, binding: str) -> str:
    """A fresh token for the cookie value ``binding``; pure apart from the nonce."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_mac(key, binding, nonce)}"


def check_token(key: bytes, binding: str | None, token: str | None) -> None:
    """Raises CsrfError unless ``token`` was made for ``binding`` under ``key``."""
    if not binding:
        raise CsrfError(reason="missing_cookie")
    if not token:
        raise CsrfError(reason="missing_token")
    nonce, dot, mac = token.partition(".")
    if not dot or not nonce or len(token) > _MAX_TOKEN:
        raise CsrfError(reason="malformed")
    if not hmac.compare_digest(mac, _mac(key, binding, nonce)):
        raise CsrfError(reason="mismatch")


def _cookie(request: Request) -> str:
    return cookie_name(deps.settings(request), CSRF_COOKIE)


def token_for(request: Request) -> tuple[str, str | None]:
    """A token for the forms of the page answering ``request``, and the new binding value to
    set as the cookie (None when the browser's cookie is kept)."""
    binding = request.cookies.get(_cookie(request))
    fresh = None if binding and len(binding) <= _MAX_TOKEN else secrets.token_urlsafe(32)
    return make_token(_key(request), fresh or binding or ""), fresh


def set_binding(response: Response, settings: Settings, binding: str) -> None:
    """Give the browser the binding value ``binding`` (from ``token_for``)."""
    set_host_cookie(response, settings, CSRF_COOKIE, binding)


def rotate_binding(response: Response, settings: Settings) -> None:
    """Give the browser a new binding value (at login and logout): tokens made before, for
    the other side of the sign-in, no longer pass (OWASP: renew the token on a privilege
    change)."""
    set_binding(response, settings, secrets.token_urlsafe(32))


async def read_form(request: Request) -> FormData:
    """The posted form, bounded in size; raises HTTPException 413 for an oversized body."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    return await request.form(max_files=0, max_fields=20)


def field(form: FormData, name: str) -> str:
    """A text field of ``form``; "" when it is absent or not text."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def csrf_protect(request: Request) -> None:
    """Dependency for every POST form: 403 with the reason when the token does not check out."""
    check_form(request, await read_form(request))


def check_form(request: Request, form: FormData) -> None:
    """The check of ``csrf_protect`` on a form already read (an upload, read with its own
    limits); raises HTTPException 403 with the reason."""
    try:
        check_token(_key(request), request.cookies.get(_cookie(request)), field(form, FIELD))
    except CsrfError as exc:
        log.info("csrf.refused path=%s reason=%s", request.url.path, exc.reason)
        lang = deps.lang_of(request)
        detail = i18n.text("csrf.refused", lang, reason=i18n.text(f"csrf.{exc.reason}", lang))
        raise HTTPException(403, detail) from exc
