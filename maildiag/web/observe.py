"""The outermost middleware: each request's id, its count in the metrics by route template
and status, and one ``http.request`` log event.

The id is the incoming ``X-Request-ID`` when it is well-formed (``maildiag.logs``), else a
fresh one; it is set in the logging context for everything the request does and echoed in
the response's ``X-Request-ID`` header. Routes are counted by their template
(``/api/v1/sink/messages/{message_id}``), never the raw path, so the series stay few.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maildiag import logs
from maildiag.web.deps import state_of

log = logging.getLogger(__name__)
HEADER = "X-Request-ID"
UNMATCHED = "unmatched"


def route_of(scope: Scope, root_path: str = "") -> str:
    """The template of the route that answered (``/api/v1/sink/messages/{message_id}``),
    made from the path by putting each path parameter's name where its value stands, so it
    does not depend on how the routers were included; a mounted app (static files) as its
    prefix and ``{path}``; ``unmatched`` when no route did."""
    if "endpoint" not in scope:
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))
    if len(mounted) > len(root_path):
        return mounted[len(root_path) :] + "/{path}"
    path = str(scope.get("path", ""))
    for name, value in dict(scope.get("path_params") or {}).items():
        text = str(value).lstrip("/")  # a mount's {path} starts with its slash
        if "/" in text and path.endswith("/" + text):
            path = path[: -len(text)] + "{" + name + "}"
            continue
        head, slash, tail = path.rpartition("/" + text)
        if slash and (not tail or tail.startswith("/")):
            path = f"{head}/{{{name}}}{tail}"
    return path


class RequestObserver:
    """Pure ASGI, so the request id is set in the context the whole request runs in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.lower().encode(), b"")
        request_id = logs.request_id_for(given.decode("latin-1"))
        token = logs.REQUEST_ID.set(request_id)
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = route_of(scope, root_path)
            seconds = time.perf_counter() - started
            state_of(scope["app"]).metrics.requests.labels(
                scope["method"], route, str(status)
            ).inc()
            log.info(
                "http.request method=%s route=%s status=%s ms=%.1f",
                scope["method"],
                route,
                status,
                seconds * 1000,
            )
            logs.REQUEST_ID.reset(token)
