"""Lab demo accounts, ``maildiag migrate`` and ``maildiag worker``, and role checks."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends
from sqlalchemy import inspect
from sqlalchemy.orm import sessionmaker

import reset
from maildiag.cli import main
from maildiag.db import create_engine, migrate
from maildiag.lab.kit import LAB_PASSWORD
from maildiag.lab.seed import lab_accounts, prepare_lab_database, seed_lab_accounts
from maildiag.lab.zones import DEMO_DOMAINS
from maildiag.web.auth import SignedIn, require_role
from tests.maildiag.test_reset_support import (
    CHEAP_HASHER,
    OLD_PASSWORD,
    SECRET_KEY,
    make_settings,
    reset_env,
)

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_lab_accounts_cover_every_demo_domain_and_the_staff() -> None:
    accounts = dict(lab_accounts())
    assert {f"kari@{d}" for d in DEMO_DOMAINS} <= set(accounts)
    assert accounts["support@visma.example"] == "support"
    assert accounts["admin@visma.example"] == "admin"
    assert {role for address, role in accounts.items() if address.startswith("kari@")} == {"user"}


def test_seeding_is_idempotent_and_uses_the_lab_password(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    factory = sessionmaker(engine)
    with factory() as session, session.begin():
        created = seed_lab_accounts(session, hasher=CHEAP_HASHER, now=NOW)
    assert len(created) == len(DEMO_DOMAINS) + 2
    with factory() as session, session.begin():
        assert seed_lab_accounts(session, hasher=CHEAP_HASHER, now=NOW) == []
        user = reset.authenticate(
            session, "kari@kunde-ok.example", LAB_PASSWORD, hasher=CHEAP_HASHER
        )
        assert user is not None
        assert (user.role, user.language) == ("user", "nb")
    engine.dispose()


def test_demo_accounts_are_refused_outside_the_lab(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only created in the lab"):
        prepare_lab_database(make_settings(tmp_path))
    assert not (tmp_path / "maildiag.sqlite3").exists()


def test_migrate_command_creates_the_schema(tmp_path: Path) -> None:
    assert main(["migrate", "--data", str(tmp_path)]) == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'maildiag.sqlite3'}")
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"users", "sessions", "reset_tokens", "outbox", "delivery_log"} <= tables


def test_migrate_command_bad_revision_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--data", str(tmp_path), "--revision", "nope"]) == 2
    assert "cannot migrate" in capsys.readouterr().err


def test_worker_command_refuses_an_unknown_reset_sender(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILDIAG_RESET_SENDER", "nobody@else.example")
    monkeypatch.setenv("MAILDIAG_SECRET_KEY", SECRET_KEY)
    assert main(["worker", "--data", str(tmp_path)]) == 2
    assert "reset_sender" in capsys.readouterr().err


def test_worker_command_runs_and_stops_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILDIAG_SECRET_KEY", SECRET_KEY)
    migrate_engine = create_engine(f"sqlite:///{tmp_path / 'maildiag.sqlite3'}")
    migrate(migrate_engine)
    migrate_engine.dispose()
    with subprocess.Popen(
        [sys.executable, "-m", "maildiag", "worker", "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("maildiag worker: relay")
        process.terminate()
        assert process.wait(timeout=15) == 0


async def test_require_role(tmp_path: Path) -> None:
    async with reset_env(tmp_path) as env:
        env.add_user("kari@kunde-ok.example")
        env.add_user("support@visma.example", role="support")
        env.add_user("admin@visma.example", role="admin")

        async def who(
            user: Annotated[SignedIn, Depends(require_role("support"))],
        ) -> dict[str, str]:
            return {"email": user.email}

        env.app.router.add_api_route("/needs-support", who)
        statuses = {}
        for address in ("kari@kunde-ok.example", "support@visma.example", "admin@visma.example"):
            async with env.new_client() as client:
                page = await client.get("/login")
                token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
                login = await client.post(
                    "/login",
                    data={"csrf_token": token, "email": address, "password": OLD_PASSWORD},
                )
                assert login.status_code == 303
                statuses[address] = (await client.get("/needs-support")).status_code
        assert statuses == {
            "kari@kunde-ok.example": 403,
            "support@visma.example": 200,
            "admin@visma.example": 200,
        }
        assert (await env.client.get("/needs-support")).status_code == 401
    with pytest.raises(KeyError):
        require_role("superuser")


def test_roles_rank() -> None:
    assert SignedIn(1, "a@b.c", "admin", "nb").has_role("support")
    assert not SignedIn(1, "a@b.c", "user", "nb").has_role("support")


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throw-away redis-server on a free loopback port (skips when it is not installed)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with subprocess.Popen(
        [*args, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


async def test_replicas_sharing_redis_share_captcha_replays_and_limits(
    tmp_path: Path, redis_url: str
) -> None:
    common = {
        "redis_url": redis_url,
        "rate_limit_per_address": "2/15 minutes",
        "login_failures_per_address": "2/15 minutes",
    }
    async with (
        reset_env(tmp_path / "a", **common) as first,
        reset_env(tmp_path / "b", **common) as second,
    ):
        solution = await first.captcha()
        assert (await first.forgot("kari@kunde-ok.example", altcha=solution)).status_code == 200
        replayed = await second.forgot("kari@kunde-ok.example", altcha=solution)
        assert replayed.status_code == 400
        assert "replayed" in replayed.text
        # The per-address limit counts across replicas: one more there, then none.
        assert (await second.forgot("kari@kunde-ok.example")).status_code == 200
        assert (await first.forgot("kari@kunde-ok.example")).status_code == 200
        assert len(first.outbox()) + len(second.outbox()) == 2
        # So do failed sign-ins.
        statuses = []
        for env in (first, second, first):
            form = {"csrf_token": await env.csrf("/login"), "password": "Feil#Passord9"}
            form["email"] = "kari@kunde-ok.example"
            statuses.append((await env.client.post("/login", data=form)).status_code)
        assert statuses == [401, 401, 429]
