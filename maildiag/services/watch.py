"""The watch on our sender identities: one round re-checks every configured identity (SPF,
DKIM keys, DMARC, the egress IPs on the DNSBLs, reverse DNS and HELO, an MX for bounces),
stores it, and reports each change from pass to fail or back as an event: in the log, in
``/metrics`` (read from the stored history) and to ``watch_webhook_url`` when set.

``watch_round`` is the one entry point for a round. ``maildiag worker`` runs it every
``watch_interval_seconds``: on PostgreSQL as a periodic job of the job engine
(``register_watch``), so that however many workers run, each tick has one round; on SQLite
in a loop of its own (``watch_forever``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from publicsuffixlist import PublicSuffixList

from diag.findings import ERROR, WARNING
from diag.netguard import ForbiddenTarget, check_target
from diag.resolver import Resolver
from diag.senders import SenderReport
from maildiag.services.senders import sender_reports
from maildiag.settings import Settings
from maildiag.watch import CheckState, Round, changes, last_judged, record_round

if TYPE_CHECKING:
    from maildiag.jobs import Jobs

log = logging.getLogger(__name__)

# The sender report's sections the watch follows (DESIGN.md; issue 16 §4). ``reverse`` holds
# reverse DNS and the HELO name; alignment and the signed sample follow from these.
WATCHED = ("spf", "dkim", "dmarc", "dnsbl", "reverse", "bounce_mx")
MIN_INTERVAL = 1.0  # seconds between rounds at the least, whatever the setting says
WATCH_JOB = "watch.round"  # the periodic job of a round (PostgreSQL)
MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)  # divide an hour: every tick is even
HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)  # divide a day


async def watch_round(
    settings: Settings, engine: sa.Engine, resolver: Resolver, psl: PublicSuffixList
) -> Round:
    """Check every configured identity once, store the round and send out its events.

    Raises SQLAlchemy errors when the history cannot be read or written; a webhook that
    cannot be reached is logged, never raised.
    """
    started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
    reports = await sender_reports(settings, [], resolver, psl)
    previous = await asyncio.to_thread(last_judged, engine)
    checks = changes(previous, (s for r in reports for s in check_states(r)))
    elapsed = round((time.perf_counter() - clock) * 1000)
    stored = await asyncio.to_thread(record_round, engine, started, elapsed, checks)
    for event in stored.events:
        log.warning(
            "watch.event identity=%s check=%s change=%s codes=%s",
            event.identity,
            event.check,
            event.change,
            ",".join(event.codes),
        )
    if stored.events and settings.watch_webhook_url:
        await post_events(settings, stored)
    return stored


def check_states(report: SenderReport) -> Iterator[CheckState]:
    """The watched sections of one identity's report, with their problem and warning codes."""
    for key in WATCHED:
        section = report.section(key)
        if section is None:  # no DNSBL zones configured, say
            yield CheckState(report.subject, key, "not_checked")
            continue
        codes = sorted({f.code for f in section.findings if f.severity in (ERROR, WARNING)})
        yield CheckState(report.subject, key, section.status, tuple(codes))


def round_json(stored: Round) -> dict[str, object]:
    """One round as the API and the webhook give it."""
    return {
        "id": stored.id,
        "started_at": stored.started_at.isoformat(timespec="seconds"),
        "elapsed_ms": stored.elapsed_ms,
        "checks": [_check_json(c) for c in stored.checks],
        "events": [_check_json(c) for c in stored.events],
    }


def _check_json(check: CheckState) -> dict[str, object]:
    return {
        "identity": check.identity,
        "check": check.check,
        "status": check.status,
        "codes": list(check.codes),
        "change": check.change,
    }


async def post_events(settings: Settings, stored: Round) -> bool:
    """POST the round's events to ``watch_webhook_url``; True when it answered 2xx.

    The network guard applies: the webhook host's addresses must be public, or private ones
    allowed (``allow_private_targets``), and redirects are not followed, so the POST goes
    only where the operator configured it. Failures are logged, never raised.
    """
    url = settings.watch_webhook_url
    try:
        await _guard(url, allow_private=settings.allow_private_targets)
        async with httpx.AsyncClient(
            timeout=settings.watch_webhook_timeout, follow_redirects=False, trust_env=False
        ) as client:
            answer = await client.post(url, json={"source": "maildiag", **round_json(stored)})
    except ForbiddenTarget as exc:
        log.warning("watch.webhook_refused ip=%s category=%s", exc.ip, exc.category)
        return False
    except (httpx.HTTPError, OSError) as exc:
        log.warning("watch.webhook_failed error=%s", type(exc).__name__)
        return False
    if not answer.is_success:
        log.warning("watch.webhook_status status=%s", answer.status_code)
    return answer.is_success


async def _guard(url: str, *, allow_private: bool) -> None:
    """Raises ForbiddenTarget unless every address of the URL's host may be reached."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=0, proto=6)
    for info in infos:
        check_target(str(info[4][0]), allow_private=allow_private)


async def watch_forever(
    settings: Settings,
    engine: sa.Engine,
    resolvers: Callable[[], Resolver],
    psl: PublicSuffixList,
    stop: asyncio.Event,
    *,
    on_round: Callable[[Round], None] | None = None,
) -> None:
    """A round every ``watch_interval_seconds`` (the first at once) until ``stop`` is set;
    ``on_round`` gets each stored round. A round that fails is logged and the next one runs
    on time."""
    interval = max(settings.watch_interval_seconds, MIN_INTERVAL)
    while not stop.is_set():
        try:
            stored = await watch_round(settings, engine, resolvers(), psl)
            if on_round is not None:
                on_round(stored)
        except sa.exc.SQLAlchemyError as exc:
            log.error("watch.round_failed error=%s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def watch_cron(interval_seconds: float) -> str:
    """The job engine's schedule for a round every ``interval_seconds``: rounded up to whole
    minutes that divide an hour, else to whole hours that divide a day, else once a day (at
    midnight UTC), so that the ticks are evenly spaced. 90 s gives every 2 minutes, 3600 s
    every hour, 5 h every 6 hours, 2 days once a day."""
    minutes = max(1, math.ceil(interval_seconds / 60))
    for step in MINUTE_STEPS:
        if minutes <= step:
            return f"*/{step} * * * *"
    hours = math.ceil(minutes / 60)
    for step in HOUR_STEPS:
        if hours <= step:
            return f"0 */{step} * * *"
    return "0 0 * * *"


def register_watch(
    jobs: Jobs,
    settings: Settings,
    engine: sa.Engine,
    resolvers: Callable[[], Resolver],
    psl: PublicSuffixList,
) -> str:
    """Register the watch's round as the periodic job ``watch.round`` in the worker's
    ``jobs`` (one job per tick for all workers); returns its schedule. A round that fails is
    logged and the next tick runs as planned."""
    cron = watch_cron(settings.watch_interval_seconds)

    @jobs.periodic(WATCH_JOB, cron=cron)
    async def watch_tick(timestamp: int) -> None:
        try:
            await watch_round(settings, engine, resolvers(), psl)
        except sa.exc.SQLAlchemyError as exc:
            log.error("watch.round_failed error=%s", exc)

    return cron
