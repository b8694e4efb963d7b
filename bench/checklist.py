"""Benchmark of the checklist's budget (not a test): run ``python -m bench.checklist``.

With each reply of the lab DNS server leaving 20 ms after its query arrived, it times the
self-service checklist (``POST /api/v1/checklist``, audience self) and the support checklist
(the same API, audience support, signed in as ``support@visma.example``) for
``kari@kunde-ok.example``, through the app in process (``httpx.ASGITransport``) composed as
``maildiag serve --lab`` composes it: the lab DNS server on the same event loop, the lab's
accounts in SQLite, the SMTP sink as every demo MX (so the probe talks SMTP with it), a fresh
resolver per request (``--server thread|process`` moves the DNS server). The self checklist
is also timed for an address that has no account, interleaved, and its answer compared: it
must not tell the two apart, in output or in time.

Each median is compared with its row's critical path: the time the checklist must spend
waiting on the network whatever its code does. For every row that is the chain of its DNS
queries, measured as ``bench.sender`` measures the sender report's (its ``LevelResolver``,
``inherent_chains`` and ``dns_server`` are used here): the chain our code makes, and the
inherent chain read from the zone's data (the sender identities' chains, and the recipient's
MX -> its host's addresses), levels times the latency. The support row's SMTP probe can only
start once the MX host's address is known, so its critical path adds the probe's TCP connect
to that address (the lab MX: the sink, on loopback), the median of ``--runs`` connects timed
in the same run after the checklists. The probe's SMTP exchanges that follow are work of the
two ends in this process, not waiting, and count against the budget like all other work. The
target is a median at most 1.5 times the critical path. It also prints the CPU time of this
thread per checklist (the app, the sink's side of the probe, and with ``loop`` the DNS server)
and the same checklists with instant answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import sessionmaker

import reset
from bench.sender import (
    UNIT,
    LevelResolver,
    dns_server,
    inherent_chains,
    median_text,
    parse_dns_args,
)
from diag.resolver import MemoryResolver, Resolver, ZoneData, normalize_name
from maildiag.db import create_engine
from maildiag.lab.dns import LabDnsServer
from maildiag.lab.kit import LabKey, lab_settings, prepare_lab
from maildiag.lab.seed import prepare_lab_database
from maildiag.services.identities import reset_identities, sender_spec
from maildiag.settings import Settings
from maildiag.sink.service import run_sink
from maildiag.web import create_app
from maildiag.web.auth import SESSION_COOKIE

LATENCY = 0.02  # seconds from a query's arrival at the lab server to its reply
TARGET_RATIO = 1.5  # median / inherent critical path
REGISTERED = "kari@kunde-ok.example"
UNREGISTERED = "ola@kunde-ok.example"  # no account: the self checklist must not tell
SUPPORT = "support@visma.example"
ROWS = ("self, registered", "self, no account", "support")
Chain = tuple[str, ...]


def mx_chain(zone: ZoneData, domain: str) -> Chain:
    """MX -> the first host's A/AAAA (the probe connects to that address; RFC 5321 §5.1);
    without MX records, the implicit MX's A/AAAA; a null MX ends at the MX answer."""
    records = _records(zone, domain, "MX")
    if not records:
        return (f"{domain} MX", f"{domain} A/AAAA (implicit MX)")
    host = normalize_name(records[0].split()[-1])
    if host in ("", "."):
        return (f"{domain} MX (null MX)",)
    return (f"{domain} MX", f"{host} A/AAAA")


@dataclass
class Lab:
    """The app on the lab composition, and a client for each audience."""

    settings: Settings
    app: Any
    anonymous: httpx.AsyncClient
    support: httpx.AsyncClient


@contextlib.asynccontextmanager
async def open_lab(
    data: Path, keys: list[LabKey], dns_port: int, resolver: Resolver | None = None
) -> AsyncIterator[Lab]:
    """The app as ``serve --lab`` builds it, against the DNS server on ``dns_port`` (or with
    ``resolver`` for every request)."""
    base = Settings(
        lab=True,
        data_dir=data,
        dns_port=dns_port,
        smtp_port=0,
        sink_judge=False,  # the checklist sends no mail
        rate_limit_per_ip="100000000/minute",  # out of the way of the benchmark
        rate_limit_per_address="100000000/minute",
        allowed_hosts=["bench"],  # the clients' host below
    )
    await asyncio.to_thread(data.mkdir, parents=True, exist_ok=True)
    settings = lab_settings(base, keys)
    engine = create_engine(settings.database)
    try:
        await asyncio.to_thread(prepare_lab_database, settings, engine)
        async with run_sink(settings, engine) as sink:
            settings = settings.model_copy(update={"smtp_port": sink.port})
            app = create_app(settings, resolver=resolver, sink=sink)
            async with (
                app.router.lifespan_context(app),
                _client(app) as anonymous,
                _client(app) as support,
            ):
                support.cookies.set(SESSION_COOKIE, _session(engine, SUPPORT))
                yield Lab(settings, app, anonymous, support)
    finally:
        engine.dispose()


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60)


def _session(engine: Any, address: str) -> str:
    with sessionmaker(engine)() as session, session.begin():
        user = reset.find_user(session, address)
        assert user is not None, address
        secret = reset.start_session(session, user, now=dt.datetime.now(dt.UTC))
        return secret.reveal()


async def checklist(lab: Lab, row: str) -> dict[str, Any]:
    """One checklist as ``row`` asks for it; checked to be a whole, healthy answer."""
    support = row == "support"
    body = {
        "address": UNREGISTERED if row == "self, no account" else REGISTERED,
        "audience": "support" if support else "self",
        "lang": "en",
    }
    client = lab.support if support else lab.anonymous
    response = await client.post("/api/v1/checklist", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"{row}: {response.status_code} {response.text[:300]}")
    data: dict[str, Any] = response.json()
    statuses = {item["key"]: item["status"] for item in data["items"]}
    if statuses.get("recipient.can_receive") != "ok":
        raise RuntimeError(f"{row}: the probe did not finish: {statuses}")
    if statuses.get("sender.authentication") != "ok":
        raise RuntimeError(f"{row}: the sender reports did not finish: {statuses}")
    return data


def _same_for_both(registered: dict[str, Any], unregistered: dict[str, Any]) -> bool:
    text = json.dumps(unregistered, sort_keys=True).replace(UNREGISTERED, REGISTERED)
    return json.dumps(registered, sort_keys=True) == text


async def timed(lab: Lab, runs: int) -> dict[str, list[tuple[float, float]]]:
    """``runs`` of every row, interleaved: (wall, CPU of this thread) seconds per request."""
    times: dict[str, list[tuple[float, float]]] = {row: [] for row in ROWS}
    for row in ROWS:
        await checklist(lab, row)  # warm-up
    # The warm-up's first support request builds the account services (the password policy's
    # dictionaries among them); the full collection their objects bring due would otherwise
    # land in the first timed request (0.15-0.8 s, once). Later collections still count.
    gc.collect()
    answers: dict[str, dict[str, Any]] = {}
    for _ in range(runs):
        for row in ROWS:
            started, cpu = time.perf_counter(), time.thread_time()
            answers[row] = await checklist(lab, row)
            times[row].append((time.perf_counter() - started, time.thread_time() - cpu))
    if not _same_for_both(answers["self, registered"], answers["self, no account"]):
        raise RuntimeError("the self checklist differs between a registered and a new address")
    return times


async def connect_times(lab: Lab, address: str, count: int) -> list[float]:
    """Seconds per TCP connect to the lab MX at ``address`` (the sink's SMTP port), opened as the
    probe opens it (``asyncio.open_connection``); each connection is closed unused."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        _, writer = await asyncio.open_connection(address, lab.settings.smtp_port)
        times.append(time.perf_counter() - started)
        writer.close()
        await writer.wait_closed()
    return times


async def our_levels(data: Path, keys: list[LabKey], zone: ZoneData) -> dict[str, Any]:
    """Per row: the deepest level of our code's DNS queries, and every query's level. Each
    row is asked once with instant answers first, so no first-request work counts."""
    found: dict[str, Any] = {}
    async with open_lab(data, keys, 0, MemoryResolver(zone, strict=False)) as lab:
        for row in ROWS:
            await checklist(lab, row)
        for row in ROWS:
            resolver = LevelResolver(zone, UNIT)
            lab.app.state.maildiag.resolver = resolver
            resolver.start = asyncio.get_running_loop().time()
            await checklist(lab, row)
            found[row] = (max(resolver.levels.values()), dict(resolver.levels))
    return found


async def _timed_with_connects(lab: Lab, zone: ZoneData, runs: int) -> dict[str, Any]:
    times: dict[str, Any] = dict(await timed(lab, runs))
    times["connect"] = await connect_times(lab, mx_address(zone, REGISTERED), runs)
    return times


def mx_address(zone: ZoneData, address: str) -> str:
    """The first address of the first MX host of ``address``'s domain in the zone's data."""
    host = _records(zone, address.rpartition("@")[2], "MX")[0].split()[-1]
    return _records(zone, normalize_name(host), "A")[0]


def _records(zone: ZoneData, name: str, rdtype: str) -> list[str]:
    types = {n.lower().rstrip("."): t for n, t in zone.items()}
    return [str(r) for r in types.get(name, {}).get(rdtype, ())]


async def _measure_at(
    data: Path, keys: list[LabKey], zone: ZoneData, latency: float, where: str, runs: int
) -> dict[str, Any]:
    if where == "loop":  # as maildiag serve --lab runs it
        server = LabDnsServer(zone, latency=latency)
        async with server, open_lab(data, keys, server.port) as lab:
            return await _timed_with_connects(lab, zone, runs)
    with dns_server(zone, latency, where) as port:
        async with open_lab(data, keys, port) as lab:
            return await _timed_with_connects(lab, zone, runs)


def measure(runs: int, latency: float, where: str) -> dict[str, Any]:
    load = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="bench-checklist-"))
    keys, zone = prepare_lab(root)
    specs = [
        sender_spec(i)
        for i in reset_identities(lab_settings(Settings(lab=True, data_dir=root), keys))
    ]
    chains = inherent_chains(specs, zone)
    chains["recipient mx"] = mx_chain(zone, REGISTERED.rpartition("@")[2])
    levels = asyncio.run(our_levels(root / "levels", keys, zone))
    walls = asyncio.run(_measure_at(root / "timed", keys, zone, latency, where, runs))
    instant = asyncio.run(_measure_at(root / "instant", keys, zone, 0.0, where, runs))
    return {
        "chains": chains,
        "levels": levels,
        "walls": walls,
        "instant": instant,
        "load": (load, os.getloadavg()[0]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_dns_args(
        argv,
        prog="python -m bench.checklist",
        description="checklist budget benchmark",
        runs=15,
        latency=LATENCY,
        servers=("loop", "thread", "process"),
    )
    m = measure(args.runs, args.latency, args.server)
    depth = max(len(chain) for chain in m["chains"].values())
    dns_bound = depth * args.latency
    connect = statistics.median(m["walls"]["connect"])
    bounds = {row: dns_bound + (connect if row == "support" else 0.0) for row in ROWS}
    print(
        f"latency {args.latency * 1000:.0f} ms per answer; DNS server: {args.server};"
        f" {args.runs} runs per row, interleaved"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, 1-minute load average {m['load'][0]:.1f} before,"
        f" {m['load'][1]:.1f} after"
    )
    print("inherent chains (from the zone's data):")
    for check, links in m["chains"].items():
        print(f"  {len(links)}: {check}: {' -> '.join(links)}")
    print(f"inherent DNS critical path: {depth} levels = {dns_bound * 1000:.0f} ms")
    print(
        f"the probe's TCP connect to the lab MX (loopback), median of {args.runs}:"
        f" {connect * 1000:.2f} ms; support's critical path:"
        f" {bounds['support'] * 1000:.2f} ms"
    )
    for row, (level, queries) in m["levels"].items():
        print(f"our code's critical path, {row}: {level} levels ({len(queries)} distinct queries)")
    deepest = sorted(f"{n} {t}" for (n, t), lvl in m["levels"][ROWS[0]][1].items() if lvl > 1)
    print(f"  asked after an answer ({ROWS[0]}): {', '.join(deepest)}")
    walls = {row: [wall for wall, _ in m["walls"][row]] for row in ROWS}
    medians = {row: statistics.median(walls[row]) for row in ROWS}
    ratios = {row: medians[row] / bounds[row] for row in ROWS}
    for row in ROWS:
        cpu = statistics.median(cpu for _, cpu in m["walls"][row])
        instant = [wall for wall, _ in m["instant"][row]]
        print(f"{row}: {median_text(walls[row])}")
        print(
            f"  {ratios[row]:.2f}x the critical path; CPU {cpu * 1000:.1f} ms;"
            f" with instant answers: median {statistics.median(instant) * 1000:.0f} ms"
        )
    print("| row | median | p90 | critical path | median / critical path |")
    print("|---|---:|---:|---:|---:|")
    for row in ROWS:
        p90 = statistics.quantiles(walls[row], n=10)[-1]
        print(
            f"| {row} | {medians[row] * 1000:.0f} ms | {p90 * 1000:.0f} ms"
            f" | {bounds[row] * 1000:.1f} ms | {ratios[row]:.2f}x |"
        )
    self_ratio = medians["self, registered"] / medians["self, no account"]
    print(f"self checklist, registered / no account: {self_ratio:.3f} (same output: checked)")
    print(f"support / self: {medians['support'] / medians['self, registered']:.2f}")
    worst = max(ratios.values())
    verdict = "met" if worst <= TARGET_RATIO else "NOT met"
    print(f"target: every median <= {TARGET_RATIO}x its critical path: {verdict} ({worst:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
