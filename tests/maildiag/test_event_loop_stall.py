"""One crafted mail must not stall the lab (issue #10, section 3): ``maildiag serve --lab`` runs
the web app, the lab's DNS server and the SMTP sink on one event loop, so while the sink's
pages render the 2.2 MB ``<div>`` mail, ``/healthz``, a DNS query and an SMTP NOOP must answer
about as fast as when the lab is idle (ratios measured in this test, never fixed times). Before
the fix every answer waited for the render, seconds per mail."""

from __future__ import annotations

import re
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dns.message
import dns.query
import httpx
import pytest

from tests.hostile_mail import KARI, SENDER, deep_html
from tests.maildiag.sink_lab import make_message

BANNER = re.compile(
    r"maildiag lab: http://(?P<host>[\d.]+):(?P<port>\d+)\s+DNS 127\.0\.0\.1:(?P<dns>\d+)"
    r".*?SMTP [\d.]+:(?P<smtp>\d+)"
)
ADMIN = ("admin@visma.example", "Demo#2026lab")  # the lab's staff account (README)
CRAFTED = 3  # distinct crafted mails rendered at once, so the render outlasts the probes' rounds
IDLE_ROUNDS = 30
RATIO = 20  # the mean answer time during the renders against the mean idle one
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class RunningLab:
    base_url: str
    dns_port: int
    smtp_port: int


@pytest.fixture(scope="module")
def running_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    data = tmp_path_factory.mktemp("stall-lab")
    ports = ["--port", "0", "--dns-port", "0", "--smtp-port", "0"]
    command = [sys.executable, "-m", "maildiag", "serve", "--lab", *ports, "--data", str(data)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        match = BANNER.search(line)
        if match:
            break
    else:
        process.wait(timeout=10)
        pytest.fail("the lab did not start:\n" + "".join(seen))
    drain = threading.Thread(target=process.stdout.read, daemon=True)  # keep its pipe flowing
    drain.start()
    try:
        base = f"http://{match['host']}:{match['port']}"
        yield RunningLab(base, int(match["dns"]), int(match["smtp"]))
    finally:
        process.terminate()
        process.wait(timeout=30)
        drain.join(timeout=10)  # the pipe is at its end once the process is gone
        process.stdout.close()


def _signed_in(base_url: str) -> httpx.Client:
    """A client with the lab admin's session (the sink's pages are for staff)."""
    client = httpx.Client(base_url=base_url, timeout=120)
    token = _CSRF.search(client.get("/login").text)
    assert token is not None
    form = {"csrf_token": token[1], "email": ADMIN[0], "password": ADMIN[1]}
    assert client.post("/login", data=form).status_code == 303
    return client


def _store_crafted(lab: RunningLab, client: httpx.Client) -> list[int]:
    """Store the crafted mails, after one ordinary mail viewed once: its first view compiles
    the pages' templates, which is the same work for any mail and not what is measured."""
    with smtplib.SMTP("127.0.0.1", lab.smtp_port, timeout=60) as smtp:
        smtp.sendmail(SENDER, [KARI], make_message(SENDER, KARI, "warm-up", html="<p>Hei</p>"))
        first = client.get("/api/v1/sink/messages", params={"to": KARI, "limit": 1})
        ordinary = first.json()["messages"][0]["id"]
        for path in ("/sink/messages/{}", "/sink/messages/{}/html", "/api/v1/sink/messages/{}"):
            assert client.get(path.format(ordinary)).status_code == 200
        for _ in range(CRAFTED):
            smtp.sendmail(SENDER, [KARI], deep_html())
    listed = client.get("/api/v1/sink/messages", params={"to": KARI, "limit": CRAFTED})
    ids = [m["id"] for m in listed.json()["messages"] if m["subject"] == "divs"]
    assert len(ids) == CRAFTED
    return ids


def _probes(lab: RunningLab) -> tuple[dict[str, Callable[[], object]], smtplib.SMTP]:
    address = httpx.URL(lab.base_url)
    smtp = smtplib.SMTP("127.0.0.1", lab.smtp_port, timeout=60)
    query = dns.message.make_query("platform.visma.com", "TXT")

    def healthz() -> object:
        # One request per connection, read to its close: no keep-alive, so no delayed ACK.
        with socket.create_connection((address.host, address.port), timeout=60) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.1 200 ")
        return None

    def dns_query() -> object:
        return dns.query.udp(query, "127.0.0.1", port=lab.dns_port, timeout=60)

    def noop() -> object:
        assert smtp.noop()[0] == 250
        return None

    return {"healthz": healthz, "dns": dns_query, "smtp_noop": noop}, smtp


def _timed(probe: Callable[[], object]) -> float:
    started = time.perf_counter()
    probe()
    return time.perf_counter() - started


def _measure(
    probes: dict[str, Callable[[], object]], go_on: Callable[[int], bool]
) -> dict[str, list[float]]:
    """Each probe asked again and again in a thread of its own while ``go_on(answers so far)``."""
    found: dict[str, list[float]] = {name: [] for name in probes}

    def loop(name: str) -> None:
        while go_on(len(found[name])):
            found[name].append(_timed(probes[name]))

    threads = [threading.Thread(target=loop, args=(name,)) for name in probes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def test_crafted_mail_render_leaves_http_dns_and_smtp_answering(running_lab: RunningLab) -> None:
    client = _signed_in(running_lab.base_url)
    ids = _store_crafted(running_lab, client)
    probes, smtp = _probes(running_lab)
    answers: list[int] = []
    renders = [
        threading.Thread(target=lambda p=path: answers.append(_get(client, p)))
        for message_id in ids
        for path in (f"/sink/messages/{message_id}/html", f"/sink/messages/{message_id}")
    ]
    try:
        idle = _measure(probes, lambda count: count < IDLE_ROUNDS)
        started = time.perf_counter()
        for job in renders:
            job.start()
        during = _measure(
            probes, lambda count: count == 0 or any(job.is_alive() for job in renders)
        )
        for job in renders:
            job.join()
        render_time = time.perf_counter() - started
    finally:
        smtp.quit()
        client.close()
    assert answers == [200] * len(renders)
    for name in probes:
        idle_mean, during_mean = statistics.fmean(idle[name]), statistics.fmean(during[name])
        print(
            f"{name}: idle mean {idle_mean * 1000:.1f} ms (max {max(idle[name]) * 1000:.1f});"
            f" during the renders ({render_time:.2f} s) mean {during_mean * 1000:.1f} ms"
            f" (max {max(during[name]) * 1000:.1f}) over {len(during[name])} answers"
        )
        assert during_mean <= RATIO * idle_mean, name


def _get(client: httpx.Client, path: str) -> int:
    return client.get(path).status_code
