"""Benchmark of HTTP latency over real sockets (not a test): run ``python -m bench.http``.

A real ``maildiag serve --lab`` process (port 0, a temporary data dir) serves the main pages
and APIs, and this process times them with httpx in three ways:

1. ``kept alive``: one client, one connection, one request after another (as a browser or an
   API client does);
2. ``fresh``: one client, a new connection for every request (the baseline: every ratio below
   is against its median, measured in the same run);
3. ``16 clients``: 16 clients at once, each with its own kept-alive connection.

The rows are interleaved over ``--rounds`` rounds, so the machine's load weighs on all alike;
each reports the median and the 99th percentile. Every answer is checked: a status other
than 200 stops the run, and a checklist whose probe or sender reports did not finish is
counted as incomplete. ``--before DIR`` runs a second lab from
another checkout (for instance ``git archive <commit> | tar -x -C DIR``) beside this one,
interleaved, for a before/after comparison in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120.0  # seconds for the lab to print its startup line
CLIENTS = 16
SINK_TOKEN = "bench-http-sink-token"  # sent as a Bearer token; ignored where none is needed
ADDRESS = "kari@kunde-ok.example"
URL = re.compile(r"maildiag lab: (?P<base>http://[\d.]+:\d+)")
MODES = ("kept alive", "fresh", f"{CLIENTS} clients")


@dataclass(frozen=True)
class Endpoint:
    """One request the benchmark makes, and what a right answer holds."""

    label: str
    method: str
    path: str
    body: dict[str, Any] | None = None

    async def call(self, client: httpx.AsyncClient) -> httpx.Response:
        """The response; raises RuntimeError for any status but 200."""
        response = await client.request(self.method, self.path, json=self.body)
        if response.status_code != 200:
            raise RuntimeError(f"{self.label}: {response.status_code} {response.text[:200]}")
        return response

    def whole(self, response: httpx.Response) -> bool:
        """False for a checklist whose probe or sender reports did not finish (a DNS
        timeout, for instance); counted, and shown, as incomplete."""
        if self.body is None:
            return True
        statuses = {item["key"]: item["status"] for item in response.json()["items"]}
        wanted = (statuses.get("recipient.can_receive"), statuses.get("sender.authentication"))
        return wanted == ("ok", "ok")


ENDPOINTS = (
    Endpoint("GET /login", "GET", "/login"),
    Endpoint("GET /forgot-password", "GET", "/forgot-password"),
    Endpoint("GET /help/no-email", "GET", "/help/no-email"),
    Endpoint(
        "POST /api/v1/checklist (self)",
        "POST",
        "/api/v1/checklist",
        {"address": ADDRESS, "audience": "self", "lang": "en"},
    ),
    Endpoint("GET /api/v1/sink/messages", "GET", f"/api/v1/sink/messages?to={ADDRESS}"),
)


@dataclass
class Cell:
    """The timings of one endpoint in one mode on one server, over all rounds."""

    seconds: list[float] = field(default_factory=list)
    incomplete: int = 0
    wall: float = 0.0
    connections: set[Any] = field(default_factory=set)

    def median(self) -> float:
        return statistics.median(self.seconds)

    def p99(self) -> float:
        if len(self.seconds) < 2:  # quantiles needs two
            return max(self.seconds)
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[98]

    def rate(self) -> float:
        return len(self.seconds) / self.wall


@contextlib.contextmanager
def lab(source: Path) -> Iterator[str]:
    """``maildiag serve --lab`` from the checkout ``source``, every port 0; yields its URL."""
    data = Path(tempfile.mkdtemp(prefix="bench-http-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(source),
        "MAILDIAG_SINK_API_TOKEN": SINK_TOKEN,
        "MAILDIAG_RATE_LIMIT_PER_IP": "100000000/minute",  # out of the way of the checklist
        "MAILDIAG_RATE_LIMIT_PER_ADDRESS": "100000000/minute",
    }
    argv = ["serve", "--lab", "--port", "0", "--dns-port", "0", "--smtp-port", "0"]
    with subprocess.Popen(
        [sys.executable, "-m", "maildiag", *argv, "--data", str(data)],
        cwd=source,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            yield _base_url(process)
        finally:
            process.terminate()  # leaving the block waits for it and closes its output


def _base_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    lines = []
    for line in process.stdout:
        lines.append(line)
        if match := URL.search(line):
            return match["base"]
        if time.monotonic() > deadline:
            break
    raise RuntimeError("the lab did not start:\n" + "".join(lines))


async def _note_connection(response: httpx.Response) -> None:
    """Keep the client's address of the connection (gone once a fresh one is closed)."""
    stream = response.extensions["network_stream"]
    response.extensions["client_addr"] = stream.get_extra_info("client_addr")


def _client(base: str, *, keep_alive: bool) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1 if keep_alive else 0)
    return httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {SINK_TOKEN}"},
        limits=limits,
        timeout=30,
        event_hooks={"response": [_note_connection]},
    )


async def _timed(endpoint: Endpoint, client: httpx.AsyncClient, cell: Cell, until: float) -> None:
    """Requests one after another on ``client`` until ``until`` (perf_counter seconds)."""
    while time.perf_counter() < until:
        started = time.perf_counter()
        response = await endpoint.call(client)
        cell.seconds.append(time.perf_counter() - started)
        cell.connections.add(response.extensions["client_addr"])
        cell.incomplete += not endpoint.whole(response)


async def _slice(base: str, endpoint: Endpoint, mode: str, cell: Cell, seconds: float) -> None:
    """One round of one mode: ``seconds`` of requests, added to ``cell``."""
    clients = [_client(base, keep_alive=mode != "fresh") for _ in range(_count(mode))]
    try:
        for client in clients:
            await endpoint.call(client)  # opens the kept-alive connection, untimed
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(_timed(endpoint, c, cell, until) for c in clients))
        cell.wall += time.perf_counter() - started
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


def _count(mode: str) -> int:
    return CLIENTS if mode == f"{CLIENTS} clients" else 1


async def measure(
    servers: dict[str, str], rounds: int, seconds: float
) -> dict[tuple[str, str, str], Cell]:
    """Every (server, endpoint, mode) for ``seconds`` in all, in ``rounds`` interleaved slices."""
    cells: dict[tuple[str, str, str], Cell] = {}
    for _ in range(rounds):
        for endpoint in ENDPOINTS:
            for mode in MODES:
                for name, base in servers.items():
                    cell = cells.setdefault((name, endpoint.label, mode), Cell())
                    await _slice(base, endpoint, mode, cell, seconds / rounds)
    return cells


def _check_connections(cells: dict[tuple[str, str, str], Cell], rounds: int) -> None:
    """Kept-alive rows used one connection per client and round; fresh rows a new one for
    (nearly) every request (an ephemeral port may come round again)."""
    for (name, label, mode), cell in cells.items():
        if mode == "fresh" and len(cell.connections) < 0.9 * len(cell.seconds):
            raise RuntimeError(f"{name} {label}: fresh requests shared connections")
        if mode != "fresh" and len(cell.connections) > _count(mode) * rounds:
            raise RuntimeError(f"{name} {label}: kept-alive requests opened new connections")


def table(cells: dict[tuple[str, str, str], Cell], server: str) -> str:
    lines = [
        "| endpoint | connection | requests | median | p99 | median / fresh median | requests/s"
        " | incomplete |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        fresh = cells[(server, endpoint.label, "fresh")].median()
        for mode in MODES:
            cell = cells[(server, endpoint.label, mode)]
            lines.append(
                f"| {endpoint.label} | {mode} | {len(cell.seconds)} | {_ms(cell.median())} | "
                f"{_ms(cell.p99())} | {cell.median() / fresh:.2f}x | {cell.rate():.0f} | "
                f"{cell.incomplete} |"
            )
    return "\n".join(lines)


def before_after(cells: dict[tuple[str, str, str], Cell]) -> str:
    lines = [
        "| endpoint | connection | median before | median now | now / before |",
        "|---|---|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        for mode in MODES:
            before = cells[("before", endpoint.label, mode)].median()
            now = cells[("now", endpoint.label, mode)].median()
            lines.append(
                f"| {endpoint.label} | {mode} | {_ms(before)} | {_ms(now)} | {now / before:.2f}x |"
            )
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="per row, over all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved slices per row")
    parser.add_argument("--before", type=Path, help="a checkout to compare with (before/after)")
    args = parser.parse_args(argv)
    sources = {"now": REPO}
    if args.before is not None:
        sources["before"] = args.before.resolve()
    load = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(lab(path)) for name, path in sources.items()}
        cells = asyncio.run(measure(servers, args.rounds, args.seconds))
    _check_connections(cells, args.rounds)
    print(
        f"machine: {os.cpu_count()} CPUs; 1-minute load average {load:.1f} before,"
        f" {os.getloadavg()[0]:.1f} after; {args.seconds:g} s per row in {args.rounds} rounds"
    )
    for name in sources:
        print(f"\n{name}: maildiag serve --lab from {sources[name]}\n")
        print(table(cells, name))
    if "before" in sources:
        print("\nbefore / after, in the same run:\n")
        print(before_after(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
