"""``create_app``: the FastAPI application with its pages, JSON API, errors and metrics.

The app holds no state of its own beyond what ``AppState`` carries (built here, once, and
handed out by ``maildiag.web.deps``); everything that lasts lives in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import ipaddress
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from diag.dmarc import default_psl
from diag.resolver import Resolver
from maildiag.metrics import Metrics
from maildiag.services import build_services
from maildiag.services.accounts import build_reset_services
from maildiag.services.checklist import build_limits
from maildiag.services.readiness import readiness
from maildiag.settings import Settings
from maildiag.web import deps, render, sink_access, sink_render
from maildiag.web.auth import SignedInLookup, secure_cookies
from maildiag.web.deps import AppState, app_state, close_limits, state_of
from maildiag.web.hosts import add_host_check
from maildiag.web.observe import RequestObserver
from maildiag.web.render import error_page
from maildiag.web.routes import (
    account_pages,
    admin_accounts,
    api_spf,
    captcha_routes,
    check_pages,
    checklist_api,
    checklist_pages,
    pages,
    reports_api,
    reports_pages,
    reset_pages,
    scan_pages,
    sink_api,
    sink_pages,
    support_pages,
    watch_pages,
)
from maildiag.web.watch_metrics import WatchEvents

if TYPE_CHECKING:
    from maildiag.sink.service import SinkHandle

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "static"
# Swagger UI's script and style as fastapi-offline ships them (see docs/architecture.md).
DOCS_ASSETS = Path(str(importlib.resources.files("fastapi_offline") / "static"))
HSTS = "max-age=31536000; includeSubDomains"  # one year, and every subdomain


def build_state(
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    sink: SinkHandle | None = None,
    sink_only: bool = False,
) -> AppState:
    """The app's services and the web's own parts, each built once, here."""
    services = build_services(settings, resolver=resolver)
    accounts = build_reset_services(settings)
    return AppState(
        settings=settings,
        psl=services.psl,
        resolver=resolver,
        sink=sink,
        reset=accounts,
        limits=build_limits(settings),
        metrics=Metrics(accounts.engine),
        sink_only=sink_only,
    )


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """Security headers on every answer; behind trusted proxies, their view of the client
    (so every other part sees the client the proxy saw); the Host allowlist; outermost, the
    request id, the request metrics and the request's log event."""
    app.add_middleware(_SecurityHeaders)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    add_host_check(app, settings)
    app.add_middleware(RequestObserver)


def create_app(
    settings: Settings, *, resolver: Resolver | None = None, sink: SinkHandle | None = None
) -> FastAPI:
    """The application for ``settings``; ``resolver`` overrides DNS (tests, the lab);
    ``sink`` is the SMTP sink running beside it (its pages and API answer 503 without one)."""
    app = FastAPI(
        title="maildiag",
        summary="Why reset mails don't arrive, and how to prove it.",
        version="0.1.0",
        docs_url=None,  # our own /docs page, see _add_docs
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan,
    )
    app.state.maildiag = state = build_state(settings, resolver=resolver, sink=sink)
    state.metrics.registry.register(WatchEvents(lambda: state.reset.engine))
    app.add_middleware(SignedInLookup)  # innermost: it sees the client the proxies named
    _add_middleware(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_docs(app)
    app.include_router(pages.router)
    app.include_router(api_spf.router, prefix="/api/v1")
    app.include_router(sink_pages.router)
    app.include_router(sink_api.router, prefix="/api/v1")
    app.include_router(reset_pages.router)
    app.include_router(account_pages.router)
    app.include_router(captcha_routes.router)
    app.include_router(checklist_pages.router)
    app.include_router(support_pages.router)
    app.include_router(check_pages.router)
    app.include_router(checklist_api.router, prefix="/api/v1")
    app.include_router(reports_pages.router)
    app.include_router(reports_api.router, prefix="/api/v1")
    app.include_router(watch_pages.router)
    app.include_router(watch_pages.api, prefix="/api/v1")
    app.include_router(admin_accounts.router)
    app.include_router(scan_pages.pages)
    app.include_router(scan_pages.api, prefix="/api/v1")
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sink_access.SignInRequired, sink_access.sign_in_redirect)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus metrics, for the addresses in ``metrics_allow`` only (404 for others,
        as if there were none: the page is not advertised to the world)."""
        if not _client_in(request, settings.metrics_allow):
            raise StarletteHTTPException(404, "Not Found")
        exposition = app_state(request).metrics.exposition()
        return Response(exposition, media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """200 when the database, Redis (when configured) and the relay answer in time, else
        503 naming what failed. What went wrong is told only to ``metrics_allow`` clients."""
        checks = await readiness(settings, app_state(request).reset.engine)
        detailed = _client_in(request, settings.metrics_allow)
        body = {
            "status": "ready" if all(c.ok for c in checks) else "not_ready",
            "failed": [c.name for c in checks if not c.ok],
            "checks": {
                c.name: {"ok": c.ok, "seconds": round(c.seconds, 4)}
                | ({"error": c.error} if detailed and c.error else {})
                for c in checks
            },
        }
        return JSONResponse(body, status_code=200 if not body["failed"] else 503)

    _add_healthz(app)
    return app


def _add_healthz(app: FastAPI) -> None:
    """``/healthz``: the process answers (nothing else is checked)."""

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok\n")


def create_sink_app(settings: Settings, sink: SinkHandle) -> FastAPI:
    """An application with only the sink's pages and API (``maildiag sink``), and the form
    that takes the sink's API token to sign in."""
    app = FastAPI(
        title="maildiag sink", version="0.1.0", docs_url=None, redoc_url=None, lifespan=_lifespan
    )
    app.state.maildiag = build_state(settings, sink=sink, sink_only=True)
    _add_middleware(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_docs(app)
    app.include_router(sink_access.router)
    app.include_router(sink_pages.router)
    app.include_router(sink_api.router, prefix="/api/v1")
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sink_access.SignInRequired, sink_access.sign_in_redirect)
    _add_healthz(app)
    return app


def _add_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the installed fastapi-offline package, never a CDN, started
    by ``static/docs.js`` rather than an inline script, so it runs under the app's own CSP."""
    app.mount("/docs/assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return render.page(request, "docs.html", standalone=deps.sink_only(request))


def _client_in(request: Request, networks: list[str]) -> bool:
    """Whether the request's client (behind trusted proxies: the one they name) lies in one of
    ``networks``; an IPv4-mapped IPv6 client counts as its IPv4 address."""
    try:
        client = ipaddress.ip_address((request.client.host if request.client else "").split("%")[0])
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    return any(client in ipaddress.ip_network(net, strict=False) for net in networks)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    await asyncio.to_thread(default_psl)  # built before the first check needs it (~60 ms)
    yield
    state = state_of(app)
    await state.reset.aclose()
    await close_limits(app)
    sink_render.close_views(state)


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        state = app_state(request)
        if secure_cookies(state.settings):  # served over https: RFC 6797 §6.1
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'",
        )
        return response


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    reasons = [_reason(error) for error in exc.errors()]
    if _wants_json(request):
        return JSONResponse({"error": "invalid_input", "reasons": reasons}, status_code=422)
    return error_page(request, 422, "; ".join(reasons))


def _reason(error: Mapping[str, object]) -> str:
    loc = error.get("loc", ())
    where = ".".join(
        str(p) for p in (loc if isinstance(loc, tuple | list) else ()) if p not in ("body", "query")
    )
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _wants_json(request):
        return JSONResponse(
            {"error": "http_error", "reason": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
    return error_page(request, exc.status_code, str(exc.detail))
