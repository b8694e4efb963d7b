"""What a request handler may reach of the application: the one place that reads
``request.app.state``. Everything here is built once, in ``create_app``, and only handed out.

``AppState`` is the app's ``Services`` plus what only the web needs: the account pages'
services, the checklist's rate limiters, metrics and the sink-only flag.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import sqlalchemy as sa
from fastapi import FastAPI, Request

from diag.resolver import Resolver
from maildiag.metrics import Metrics
from maildiag.services import Services
from maildiag.services.accounts import ResetServices
from maildiag.services.checklist import Limits
from maildiag.settings import Settings
from maildiag.web import i18n
from maildiag.web.sink_render import MessageViews, views_of

if TYPE_CHECKING:
    from maildiag.sink.service import SinkHandle
    from smtp_sink import SinkStore


@dataclasses.dataclass(kw_only=True)
class AppState(Services):
    """The app's services and the web's own parts. Mutable on purpose: tests and the
    benchmark swap a part (the resolver, the account services, the sink)."""

    reset: ResetServices
    limits: Limits
    metrics: Metrics
    sink_only: bool = False  # the sink-only app (``maildiag sink``), with its own sign-in
    sink_views: MessageViews | None = None  # the sink pages' renderers, made on first view

    def new_resolver(self) -> Resolver:
        """A resolver for one use, with each query's latency in the metrics."""
        return self.metrics.timed(super().new_resolver())


def app_state(request: Request) -> AppState:
    """The application's state."""
    return state_of(request.app)


def state_of(app: FastAPI) -> AppState:
    """``app``'s state (for its lifespan and its middleware)."""
    found: AppState = app.state.maildiag
    return found


def settings(request: Request) -> Settings:
    return app_state(request).settings


def lang_of(request: Request) -> str:
    """The request's language: ``?lang=``, the cookie, or the configured default."""
    return i18n.lang_of(request, settings(request).lang)


def new_resolver(request: Request) -> Resolver:
    """A resolver for this request (its cache and log belong to it)."""
    return app_state(request).new_resolver()


def reset_services(request: Request) -> ResetServices:
    """The account pages' services."""
    return app_state(request).reset


def database(request: Request) -> sa.Engine:
    """The app's database (accounts, the sink's mail, the receivers' reports)."""
    return app_state(request).reset.engine


def limits(request: Request) -> Limits:
    """The checklist's rate limiters."""
    return app_state(request).limits


def sink(request: Request) -> SinkHandle | None:
    """The SMTP sink running in this process, if any."""
    return app_state(request).sink


def sink_only(request: Request) -> bool:
    """Whether this is the sink-only app, with its own sign-in."""
    return app_state(request).sink_only


async def close_limits(app: FastAPI) -> None:
    """Release the limiters' connections and tasks (for the application's shutdown)."""
    await state_of(app).limits.aclose()


def sink_store(request: Request) -> SinkStore:
    """The store of the sink running in this process. Raises LookupError without one (the
    sink's routes answer 503 before they get here)."""
    handle = sink(request)
    if handle is None:
        raise LookupError("no sink runs in this process")
    return handle.store


def sink_views(request: Request) -> MessageViews:
    """The sink pages' renderers (``maildiag.web.sink_render.views_of``)."""
    return views_of(app_state(request))
