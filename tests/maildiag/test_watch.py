"""The watch on our senders, against the lab's own DNS server: a round checks every identity
and is stored (SQLite, and PostgreSQL when MAILDIAG_TEST_POSTGRES_URL is set); ``maildiag lab
dkim restore`` / ``break`` change what the running lab DNS server serves, and the next rounds
record the recovery and the fail as events, which go to a webhook on loopback when one is
configured (and only when the network guard allows it) and are counted for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from fastapi.testclient import TestClient
from procrastinate.periodic import PeriodicDeferrer

from maildiag.cli import main
from maildiag.commands.worker import _watching
from maildiag.db import create_engine, migrate
from maildiag.jobs import build_jobs, running_jobs
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.lab.kit import LabKey, follow_lab_zone, lab_senders, lab_settings, prepare_lab
from maildiag.services import build_services
from maildiag.services.watch import (
    WATCH_JOB,
    post_events,
    register_watch,
    watch_cron,
    watch_round,
)
from maildiag.settings import Settings
from maildiag.watch import (
    FAILED,
    RECOVERED,
    CheckState,
    Round,
    changes,
    event_counts,
    recent_rounds,
    record_round,
)
from maildiag.web import create_app
from tests.maildiag.feedback import conftest as feedback_db
from tests.maildiag.test_outbox_workers import postgres_schema_url

LEGACY = "do.not.reply@legacy.visma.example"
PLATFORM = "do.not.reply@platform.visma.com"


# -- pure -------------------------------------------------------------------------------------


def test_changes_mark_pass_to_fail_and_back_only() -> None:
    previous = {("a", "spf"): True, ("a", "dkim"): False, ("a", "dmarc"): True}
    now = [
        CheckState("a", "spf", "problem", ("sender.spf_not_pass",)),
        CheckState("a", "dkim", "warning"),
        CheckState("a", "dmarc", "not_checked"),  # not judged: no event
        CheckState("a", "bounce_mx", "problem"),  # first seen: no event
    ]
    marked = {c.check: c.change for c in changes(previous, now)}
    assert marked == {"spf": FAILED, "dkim": RECOVERED, "dmarc": None, "bounce_mx": None}


# -- the lab ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("watch-lab")
    prepare_lab(data)
    return data


@pytest.fixture
def lab_data(prepared: Path, tmp_path: Path) -> tuple[Path, list[LabKey]]:
    """A lab data dir of this test's own (the DKIM switch is in it)."""
    data = tmp_path / "lab"
    shutil.copytree(prepared, data)
    keys, _ = prepare_lab(data)
    return data, keys


engine = feedback_db.engine  # a migrated database: SQLite, and PostgreSQL when configured


class Webhook:
    """An HTTP server on loopback that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.paths.append(self.path)
                received.bodies.append(json.loads(self.rfile.read(length)))
                if self.path == "/moved":
                    self.send_response(307)
                    self.send_header("Location", "/elsewhere")
                else:
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest_asyncio.fixture
async def lab_dns(lab_data: tuple[Path, list[LabKey]]) -> AsyncIterator[LabDnsServer]:
    """The lab DNS server on port 0, following the data dir's DKIM switch as ``serve --lab``."""
    data, _ = lab_data
    _, zone = prepare_lab(data)
    server = LabDnsServer(zone, host="127.0.0.1", port=0)
    await server.start()
    follower = asyncio.create_task(follow_lab_zone(data, server, every=0.05))
    try:
        yield server
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await server.stop()


def _settings(data: Path, keys: list[LabKey], server: LabDnsServer, **more: Any) -> Settings:
    return Settings(
        lab=True,
        data_dir=data,
        nameservers=[server.address],
        senders=lab_senders(keys),
        allow_private_targets=True,
        **more,
    )


async def _round(settings: Settings, engine: sa.Engine) -> Round:
    services = build_services(settings)
    return await watch_round(settings, engine, services.new_resolver(), services.psl)


def _statuses(stored: Round) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    return {c.key: (c.status, c.codes) for c in stored.checks}


async def test_a_round_checks_every_identity_and_is_stored(
    lab_data: tuple[Path, list[LabKey]], lab_dns: LabDnsServer, engine: sa.Engine
) -> None:
    data, keys = lab_data
    stored = await _round(_settings(data, keys, lab_dns), engine)
    found = _statuses(stored)
    for check in ("spf", "dkim", "dmarc", "reverse", "bounce_mx"):
        assert found[(PLATFORM, check)] == ("ok", ())
    assert found[(PLATFORM, "dnsbl")] == ("not_checked", ())  # no DNSBL zones configured
    assert found[(LEGACY, "dkim")] == ("problem", ("dkim.key_mismatch",))
    assert found[(LEGACY, "spf")][0] == "problem"
    assert "spf.too_many_lookups" in found[(LEGACY, "spf")][1]
    assert stored.events == ()  # a first round has nothing to change from
    again = await asyncio.to_thread(recent_rounds, engine)
    assert [r.id for r in again] == [stored.id]
    assert _statuses(again[0]) == found


async def test_dkim_restore_and_break_are_events_sent_to_the_webhook(
    lab_data: tuple[Path, list[LabKey]],
    lab_dns: LabDnsServer,
    engine: sa.Engine,
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, keys = lab_data
    settings = _settings(data, keys, lab_dns, watch_webhook_url=webhook.url)
    lab_settings(Settings(lab=True, data_dir=data, dns_port=lab_dns.port), keys)  # lab.toml
    served = f"The lab's DNS server at {lab_dns.address} serves it now.\n"

    first = await _round(settings, engine)
    assert _statuses(first)[(LEGACY, "dkim")][0] == "problem"

    restore = ["--lang", "en", "lab", "dkim", "restore", "--data", str(data)]
    assert await asyncio.to_thread(main, restore) == 0
    assert capsys.readouterr().out.endswith(served)
    with caplog.at_level(logging.WARNING, logger="maildiag.services.watch"):
        second = await _round(settings, engine)
    assert [(e.identity, e.check, e.change) for e in second.events] == [(LEGACY, "dkim", RECOVERED)]
    assert f"watch.event identity={LEGACY} check=dkim change=recovered" in caplog.text

    broken = ["--lang", "en", "lab", "dkim", "break", "--data", str(data)]
    assert await asyncio.to_thread(main, broken) == 0
    assert capsys.readouterr().out.endswith(served)
    third = await _round(settings, engine)
    assert [(e.identity, e.check, e.change, e.codes) for e in third.events] == [
        (LEGACY, "dkim", FAILED, ("dkim.key_mismatch",))
    ]

    posted = [(e["identity"], e["check"], e["change"]) for b in webhook.bodies for e in b["events"]]
    assert posted == [(LEGACY, "dkim", RECOVERED), (LEGACY, "dkim", FAILED)]
    assert webhook.bodies[0]["source"] == "maildiag"
    counts = await asyncio.to_thread(event_counts, engine)
    assert sorted(counts) == [(LEGACY, "dkim", FAILED, 1), (LEGACY, "dkim", RECOVERED, 1)]


def _one_event() -> Round:
    change = CheckState(LEGACY, "dkim", "ok", (), RECOVERED)
    return Round(7, dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC), 5, (change,))


async def test_the_webhook_is_refused_unless_the_guard_allows_its_address(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    guarded = Settings(watch_webhook_url=webhook.url, allow_private_targets=False)
    with caplog.at_level(logging.WARNING, logger="maildiag.services.watch"):
        assert await post_events(guarded, _one_event()) is False
    assert "watch.webhook_refused ip=127.0.0.1 category=loopback" in caplog.text
    assert webhook.bodies == []
    allowed = guarded.model_copy(update={"allow_private_targets": True})
    assert await post_events(allowed, _one_event()) is True
    assert webhook.bodies[0]["events"][0]["change"] == RECOVERED


async def test_the_webhook_does_not_follow_redirects(webhook: Webhook) -> None:
    moved = webhook.url.replace("/hook", "/moved")
    settings = Settings(watch_webhook_url=moved, allow_private_targets=True)
    assert await post_events(settings, _one_event()) is False
    assert webhook.paths == ["/moved"]


def test_the_webhook_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        Settings(watch_webhook_url="file:///etc/passwd")


async def test_the_worker_runs_rounds_on_the_interval(
    lab_data: tuple[Path, list[LabKey]], lab_dns: LabDnsServer, tmp_path: Path
) -> None:
    data, keys = lab_data
    database = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    made = create_engine(database)
    migrate(made)
    settings = _settings(data, keys, lab_dns, database_url=database, watch_interval_seconds=600)
    stop = asyncio.Event()
    async with _watching(settings, stop):
        for _ in range(400):
            if await asyncio.to_thread(recent_rounds, made):
                break
            await asyncio.sleep(0.05)
    assert stop.is_set()
    assert len(await asyncio.to_thread(recent_rounds, made)) == 1  # the next is 600 s away
    made.dispose()


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [
        (1, "*/1 * * * *"),
        (60, "*/1 * * * *"),
        (90, "*/2 * * * *"),
        (420, "*/10 * * * *"),
        (1800, "*/30 * * * *"),
        (2400, "0 */1 * * *"),
        (3600, "0 */1 * * *"),
        (5 * 3600, "0 */6 * * *"),
        (13 * 3600, "0 0 * * *"),
        (2 * 86400, "0 0 * * *"),
    ],
)
def test_the_interval_is_rounded_up_to_even_ticks(seconds: float, cron: str) -> None:
    assert watch_cron(seconds) == cron


@pytest.fixture
def postgres() -> Iterator[str]:
    yield from postgres_schema_url(f"watch_{uuid.uuid4().hex[:12]}")


async def test_workers_on_postgres_run_one_round_per_tick(
    lab_data: tuple[Path, list[LabKey]], lab_dns: LabDnsServer, postgres: str
) -> None:
    data, keys = lab_data
    made = create_engine(postgres)
    await asyncio.to_thread(migrate, made)
    settings = _settings(data, keys, lab_dns, database_url=postgres, watch_interval_seconds=300)
    services = build_services(settings)
    workers = [build_jobs(settings), build_jobs(settings)]  # two workers' job engines
    crons = {
        register_watch(j, settings, made, services.new_resolver, services.psl) for j in workers
    }
    assert crons == {"*/5 * * * *"}
    tick = 1_800_000_000  # each worker's periodic deferrer defers the same tick
    for jobs in workers:
        async with jobs.opened():
            registry = jobs.app.periodic_registry
            watch = [t for t in registry.periodic_tasks.values() if t.task.name == WATCH_JOB]
            await PeriodicDeferrer(registry).defer_jobs([(watch[0], tick)])
    assert await asyncio.to_thread(_watch_jobs, made) == {tick: "todo"}
    async with running_jobs(workers[0]), running_jobs(workers[1]):  # both defer the current tick
        for _ in range(400):
            jobs_done = await asyncio.to_thread(_watch_jobs, made)
            if len(jobs_done) == 2 and set(jobs_done.values()) == {"succeeded"}:
                break
            await asyncio.sleep(0.05)
    assert len(jobs_done) == 2  # the given tick and the current one, each once
    assert set(jobs_done.values()) == {"succeeded"}
    assert len(await asyncio.to_thread(recent_rounds, made)) == 2
    made.dispose()


def _watch_jobs(engine: sa.Engine) -> dict[int, str]:
    """The watch's jobs: each one's tick and status (one tick twice would fail here)."""
    query = sa.text(
        "SELECT (args->>'timestamp')::bigint, status FROM procrastinate_jobs WHERE task_name = :n"
    )
    with engine.connect() as db:
        rows = db.execute(query, {"n": WATCH_JOB}).all()
    ticks = {int(tick): str(status) for tick, status in rows}
    assert len(ticks) == len(rows)
    return ticks


def test_metrics_count_the_stored_events(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'metrics.sqlite3'}"
    made = create_engine(database)
    migrate(made)
    record_round(made, dt.datetime.now(dt.UTC), 3, list(_one_event().checks))
    made.dispose()
    app = create_app(Settings(database_url=database, data_dir=tmp_path))
    client = TestClient(app, base_url="http://127.0.0.1:8000", client=("127.0.0.1", 5000))
    with client:
        text = client.get("/metrics").text
    labels = f'change="recovered",check="dkim",identity="{LEGACY}"'
    assert f"maildiag_watch_events_total{{{labels}}} 1.0\n" in text


def test_the_watch_command_runs_one_round_against_the_lab(
    lab_data: tuple[Path, list[LabKey]], capsys: pytest.CaptureFixture[str]
) -> None:
    data, keys = lab_data
    with lab_dns_in_thread(prepare_lab(data)[1]) as server:
        lab_settings(Settings(lab=True, data_dir=data, dns_port=server.port), keys)
        made = create_engine(Settings(data_dir=data).database)
        migrate(made)
        made.dispose()
        assert main(["--lang", "en", "watch", "--once", "--data", str(data)]) == 1
        text = capsys.readouterr().out
        assert main(["watch", "--once", "--json", "--data", str(data)]) == 1
        shown = json.loads(capsys.readouterr().out)
    assert text.startswith(f"{PLATFORM}\n  SPF                    ok\n")
    assert f"{LEGACY}\n" in text
    assert "  DKIM keys              FAIL  dkim.key_mismatch\n" in text
    assert "Changes since the previous round: 0\nRound 1 of the watch, " in text
    assert shown["id"] == 2
    assert {"identity": LEGACY, "check": "dkim", "status": "problem"}.items() <= next(
        c for c in shown["checks"] if c["identity"] == LEGACY and c["check"] == "dkim"
    ).items()


def test_the_lab_command_refuses_a_directory_without_lab_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--lang", "en", "lab", "dkim", "restore", "--data", str(tmp_path)]) == 2
    assert "holds no lab data" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_watch_without_a_schedule_asks_for_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILDIAG_WATCH_INTERVAL_SECONDS", "0")
    assert main(["--lang", "en", "watch", "--data", str(tmp_path)]) == 2
    assert "run maildiag watch --once" in capsys.readouterr().err
