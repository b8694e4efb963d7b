"""Operations: ``/readyz`` (database, Redis, relay), Prometheus ``/metrics`` after real
traffic (the forgot-password form, the outbox worker sending into the real sink, DNS through
the app's resolver), JSON logs with a request id carried through."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from diag.resolver import MemoryResolver
from maildiag import logs, metrics
from maildiag.cli import main
from maildiag.settings import Relay
from tests.maildiag import test_reset_outbox as outbox_tests
from tests.maildiag.test_reset_outbox import Stack, free_port
from tests.maildiag.test_reset_support import reset_env

lab_keys = outbox_tests.lab_keys  # fixtures: the lab's keys, and the outbox worker and sink
mail_stack = outbox_tests.stack
LOOPBACK = ("127.0.0.1", 40000)  # a client in metrics_allow, which sees the errors


def _series(text: str, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` with ``labels`` (a subset of its labels)."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if labels.items() <= found.items():
            return float(match.group(2))
    raise AssertionError(f"no {name} {labels} in /metrics")


async def test_metrics_after_real_traffic_name_every_series(mail_stack: Stack) -> None:
    env = mail_stack.env
    env.app.state.maildiag.resolver = MemoryResolver(
        {"kunde-ok.example": {"TXT": ["v=spf1 -all"]}}, strict=False
    )
    for address in ("kari@kunde-ok.example", "kari@kunde-ukjent.example"):
        await env.forgot(address)
    await env.forgot("kari@kunde-greylist.example")
    await env.forgot("not an address")
    async with mail_stack.sink():
        while await mail_stack.worker.run_once():
            pass
    await env.forgot("kari@kunde-ok.example", client=env.new_client("203.0.113.8"))
    await mail_stack.worker.run_once()  # the relay (the sink) is down: a connection failure
    spf = await env.client.get(
        "/api/v1/spf", params={"domain": "kunde-ok.example", "ip": "192.0.2.1"}
    )
    assert spf.status_code == 200
    await env.client.get("/api/v1/sink/messages/12345")  # a route with a parameter
    metrics.scan_progress("scan-1", done=3, total=10)
    metrics.job_failed("scan")
    async with env.new_client(LOOPBACK[0]) as local:
        text = (await local.get("/metrics")).text
    metrics.scan_finished("scan-1")

    assert (
        _series(text, "maildiag_http_requests_total", route="/forgot-password", status="200") >= 4
    )
    assert (
        _series(text, "maildiag_http_requests_total", route="/forgot-password", status="400") == 1
    )
    assert (
        _series(text, "maildiag_http_requests_total", route="/api/v1/sink/messages/{message_id}")
        == 1
    )
    assert "/api/v1/sink/messages/12345" not in text
    assert _series(text, "maildiag_reset_requests_total", outcome="queued") == 4
    assert _series(text, "maildiag_reset_requests_total", outcome="invalid") == 1
    assert _series(text, "maildiag_outbox_rows", status="sent") >= 1
    assert _series(text, "maildiag_outbox_rows", status="deferred") >= 1
    assert _series(text, "maildiag_outbox_oldest_age_seconds") > 0
    assert _series(text, "maildiag_deliveries_total", **{"class": "2xx"}) >= 1
    assert _series(text, "maildiag_deliveries_total", **{"class": "4xx"}) == 1  # greylisted
    assert _series(text, "maildiag_deliveries_total", **{"class": "5xx"}) == 1  # no mailbox
    assert _series(text, "maildiag_deliveries_total", **{"class": "connection"}) == 1
    assert _series(text, "maildiag_dns_query_seconds_count", rdtype="TXT") >= 1
    assert _series(text, "maildiag_sink_messages_total", verdict="inbox") >= 1
    assert _series(text, "maildiag_scan_domains", scan="scan-1", state="done") == 3
    assert _series(text, "maildiag_scan_domains", scan="scan-1", state="total") == 10
    assert _series(text, "maildiag_job_failures_total", job="outbox") == 0
    assert _series(text, "maildiag_process_job_failures_total", job="scan") >= 1


async def test_readyz_names_each_check_and_what_failed(mail_stack: Stack) -> None:
    env = mail_stack.env
    async with env.new_client(LOOPBACK[0]) as local:
        down = await local.get("/readyz")
        assert down.status_code == 503
        assert down.json()["failed"] == ["relay"]
        assert down.json()["checks"]["database"]["ok"] is True
        assert "ConnectionRefusedError" in down.json()["checks"]["relay"]["error"]
        async with mail_stack.sink():
            up = await local.get("/readyz")
    assert up.status_code == 200
    assert up.json()["status"] == "ready"
    assert set(up.json()["checks"]) == {"database", "relay"}
    remote = await env.client.get("/readyz")  # not in metrics_allow: no error detail
    assert remote.status_code == 503
    assert "error" not in remote.json()["checks"]["relay"]
    assert (await env.client.get("/healthz")).status_code == 200


@pytest.mark.skipif(
    not os.environ.get("MAILDIAG_TEST_REDIS_URL"), reason="MAILDIAG_TEST_REDIS_URL is not set"
)
async def test_readyz_checks_redis_when_configured(tmp_path: Path) -> None:
    silent = Relay(host="127.0.0.1", port=free_port(), timeout=1.0)
    for url, ok in (
        (os.environ["MAILDIAG_TEST_REDIS_URL"], True),
        (f"redis://127.0.0.1:{free_port()}/0", False),
    ):
        env_for = reset_env(tmp_path / str(ok), redis_url=url, relay=silent)
        async with env_for as env, env.new_client(LOOPBACK[0]) as local:
            body = (await local.get("/readyz")).json()
        assert body["checks"]["redis"]["ok"] is ok
        assert ("redis" in body["failed"]) is not ok


async def test_readyz_waits_no_longer_than_its_timeout(tmp_path: Path) -> None:
    """A relay that accepts and never greets is reported as not answering in time."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    relay = Relay(host="127.0.0.1", port=port, timeout=1.0)
    settings = {"relay": relay, "readiness_timeout": 0.2}
    async with server, reset_env(tmp_path, **settings) as env, env.new_client(LOOPBACK[0]) as c:
        body = (await c.get("/readyz")).json()
        for writer in held:
            writer.close()
    assert body["failed"] == ["relay"]
    assert body["checks"]["relay"]["error"] == "no answer in 0.2 s"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines into a buffer; the handlers before are restored."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure("json")
    root.handlers[-1].setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


async def test_json_logs_carry_the_request_id_through(
    tmp_path: Path, json_logs: io.StringIO
) -> None:
    async with reset_env(tmp_path) as env:
        env.add_user("kari@kunde-ok.example")
        data = {
            "csrf_token": await env.csrf(),
            "email": "kari@kunde-ok.example",
            "altcha": await env.captcha(),
        }
        given = "req-0123456789abcdef"
        response = await env.client.post(
            "/forgot-password", data=data, headers={"X-Request-ID": given}
        )
        bad = await env.client.get("/healthz", headers={"X-Request-ID": "not ok\x7f"})
    assert response.headers["X-Request-ID"] == given
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["X-Request-ID"])
    events = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    mine = {e["event"] for e in events if e["request_id"] == given}
    assert {"http.request", "reset.requested"} <= mine  # reset.requested is logged in a thread
    [request] = [e for e in events if e["event"] == "http.request" and e["request_id"] == given]
    assert (request["route"], request["status"], request["method"]) == (
        "/forgot-password",
        "200",
        "POST",
    )
    assert any(e["request_id"] == bad.headers["X-Request-ID"] for e in events)
    assert all(
        set(e) >= {"ts", "level", "logger", "event", "message", "request_id"} for e in events
    )


def test_ready_command_exits_1_naming_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAILDIAG_RELAY__PORT", str(free_port()))
    assert main(["migrate", "--data", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["ready", "--data", str(tmp_path), "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["failed"] == ["relay"]
    assert body["checks"]["database"]["ok"] is True


def test_a_process_logs_json_lines_when_told(tmp_path: Path) -> None:
    """``MAILDIAG_LOG_FORMAT=json``: every line on stderr is one JSON object per event."""
    env = {**os.environ, "MAILDIAG_LOG_FORMAT": "json"}
    command = [sys.executable, "-m", "maildiag", "accounts", "--data", str(tmp_path)]
    subprocess.run([*command[:3], "migrate", "--data", str(tmp_path)], check=True, env=env)
    done = subprocess.run(
        [*command, "add", "kari@kunde-ok.example"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"account.invited", "account.audit"} <= {e["event"] for e in events}
    assert all(e["request_id"] == "-" for e in events)
