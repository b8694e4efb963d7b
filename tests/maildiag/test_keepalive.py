"""A request on a kept-alive connection is not slower than one on a fresh connection, against
the real processes of ``maildiag serve``, ``maildiag serve --lab`` and ``maildiag sink``.

With Nagle's algorithm on at the server, the second write of a reply (uvicorn writes the head,
then the body) waits for the client's delayed ACK, about 40 ms, on every request after the
first on a connection; a fresh connection does not wait. The comparison is a ratio within one
test, requests of both kinds interleaved. The servers run as processes because in this one a
client thread and the server's loop take turns and hide the wait now and then.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

START_TIMEOUT = 90.0  # seconds for the three processes to print their startup lines
ROUNDS = 15  # requests of each kind per path
SLOWER_LIMIT = 2.0  # kept alive: below this many times the fresh connections' median
SINK_TOKEN = "keepalive-test-sink-token-0123456789abcdef"  # a Bearer token where one is needed
URL = re.compile(r"http://(?P<host>[\d.]+):(?P<port>\d+)")


def _start(argv: list[str], data: Path, **env: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "MAILDIAG_SINK_API_TOKEN": SINK_TOKEN,
        "MAILDIAG_SINK_JUDGE_PROCESSES": "0",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "maildiag", *argv, "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )


def _base_url(process: subprocess.Popen[str]) -> str:
    """The HTTP base URL from the process's startup line."""
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + START_TIMEOUT
    for line in process.stdout:
        lines.append(line)
        match = URL.search(line)
        if match and line.startswith("maildiag"):
            return f"http://{match['host']}:{match['port']}"
        if time.monotonic() > deadline:
            break
    pytest.fail("the server did not start:\n" + "".join(lines))


def _stop(process: subprocess.Popen[str]) -> None:
    """Terminate ``process`` (kill it if it lingers), reading what is left of its output."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=15)
    if process.poll() is None:
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The three commands, each on port 0 with its own data dir, started side by side."""
    processes = {
        "serve": _start(
            ["serve", "--port", "0"],
            tmp_path_factory.mktemp("serve"),
            MAILDIAG_SECRET_KEY=secrets.token_urlsafe(32),
        ),
        "lab": _start(
            ["serve", "--lab", "--port", "0", "--dns-port", "0", "--smtp-port", "0"],
            tmp_path_factory.mktemp("lab"),
        ),
        "sink": _start(
            ["sink", "--smtp-port", "0", "--http-port", "0"],
            tmp_path_factory.mktemp("sink"),
            MAILDIAG_SECRET_KEY=secrets.token_urlsafe(32),
        ),
    }
    try:
        yield {name: _base_url(process) for name, process in processes.items()}
    finally:
        for process in processes.values():
            _stop(process)


def keepalive_against_fresh(base: str, path: str) -> tuple[float, float]:
    """Medians (seconds) of GET ``path`` on one kept-alive connection and on a fresh connection
    each, interleaved so that the machine's load weighs on both alike."""
    options: dict[str, Any] = {
        "base_url": base,
        "headers": {"Authorization": f"Bearer {SINK_TOKEN}"},
        "timeout": 10,
        "verify": ssl.create_default_context(),  # made once: plain HTTP, but httpx asks
    }
    kept: list[float] = []
    fresh: list[float] = []
    peers: set[Any] = set()
    with httpx.Client(**options) as client:
        client.get(path).raise_for_status()  # opens the connection
        for _ in range(ROUNDS):
            started = time.perf_counter()
            response = client.get(path)
            kept.append(time.perf_counter() - started)
            response.raise_for_status()
            peers.add(response.extensions["network_stream"].get_extra_info("client_addr"))
            with httpx.Client(**options) as once:
                started = time.perf_counter()
                once.get(path).raise_for_status()
                fresh.append(time.perf_counter() - started)
    assert len(peers) == 1, "the kept-alive requests did not share one connection"
    return statistics.median(kept), statistics.median(fresh)


@pytest.mark.parametrize(
    ("server", "path"),
    [
        ("serve", "/login"),
        ("lab", "/login"),
        ("lab", "/forgot-password"),
        ("lab", "/help/no-email"),
        ("lab", "/api/v1/sink/messages"),
        ("sink", "/api/v1/sink/messages"),
        ("sink", "/sink"),
    ],
)
def test_keepalive_is_not_slower_than_fresh_connections(
    servers: dict[str, str], server: str, path: str
) -> None:
    kept, fresh = keepalive_against_fresh(servers[server], path)
    assert kept < SLOWER_LIMIT * fresh, (
        f"{kept * 1000:.1f} ms on a kept-alive connection, {fresh * 1000:.1f} ms on fresh ones"
    )
