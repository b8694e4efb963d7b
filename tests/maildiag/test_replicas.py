"""The deployment at scale as real processes on one PostgreSQL and one Redis: two ``maildiag
serve`` replicas (A and B) on their own ports, two ``maildiag worker`` processes, and one
``maildiag sink`` as the relay.

- A reset requested through A arrives in the sink once, and its link works through B; a
  session signed in on A is valid on B.
- The per-address and per-IP limits count across both replicas; a captcha solution used on one
  is refused on the other.
- 500 queued mails are delivered once each by the two workers; with one worker SIGKILLed
  midway (while it holds a claim on rows it has not begun) none is lost and none sent twice.
- Both workers work the job engine's queue: a job queued elsewhere is run by one of them.
- The relay is down for 30 s and comes back: every mail arrives once, and the delivery log
  holds the failed connections and the final 250.

The run has a PostgreSQL schema and a Redis database of its own, and addresses and client IPs
that no other run uses. Skipped without MAILDIAG_TEST_POSTGRES_URL and MAILDIAG_TEST_REDIS_URL.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import email
import email.policy
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import reset
from maildiag.jobs import build_jobs
from maildiag.settings import Settings
from smtp_sink import SinkTables, metadata
from tests.maildiag.test_outbox_workers import postgres_schema_url

# no_cover: tracing this process would slow its freeze-and-look loop (_kill_between_sends), and
# the victim runs only between its looks
pytestmark = [pytest.mark.slow, pytest.mark.no_cover]

REPO = Path(__file__).resolve().parents[2]
REDIS_DB = 13  # this file's own database on the test Redis
HASHER = reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "Demo#2026pass"
NEW_PASSWORD = "Nytt#Passord2026"
LEASE = 6.0  # seconds: the killed worker's claim runs out within the run; a claim of 20
# rows fits in it while sends take under 0.3 s
OUTAGE = 30.0  # seconds the relay is down
DEADLINE = 60.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TOKEN = re.compile(r"reset-password\?token=([A-Za-z0-9_-]+)")
_SERVE = re.compile(r"maildiag: http://\S+")
_SINK = re.compile(r"maildiag sink: smtp \S+")
_WORKER = re.compile(r"maildiag worker: relay \S+")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclasses.dataclass
class Process:
    """One ``maildiag`` process, its output in a file."""

    name: str
    popen: subprocess.Popen[bytes]
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


@dataclasses.dataclass
class Cluster:
    """The processes, the environment they share, and the database as the test reads it."""

    url: str
    engine: sa.Engine
    env: dict[str, str]
    tmp: Path
    sink_ports: tuple[int, int]
    processes: dict[str, Process] = dataclasses.field(default_factory=dict)

    def start(self, name: str, banner: re.Pattern[str], *args: str) -> Process:
        output = self.tmp / f"{name}.log"
        with output.open("wb") as sink:
            popen = subprocess.Popen(  # our own CLI, arguments from the test
                [sys.executable, "-m", "maildiag", *args],
                cwd=self.tmp,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, output)
        self.processes[name] = process
        end = time.monotonic() + DEADLINE
        while not banner.search(process.text()):
            assert popen.poll() is None, f"{name} exited:\n{process.text()}"
            assert time.monotonic() < end, f"{name} did not start:\n{process.text()}"
            time.sleep(0.05)
        return process

    def start_sink(self) -> Process:
        smtp, http = self.sink_ports
        return self.start("sink", _SINK, "sink", "--smtp-port", str(smtp), "--http-port", str(http))

    def sessions(self) -> Session:
        return sessionmaker(self.engine, expire_on_commit=False)()

    def rows(self, recipients: Iterator[str] | list[str]) -> list[reset.OutboxMessage]:
        wanted = list(recipients)
        query = sa.select(reset.OutboxMessage).where(reset.OutboxMessage.recipient.in_(wanted))
        with self.sessions() as session:
            return list(session.scalars(query.order_by(reset.OutboxMessage.id)))

    def log(self, outbox_id: int) -> list[reset.DeliveryLogEntry]:
        entry = reset.DeliveryLogEntry
        query = sa.select(entry).where(entry.outbox_id == outbox_id).order_by(entry.id)
        with self.sessions() as session:
            return list(session.scalars(query))

    def arrived(self) -> collections.Counter[str]:
        """How many messages the sink stored for each recipient."""
        messages = SinkTables.of(metadata).messages
        with self.engine.connect() as connection:
            found = connection.execute(sa.select(messages.c.rcpt_tos)).scalars()
            return collections.Counter(address for rcpts in found for address in rcpts)

    def raw_to(self, address: str) -> list[bytes]:
        messages = SinkTables.of(metadata).messages
        with self.engine.connect() as connection:
            found = connection.execute(sa.select(messages.c.raw, messages.c.rcpt_tos))
            return [raw for raw, rcpts in found if address in rcpts]

    def story(self) -> str:
        """Every process's last output, for an assertion's message."""
        return "\n".join(f"--- {p.name}\n{p.text()[-2500:]}" for p in self.processes.values())


def _environment(url: str, redis_url: str, tmp: Path, sink_smtp: int) -> dict[str, str]:
    # the processes run as deployed: none of the test run's settings, and no coverage tracing
    # (pytest-cov's COV_CORE_* would trace every line of every process several times slower)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILDIAG_", "COV_CORE_"))}
    env.update(
        PYTHONWARNINGS="ignore",
        MAILDIAG_DATA_DIR=str(tmp / "data"),
        MAILDIAG_DATABASE_URL=url,
        MAILDIAG_REDIS_URL=redis_url,
        MAILDIAG_SECRET_KEY=secrets.token_urlsafe(32),
        MAILDIAG_PUBLIC_BASE_URL="http://konto.visma.example",
        MAILDIAG_NAMESERVERS='["127.0.0.1:9"]',  # nothing may look up names outside loopback
        MAILDIAG_TRUSTED_PROXIES='["127.0.0.1"]',  # X-Forwarded-For names the client
        MAILDIAG_RATE_LIMIT_PER_IP="3/minute",
        MAILDIAG_ALTCHA_MAX_NUMBER="1000",
        MAILDIAG_RELAY__HOST="127.0.0.1",
        MAILDIAG_RELAY__PORT=str(sink_smtp),
        MAILDIAG_RELAY__TIMEOUT="10",
        MAILDIAG_OUTBOX_LEASE_SECONDS=str(LEASE),
        MAILDIAG_OUTBOX_RETRY_BASE_SECONDS="1",
        MAILDIAG_OUTBOX_RETRY_MAX_SECONDS="4",
        MAILDIAG_SINK_JUDGE="false",
        MAILDIAG_WATCH_INTERVAL_SECONDS="0",  # no watch rounds at the hour's tick mid-test
    )
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base, redis_base = (
        os.environ.get("MAILDIAG_TEST_POSTGRES_URL"),
        os.environ.get("MAILDIAG_TEST_REDIS_URL"),
    )
    if not base or not redis_base:
        pytest.skip("MAILDIAG_TEST_POSTGRES_URL and MAILDIAG_TEST_REDIS_URL are needed")
    redis_url = str(httpx.URL(redis_base).copy_with(path=f"/{REDIS_DB}"))
    tmp = tmp_path_factory.mktemp("replicas")
    urls = postgres_schema_url(f"replicas_{uuid.uuid4().hex[:12]}")
    url = next(urls)
    sink_ports = (_free_port(), _free_port())
    engine = sa.create_engine(url)
    cluster = Cluster(
        url, engine, _environment(url, redis_url, tmp, sink_ports[0]), tmp, sink_ports
    )
    try:
        migrate = subprocess.run(  # our own CLI
            [sys.executable, "-m", "maildiag", "migrate"],
            cwd=tmp,
            env=cluster.env,
            capture_output=True,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr
        cluster.start_sink()
        for name in ("a", "b"):
            port = _free_port()
            cluster.start(name, _SERVE, "serve", "--port", str(port))
            cluster.env[f"PORT_{name}"] = str(port)
        for name in ("worker1", "worker2"):
            cluster.start(name, _WORKER, "worker")
        yield cluster
    finally:
        for process in cluster.processes.values():
            process.stop()
        engine.dispose()
        next(urls, None)  # drops the schema


def _client(cluster: Cluster, replica: str, ip: str = "192.0.2.1") -> httpx.Client:
    base = f"http://127.0.0.1:{cluster.env[f'PORT_{replica}']}"
    return httpx.Client(base_url=base, headers={"X-Forwarded-For": ip}, timeout=30)


def _csrf(client: httpx.Client, path: str) -> str:
    found = _CSRF.search(client.get(path).text)
    assert found is not None, f"no CSRF token on {path}"
    return found.group(1)


def _captcha(client: httpx.Client) -> str:
    return reset.solve_challenge(client.get("/captcha/challenge").json())


def _forgot(client: httpx.Client, address: str, altcha: str | None = None) -> httpx.Response:
    data = {
        "csrf_token": _csrf(client, "/forgot-password"),
        "email": address,
        "altcha": altcha or _captcha(client),
    }
    return client.post("/forgot-password", data=data)


def _login(client: httpx.Client, address: str, password: str) -> httpx.Response:
    data = {"csrf_token": _csrf(client, "/login"), "email": address, "password": password}
    return client.post("/login", data=data)


def _add_user(cluster: Cluster, address: str, role: str = "user") -> None:
    with cluster.sessions() as session, session.begin():
        now = dt.datetime.now(dt.UTC)
        reset.create_user(session, address, PASSWORD, hasher=HASHER, now=now, role=role)


def _run_id() -> str:
    return uuid.uuid4().hex[:8]


def _all_sent(cluster: Cluster, recipients: list[str]) -> bool:
    rows = cluster.rows(recipients)
    return len(rows) == len(recipients) and all(row.status == "sent" for row in rows)


def _token_in(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(("plain",))  # type: ignore[attr-defined]  # EmailMessage under policy.default
    assert body is not None
    found = _TOKEN.search(body.get_content())
    assert found is not None
    return found.group(1)


def test_a_reset_through_a_arrives_once_and_its_link_works_through_b(cluster: Cluster) -> None:
    address = f"kari-{_run_id()}@kunde-ok.example"
    _add_user(cluster, address)
    with _client(cluster, "a", "192.0.2.10") as a, _client(cluster, "b", "192.0.2.10") as b:
        assert _forgot(a, address).status_code == 200
        _until(lambda: _all_sent(cluster, [address]), "the reset mail to be sent")
        assert cluster.arrived()[address] == 1, cluster.story()
        [raw] = cluster.raw_to(address)
        token = _token_in(raw)
        page = b.get("/reset-password", params={"token": token})
        assert page.status_code == 200
        found = _CSRF.search(page.text)
        assert found is not None
        form = {
            "csrf_token": found.group(1),
            "token": token,
            "password": NEW_PASSWORD,
            "confirmation": NEW_PASSWORD,
        }
        done = b.post("/reset-password", data=form)
        assert (done.status_code, done.headers["location"]) == (303, "/reset-password/done")
        assert _login(a, address, NEW_PASSWORD).status_code == 303


def test_a_session_made_on_a_is_valid_on_b(cluster: Cluster) -> None:
    address = f"support-{_run_id()}@visma.example"
    _add_user(cluster, address, role="support")
    with _client(cluster, "a") as a, _client(cluster, "b") as b:
        assert b.get("/support").status_code == 303  # not signed in: to the login page
        signed_in = _login(a, address, PASSWORD)
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/support")
        b.cookies = a.cookies
        assert b.get("/support").status_code == 200


def test_the_per_address_limit_counts_across_replicas(cluster: Cluster) -> None:
    address = f"limit-{_run_id()}@kunde-ok.example"  # unknown: limited like a known one
    for n, replica in enumerate("abab"):  # a new client IP each time: only the address counts
        with _client(cluster, replica, f"198.18.{n}.{secrets.randbelow(250) + 1}") as client:
            assert _forgot(client, address).status_code == 200  # the same page, over or not
    assert len(cluster.rows([address])) == 3  # the 4th, on B, queued nothing


def test_the_per_ip_limit_counts_across_replicas(cluster: Cluster) -> None:
    run, ip = _run_id(), f"198.19.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    addresses = [f"ip-{run}-{n}@kunde-ok.example" for n in range(4)]
    for address, replica in zip(addresses, "baba", strict=True):
        with _client(cluster, replica, ip) as client:
            assert _forgot(client, address).status_code == 200
    assert [row.recipient for row in cluster.rows(addresses)] == addresses[:3]  # not on A


def test_a_captcha_solution_cannot_be_replayed_on_the_other_replica(cluster: Cluster) -> None:
    run = _run_id()
    with _client(cluster, "a", "192.0.2.20") as a, _client(cluster, "b", "192.0.2.21") as b:
        solution = _captcha(a)
        assert _forgot(a, f"first-{run}@kunde-ok.example", solution).status_code == 200
        replayed = _forgot(b, f"second-{run}@kunde-ok.example", solution)
        assert replayed.status_code == 400
        assert "replayed" in replayed.text
    assert cluster.rows([f"second-{run}@kunde-ok.example"]) == []


def _queue(cluster: Cluster, name: str, count: int) -> list[str]:
    """``count`` ready-made mails in the outbox, one to each of ``count`` new addresses."""
    run, now = _run_id(), dt.datetime.now(dt.UTC)
    addresses = [f"{name}-{run}-{n}@kunde-ok.example" for n in range(count)]
    with cluster.sessions() as session, session.begin():
        for n, address in enumerate(addresses):
            raw = (
                "From: do.not.reply@platform.visma.com\r\n"
                f"To: {address}\r\nSubject: {name} {n}\r\n"
                f"Message-ID: <{name}-{run}-{n}@maildiag.test>\r\n\r\nmail {n}\r\n"
            ).encode()
            reset.enqueue(session, kind="message", recipient=address, now=now, raw=raw)
    return addresses


def _each_once(cluster: Cluster, addresses: list[str]) -> None:
    arrived = cluster.arrived()
    assert {address: arrived[address] for address in addresses} == dict.fromkeys(addresses, 1)


def test_500_mails_are_delivered_once_each_by_two_workers(cluster: Cluster) -> None:
    addresses = _queue(cluster, "bulk", 500)
    _until(lambda: _all_sent(cluster, addresses), "500 mails to be sent", 120)
    _each_once(cluster, addresses)
    senders = {row.claim_owner for row in cluster.rows(addresses)}
    assert senders == {None}  # every claim ended
    logged = collections.Counter(
        entry.outcome for row in cluster.rows(addresses) for entry in cluster.log(row.id)
    )
    assert logged == {"sent": 500}, cluster.story()


async def test_the_workers_run_the_queued_jobs(cluster: Cluster) -> None:
    settings = Settings(data_dir=cluster.tmp, database_url=cluster.url)
    jobs = build_jobs(settings)
    async with jobs.opened():
        job_id = await jobs.enqueue("jobs.retry_stalled", timestamp=0)
    status = sa.text("SELECT status FROM procrastinate_jobs WHERE id = :id")

    def succeeded() -> bool:
        with cluster.engine.connect() as connection:
            return connection.execute(status, {"id": job_id}).scalar_one() == "succeeded"

    _until(succeeded, "a worker to run the job")
    with cluster.engine.connect() as connection:
        workers = sa.text("SELECT count(*) FROM procrastinate_workers")
        assert connection.execute(workers).scalar_one() == 2  # each worker works the queue


def _held_by(cluster: Cluster, pid: int, addresses: list[str]) -> list[reset.OutboxMessage]:
    return [
        row
        for row in cluster.rows(addresses)
        if row.status == "sending" and (row.claim_owner or "").partition("/")[0].endswith(f":{pid}")
    ]


def _kill_between_sends(cluster: Cluster, victim: Process, addresses: list[str]) -> int:
    """SIGKILL ``victim`` while it holds claimed rows and has no send under way; returns how
    many rows it held.

    The victim is frozen (SIGSTOP) and its claims read: an attempt is written before the
    SMTP conversation begins, so a frozen worker with none open has no mail in flight. Else it
    runs on a moment and is looked at again. (A kill during a send is at-least-once at the
    relay's 250: tests/maildiag/test_outbox_workers.py.)
    """
    pid = victim.popen.pid
    seen: collections.Counter[str] = collections.Counter()
    for _ in range(1000):
        victim.popen.send_signal(signal.SIGSTOP)
        held = _held_by(cluster, pid, addresses)
        seen[f"{len(held)}/{sum(r.attempt_started_at is not None for r in held)}"] += 1
        if held and all(row.attempt_started_at is None for row in held):
            victim.popen.kill()
            victim.popen.wait(10)
            return len(held)
        victim.popen.send_signal(signal.SIGCONT)
        time.sleep(0.005 + secrets.randbelow(20) / 1000)
    owners = collections.Counter(row.claim_owner for row in cluster.rows(addresses))
    pytest.fail(f"the worker never held rows between two sends: {pid} {seen} {owners}")


def test_a_worker_killed_midway_loses_no_mail_and_sends_none_twice(cluster: Cluster) -> None:
    victim, survivor = cluster.processes["worker1"], cluster.processes["worker2"]
    # The survivor is held (SIGSTOP) while the victim sends the first half: otherwise it may
    # send all of them while the victim sleeps between polls, and the kill would catch nothing.
    # Both are idle here (the queue is empty), so the hold interrupts no send.
    survivor.popen.send_signal(signal.SIGSTOP)
    try:
        addresses = _queue(cluster, "kill", 500)
        _until(lambda: sum(cluster.arrived()[a] for a in addresses) >= 150, "150 mails to arrive")
        held = _kill_between_sends(cluster, victim, addresses)
    finally:
        survivor.popen.send_signal(signal.SIGCONT)
    assert held >= 1
    arrived_at_kill = sum(cluster.arrived()[a] for a in addresses)
    assert arrived_at_kill < 500  # midway
    _until(lambda: _all_sent(cluster, addresses), "the survivor to send the rest", 120)
    time.sleep(LEASE)
    _each_once(cluster, addresses)
    outcomes = {entry.outcome for row in cluster.rows(addresses) for entry in cluster.log(row.id)}
    assert outcomes == {"sent"}, cluster.story()
    cluster.start("worker1", _WORKER, "worker")  # two workers again for what follows


def test_the_relay_down_for_30_seconds_loses_nothing(cluster: Cluster) -> None:
    cluster.processes["sink"].stop()
    down = time.monotonic()
    addresses = _queue(cluster, "outage", 20)

    def each_failed() -> bool:
        rows = cluster.rows(addresses)
        return all(row.status == "deferred" and row.attempts >= 1 for row in rows)

    _until(each_failed, "every mail to fail against the dead relay")
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
    assert cluster.arrived().keys().isdisjoint(addresses)
    cluster.start_sink()
    _until(lambda: _all_sent(cluster, addresses), "the mail to go out once the relay is back")
    _each_once(cluster, addresses)
    for row in cluster.rows(addresses):
        log = cluster.log(row.id)
        failed, last = log[:-1], log[-1]
        assert failed, cluster.story()
        assert all(e.outcome == "deferred" and e.code is None for e in failed), [
            (e.outcome, e.code, e.text) for e in log
        ]
        assert (last.outcome, last.code) == ("sent", 250)
        assert row.attempts == len(log)
