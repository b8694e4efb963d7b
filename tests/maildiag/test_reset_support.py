"""Helpers for the reset-flow tests: the app in process on a throw-away SQLite database.

No tests here; the ``test_reset_*`` modules import ``reset_env`` and the constants.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime as dt
import functools
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

import reset
from maildiag.db import create_engine, migrate
from maildiag.services.accounts import ResetServices, build_reset_services
from maildiag.settings import Settings
from maildiag.web import create_app

CHEAP_HASHER = reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
SECRET_KEY = "Yq7dW3nR0sKx_8LmB2vTz-5hJcP4gNf9aUeE6iO1rQw"  # 43 base64url characters
OLD_PASSWORD = "Gammel#Passord1"
NEW_PASSWORD = "Nordlys#Fjell2026"
CLIENT_IP = "203.0.113.7"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "secret_key": SecretStr(SECRET_KEY),
        "altcha_max_number": 50,
        "allowed_hosts": ["testserver"],  # the test client's host
    }
    values.update(overrides)
    return Settings(**values)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


@dataclasses.dataclass
class Env:
    """The app, its services and a client with its own cookie jar."""

    app: FastAPI
    settings: Settings
    svc: ResetServices
    client: httpx.AsyncClient

    def new_client(self, ip: str = CLIENT_IP, **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kwargs)

    async def csrf(
        self, path: str = "/forgot-password", client: httpx.AsyncClient | None = None
    ) -> str:
        response = await (client or self.client).get(path)
        return csrf_of(response.text)

    async def captcha(self, client: httpx.AsyncClient | None = None) -> str:
        challenge = (await (client or self.client).get("/captcha/challenge")).json()
        return reset.solve_challenge(challenge)

    async def forgot(
        self, email: str, client: httpx.AsyncClient | None = None, **extra: str
    ) -> httpx.Response:
        client = client or self.client
        data = {
            "csrf_token": await self.csrf(client=client),
            "email": email,
            "altcha": await self.captcha(client),
        }
        data.update(extra)
        return await client.post("/forgot-password", data=data)

    def outbox(self) -> list[reset.OutboxMessage]:
        with self.svc.sessions() as session:
            return list(
                session.scalars(select(reset.OutboxMessage).order_by(reset.OutboxMessage.id))
            )

    def add_user(self, email: str, password: str = OLD_PASSWORD, role: str = "user") -> int:
        with self.svc.sessions() as session, session.begin():
            user = reset.create_user(
                session, email, password, hasher=CHEAP_HASHER, now=self.svc.clock(), role=role
            )
            return user.id

    def issue(self, email: str, *, ttl: dt.timedelta = reset.DEFAULT_TOKEN_TTL) -> str:
        with self.svc.sessions() as session, session.begin():
            user = reset.find_user(session, email)
            assert user is not None
            issued = reset.issue_token(session, user.id, now=self.svc.clock(), ttl=ttl)
            return issued.secret.reveal()

    def password_ok(self, email: str, password: str) -> bool:
        with self.svc.sessions() as session:
            return reset.authenticate(session, email, password, hasher=CHEAP_HASHER) is not None


@functools.cache
def _migrated_template() -> Path:
    """An empty database brought to head by the Alembic migrations (so they are proven to
    match the models), copied for every test."""
    folder = tempfile.mkdtemp(prefix="reset-template-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "template.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@contextlib.asynccontextmanager
async def reset_env(tmp_path: Path, **overrides: Any) -> AsyncIterator[Env]:
    settings = make_settings(tmp_path, **overrides)
    database = Path(settings.database.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_template(), database)
    engine = create_engine(settings.database)
    app = create_app(settings)
    svc = build_reset_services(settings, engine=engine, hasher=CHEAP_HASHER)
    app.state.maildiag.reset = svc
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 40000))
    # One X-Request-ID for the client's requests, as a proxy in front would send: the app
    # echoes it, so two answers compared whole do not differ by a fresh id each.
    headers = {"X-Request-ID": "test-client-0001"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        try:
            yield Env(app, settings, svc, client)
        finally:
            await svc.aclose()
            engine.dispose()
