"""The answer that ends a browser's sign-in: the session cookie cleared, a new CSRF binding
(forms loaded while signed in no longer post) and the way back to ``/login``. Used by the
sign-out in the navigation and by the account page's session controls; the session's row is
ended by the caller.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from maildiag.web import deps
from maildiag.web.auth import clear_session_cookie
from maildiag.web.checklist_web import private
from maildiag.web.csrf import rotate_binding


def signed_out(request: Request) -> Response:
    """Redirect to ``/login?logged_out=1`` with the cookies of a signed-out browser."""
    response = RedirectResponse("/login?logged_out=1", status_code=303)
    settings = deps.settings(request)
    clear_session_cookie(response, settings)
    rotate_binding(response, settings)
    return private(response)
