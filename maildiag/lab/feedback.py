"""A week of the reports the lab's demo receivers send about our senders, so ``/reports`` and
the checklist show real-looking data offline.

Each demo receiver that takes mail (kunde-ok, kunde-nomx, kunde-greylist, kunde-spam,
kunde-sprett) sends a daily DMARC aggregate report per sender domain (.xml.gz, kunde-spam's
as .zip, as Microsoft and Google do), and the two that publish TLS-RPT send SMTP TLS reports
about delivering to our domains' MX (.json.gz). Planted in them:

- the legacy identity's DKIM failures (its published key does not match) and SPF permerror
  (11 lookups): DMARC fails, its p=quarantine applies;
- a forwarder (``FORWARDER``) in front of kunde-ok that breaks SPF, while DKIM survives;
- a spoofer (``SPOOFER``) sending as platform.visma.com from an unknown IP, rejected;
- kunde-spam quarantining our mail by local policy (its spam filter) although DMARC passes;
- kunde-greylist's failed TLS sessions to connect.visma.com's MX (certificate-host-mismatch).

The files are generated (deterministic per day) and imported through the same path as any
upload, so a report seen again is a duplicate and reseeding is harmless.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from maildiag.feedback import IngestResult, Source, ingest
from maildiag.lab.zones import BROKEN_SENDER, HEALTHY_SENDERS, LAB_EGRESS

log = logging.getLogger(__name__)

DAYS = 7
# a day's reports are imported this long before the day begins, so "the last 7 days" is full
# at every moment, midnight included, whether the lab started before it or after
LEAD = dt.timedelta(minutes=5)
REPORTERS = (
    "kunde-ok.example",
    "kunde-nomx.example",
    "kunde-greylist.example",
    "kunde-spam.example",
    "kunde-sprett.example",
)
TLS_REPORTERS = ("kunde-ok.example", "kunde-greylist.example")  # they publish TLS-RPT
QUARANTINING = "kunde-spam.example"
FORWARDED_TO = "kunde-ok.example"
FORWARDER = "192.0.2.45"  # RFC 5737: an alumni forwarder in front of kunde-ok
SPOOFER = "192.0.2.66"  # RFC 5737: nobody we know
SPOOFED_BY = ("kunde-ok.example", "kunde-greylist.example")
POLICY = {**dict.fromkeys(HEALTHY_SENDERS, "reject"), BROKEN_SENDER: "quarantine"}


@dataclass(frozen=True)
class _Row:
    ip: str
    count: int
    disposition: str
    dkim: str
    spf: str
    dkim_auth: str = ""  # the signature's own result; "" for an unsigned message
    spf_auth: str = "pass"
    reason: str = ""  # policy override type (RFC 7489 Appendix C), with a comment


def _number(*parts: object, low: int, high: int) -> int:
    """A stable number in ``low..high`` for ``parts`` (the same report every reseed)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low + 1)


def _rows(reporter: str, domain: str, day: dt.date) -> list[_Row]:
    ip = LAB_EGRESS[domain]
    if domain == BROKEN_SENDER:
        count = _number(reporter, domain, day, low=2, high=9)
        return [_Row(ip, count, "quarantine", "fail", "fail", "fail", "permerror")]
    count = _number(reporter, domain, day, low=12, high=60)
    if reporter == QUARANTINING:
        rows = [_Row(ip, count, "quarantine", "pass", "pass", "pass", reason="local_policy")]
    else:
        rows = [_Row(ip, count, "none", "pass", "pass", "pass")]
    if reporter == FORWARDED_TO and domain == HEALTHY_SENDERS[0]:
        forwarded = _number("forward", day, low=2, high=6)
        rows.append(_Row(FORWARDER, forwarded, "none", "pass", "fail", "pass", "fail"))
    if reporter in SPOOFED_BY and domain == HEALTHY_SENDERS[0] and day.toordinal() % 3 != 1:
        spoofed = _number("spoof", reporter, day, low=4, high=30)
        rows.append(_Row(SPOOFER, spoofed, "reject", "fail", "fail", "", "fail"))
    return rows


def _record(row: _Row, domain: str, reporter: str) -> str:
    reason = (
        f"<reason><type>{row.reason}</type><comment>spam filter: sender not allowlisted"
        "</comment></reason>"
        if row.reason
        else ""
    )
    dkim = (
        f"<dkim><domain>{domain}</domain><selector>lab2026</selector>"
        f"<result>{row.dkim_auth}</result></dkim>"
        if row.dkim_auth
        else ""
    )
    return (
        f"<record><row><source_ip>{row.ip}</source_ip><count>{row.count}</count>"
        f"<policy_evaluated><disposition>{row.disposition}</disposition><dkim>{row.dkim}</dkim>"
        f"<spf>{row.spf}</spf>{reason}</policy_evaluated></row><identifiers>"
        f"<envelope_to>{reporter}</envelope_to><envelope_from>{domain}</envelope_from>"
        f"<header_from>{domain}</header_from></identifiers><auth_results>{dkim}"
        f"<spf><domain>{domain}</domain><scope>mfrom</scope><result>{row.spf_auth}</result>"
        "</spf></auth_results></record>"
    )


def _span(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    begin = dt.datetime.combine(day, dt.time(), dt.UTC)
    return begin, begin + dt.timedelta(days=1, seconds=-1)


def aggregate_xml(reporter: str, domain: str, day: dt.date) -> bytes:
    """``reporter``'s DMARC aggregate report on ``domain`` for ``day`` (RFC 7489 Appendix C)."""
    begin, end = _span(day)
    records = "".join(_record(row, domain, reporter) for row in _rows(reporter, domain, day))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feedback><version>1.0</version>'
        f"<report_metadata><org_name>{reporter}</org_name>"
        f"<email>dmarc-reports@{reporter}</email>"
        f"<report_id>{reporter}!{domain}!{day:%Y%m%d}</report_id>"
        f"<date_range><begin>{int(begin.timestamp())}</begin><end>{int(end.timestamp())}</end>"
        f"</date_range></report_metadata><policy_published><domain>{domain}</domain>"
        f"<adkim>r</adkim><aspf>r</aspf><p>{POLICY[domain]}</p><pct>100</pct>"
        f"</policy_published>{records}</feedback>\n"
    ).encode()


def tls_json(reporter: str, domain: str, day: dt.date) -> bytes:
    """``reporter``'s SMTP TLS report (RFC 8460 §4) on delivering to ``domain`` for ``day``."""
    begin, end = _span(day)
    sessions = _number("tls", reporter, domain, day, low=8, high=40)
    failures = []
    if reporter == "kunde-greylist.example" and domain == HEALTHY_SENDERS[1]:
        failed = _number("tlsfail", day, low=1, high=5)
        failures.append(
            {
                "result-type": "certificate-host-mismatch",
                "sending-mta-ip": "192.0.2.25",
                "receiving-mx-hostname": f"mx.{domain}",
                "receiving-ip": "127.0.0.1",
                "failed-session-count": failed,
            }
        )
    report = {
        "organization-name": reporter,
        "date-range": {
            "start-datetime": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end-datetime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "contact-info": f"tls-reports@{reporter}",
        "report-id": f"{reporter}!{domain}!{day:%Y%m%d}!tls",
        "policies": [
            {
                "policy": {"policy-type": "no-policy-found", "policy-domain": domain},
                "summary": {
                    "total-successful-session-count": sessions,
                    "total-failure-session-count": sum(
                        int(str(f["failed-session-count"])) for f in failures
                    ),
                },
                "failure-details": failures,
            }
        ],
    }
    return json.dumps(report, indent=1).encode()


def _zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def week_files(today: dt.date, days: int = DAYS) -> Iterator[Source]:
    """The report files of the ``days`` days up to ``today`` (each covers a whole UTC day;
    today's stands for the one that will come tomorrow, so a fresh lab's "last 7 days" is
    full), named as their senders name them."""
    for back in range(days - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        begin, end = (int(t.timestamp()) for t in _span(day))
        for reporter in REPORTERS:
            for domain in (*HEALTHY_SENDERS, BROKEN_SENDER):
                name = f"{reporter}!{domain}!{begin}!{end}"
                xml = aggregate_xml(reporter, domain, day)
                if reporter == QUARANTINING:
                    yield Source(f"{name}.zip", _zipped(f"{name}.xml", xml))
                else:
                    yield Source(f"{name}.xml.gz", gzip.compress(xml, mtime=0))
        for reporter in TLS_REPORTERS:
            for domain in HEALTHY_SENDERS:
                name = f"{reporter}!{domain}!{begin}!{end}!tls.json.gz"
                yield Source(name, gzip.compress(tls_json(reporter, domain, day), mtime=0))


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def lab_week(now: dt.datetime) -> Iterator[Source]:
    """The report files a lab holds at ``now``: the week up to today, and tomorrow's too when
    tomorrow is less than ``LEAD`` away."""
    today = now.date()
    yield from week_files(today)
    if (now + LEAD).date() > today:
        yield from week_files(today + dt.timedelta(days=1), days=1)


def next_top_up(now: dt.datetime) -> dt.datetime:
    """When the lab next imports a day's reports: ``LEAD`` before the next UTC midnight that
    is more than ``LEAD`` after ``now``."""
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    if midnight - LEAD <= now:
        midnight += dt.timedelta(days=1)
    return midnight - LEAD


def seed_lab_reports(
    engine: sa.Engine, today: dt.date | None = None, *, now: dt.datetime | None = None
) -> list[IngestResult]:
    """Import the lab's week of reports up to ``today``, or, without it, those the lab holds
    at ``now`` (default: the clock; see ``lab_week``); what is stored already counts as
    duplicate. Blocking; run it in a thread."""
    if today is not None:
        return ingest(engine, week_files(today))
    return ingest(engine, lab_week(now or _utc_now()))


async def keep_lab_reports_current(
    engine: sa.Engine,
    *,
    clock: Callable[[], dt.datetime] = _utc_now,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Import each new day's reports ``LEAD`` before the day begins, as the demo receivers'
    reports would arrive, so a lab left running shows a full week on every day. Runs until
    cancelled; a failed import is logged and tried again at the next top-up."""
    while True:
        now = clock()
        await sleep((next_top_up(now) - now).total_seconds())
        at = clock()
        try:
            results = await asyncio.to_thread(seed_lab_reports, engine, now=at)
        except Exception:  # the database may be gone for a moment; the next day tries again
            log.exception("lab.reports_top_up_failed")
            continue
        new = sum(not (r.duplicate or r.refused) for r in results)
        log.info("lab.reports_topped_up new=%s", new)


__all__ = [
    "FORWARDER",
    "LEAD",
    "REPORTERS",
    "SPOOFER",
    "TLS_REPORTERS",
    "aggregate_xml",
    "keep_lab_reports_current",
    "lab_week",
    "next_top_up",
    "seed_lab_reports",
    "tls_json",
    "week_files",
]
