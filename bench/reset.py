"""Benchmark of the forgot-password request (not a test): run ``python -m bench.reset``.

POST /forgot-password requests per second through the real app in process (httpx's
ASGITransport, no sockets), on a fresh SQLite file in WAL mode with ``synchronous=FULL`` (one
committed outbox row per request, as in the lab). Registered and unregistered addresses are
interleaved in the same run and timed separately, so their medians can be compared: the
request path must not depend on whether an account exists. The captcha is stubbed through the
``reset.CaptchaVerifier`` interface (every solution passes; solving proof-of-work is the
client's cost, not the server's) and the rate limits are raised out of the way; CSRF, form
parsing, the limiter and the database insert run as in production. No outbox worker runs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import re
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy.orm import sessionmaker

import reset
from maildiag.db import create_engine, migrate
from maildiag.services.accounts import build_reset_services
from maildiag.settings import Settings
from maildiag.web import create_app

USERS = 200  # registered accounts; the same number of unregistered addresses
CONCURRENCY = 16  # requests in flight
SECONDS = 10.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class AcceptingVerifier:
    """A ``reset.CaptchaVerifier`` that passes every solution (the benchmark's stub)."""

    async def verify(self, solution: str, remote_ip: str | None) -> reset.CaptchaOutcome:
        return reset.CaptchaOutcome(True, "ok")


@dataclass
class Timings:
    registered: list[float] = field(default_factory=list)
    unregistered: list[float] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _seed(engine_url: str, hasher: reset.PasswordHasher) -> None:
    engine = create_engine(engine_url)
    migrate(engine)
    now = dt.datetime.now(dt.UTC)
    with sessionmaker(engine)() as session, session.begin():
        for i in range(USERS):
            reset.create_user(
                session, f"kari{i}@kunde-ok.example", "Demo#2026bench", hasher=hasher, now=now
            )
    engine.dispose()


async def run(seconds: float, concurrency: int) -> tuple[Timings, float, int]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-reset-"))
    settings = Settings(
        data_dir=data_dir,
        secret_key=SecretStr(secrets.token_urlsafe(32)),
        rate_limit_per_ip="10000000/minute",
        rate_limit_per_address="10000000/minute",
        allowed_hosts=["bench"],  # the clients' host below
    )
    cheap = reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _seed(settings.database, cheap)
    app = create_app(settings)
    services = build_reset_services(settings)
    services.captcha = AcceptingVerifier()
    app.state.maildiag.reset = services
    timings = Timings()
    deadline = time.perf_counter() + seconds
    counter = 0

    async def client_loop(index: int) -> None:
        nonlocal counter
        transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{index + 1}", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            page = await client.get("/forgot-password")
            match = _CSRF.search(page.text)
            assert match is not None
            token = match.group(1)
            while time.perf_counter() < deadline:
                counter += 1
                registered = counter % 2 == 0
                n = counter % USERS
                address = f"kari{n}@kunde-ok.example" if registered else f"ola{n}@kunde-ok.example"
                form = {"csrf_token": token, "email": address, "altcha": "stub"}
                started = time.perf_counter()
                response = await client.post("/forgot-password", data=form)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"unexpected status {response.status_code}")
                (timings.registered if registered else timings.unregistered).append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(i) for i in range(concurrency)))
    wall = time.perf_counter() - started
    await services.aclose()
    return timings, wall, len(timings.registered) + len(timings.unregistered)


def report(timings: Timings, wall: float, total: int, concurrency: int) -> str:
    rows = []
    for name, values in (
        ("registered", timings.registered),
        ("unregistered", timings.unregistered),
    ):
        rows.append(
            f"| {name} | {len(values)} | {statistics.median(values) * 1000:.2f} ms "
            f"| {_percentile(values, 0.99) * 1000:.2f} ms |"
        )
    ratio = statistics.median(timings.registered) / statistics.median(timings.unregistered)
    return "\n".join(
        [
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"{concurrency} requests in flight, {wall:.1f} s: "
            f"**{total / wall:.0f} requests/s**",
            "",
            "| addresses | requests | p50 | p99 |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Median registered / median unregistered: **{ratio:.3f}**",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args()
    timings, wall, total = asyncio.run(run(args.seconds, args.concurrency))
    print(report(timings, wall, total, args.concurrency))


if __name__ == "__main__":
    main()
