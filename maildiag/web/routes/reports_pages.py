"""The receivers' reports page ``/reports`` and its drill-down ``/reports/records``.

``/reports`` shows, for one sender domain (chosen, or the one with the most mail) over the
last days: messages by disposition and the DKIM, SPF and DMARC pass rates per day (an SVG
chart and a table), the top source IPs marked ours or not, the receivers that quarantined or
rejected, and TLS sessions and failures. Each source IP and receiver links to its records.

Who may see it: support and admin (signed in); without a session the browser is sent to sign
in, a user gets 403. The reports name our traffic and its receivers, never an account. Admins,
who import reports, also see the report files refused last and why.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from diag.errors import InputError
from maildiag.services import feedback
from maildiag.web import deps, i18n
from maildiag.web.checklist_web import private
from maildiag.web.render import page, staff_page_user
from reports import ChartDay, disposition_chart

router = APIRouter(include_in_schema=False)
ROLE = "support"
DAY_CHOICES = (7, 14, 30, 90)


def _days(text: str) -> int:
    """The period asked for: one of ``DAY_CHOICES`` (default 7). Raises InputError."""
    if not text:
        return feedback.DEFAULT_DAYS
    if not text.isdigit() or int(text) not in DAY_CHOICES:
        raise InputError("reports.bad_days", max=feedback.MAX_DAYS)
    return int(text)


def _chart(report: feedback.DomainReport, lang: str) -> object:
    def t(key: str, **values: object) -> str:
        return i18n.text(key, lang, **values)

    days = [
        ChartDay(
            d.day,
            d.tally.dispositions["none"],
            d.tally.dispositions["quarantine"],
            d.tally.dispositions["reject"],
            d.tally.dmarc_pass / d.tally.messages if d.tally.messages else None,
        )
        for d in report.days
    ]
    total = report.total
    words = {
        "title": t("reports.chart_title", domain=report.domain),
        "desc": t(
            "reports.chart_desc",
            messages=total.messages,
            quarantine=total.dispositions["quarantine"],
            reject=total.dispositions["reject"],
            start=report.period.start.isoformat(),
            end=report.period.end.isoformat(),
        ),
        "none": t("reports.disposition.none"),
        "quarantine": t("reports.disposition.quarantine"),
        "reject": t("reports.disposition.reject"),
        "rate": t("reports.dmarc_rate"),
    }
    return disposition_chart(days, words)


def _reports_page(request: Request, status_code: int = 200, **context: object) -> Response:
    values: dict[str, object] = {
        "error": None,
        "report": None,
        "domains": [],
        "domain": "",
        "days": feedback.DEFAULT_DAYS,
        "day_choices": DAY_CHOICES,
        "chart": None,
        "rejected": [],
    }
    values.update(context)
    return private(page(request, "reports.html", status_code, **values))


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, domain: str = "", days: str = "") -> Response:
    """The figures for ``domain`` (default: the domain with the most mail) over ``days``."""
    user = await staff_page_user(request, ROLE, "reports.forbidden", home="/reports")
    if isinstance(user, Response):
        return user
    lang = deps.lang_of(request)
    try:
        period = feedback.period_of(_days(days))
        wanted = feedback.clean_domain(domain) if domain else ""
    except InputError as exc:
        return _reports_page(request, 400, user=user, error=i18n.reason(exc, lang))
    engine, settings = deps.database(request), deps.settings(request)
    domains = await asyncio.to_thread(feedback.sender_domains, engine, period)
    rejected = (
        await asyncio.to_thread(feedback.rejected_uploads, engine) if user.has_role("admin") else []
    )
    chosen = wanted or (domains[0].domain if domains else "")
    if not chosen:
        return _reports_page(
            request, user=user, days=(period.end - period.start).days + 1, rejected=rejected
        )
    report = await asyncio.to_thread(feedback.domain_report, engine, settings, chosen, period)
    return _reports_page(
        request,
        user=user,
        rejected=rejected,
        report=report,
        domains=domains,
        domain=chosen,
        days=(period.end - period.start).days + 1,
        chart=_chart(report, lang),
    )


@router.get("/reports/records", response_class=HTMLResponse)
async def records_page(
    request: Request, domain: str = "", source_ip: str = "", receiver: str = "", days: str = ""
) -> Response:
    """The records behind a source IP or a receiver (and the domain), most messages first."""
    user = await staff_page_user(request, ROLE, "reports.forbidden", home="/reports")
    if isinstance(user, Response):
        return user
    wanted = {"domain": domain, "source_ip": source_ip, "receiver": receiver}
    context: dict[str, object] = {"user": user, "rows": None, "error": None, **wanted}
    try:
        period = feedback.period_of(_days(days))
        rows = await asyncio.to_thread(
            feedback.record_rows, deps.database(request), period, **wanted
        )
    except InputError as exc:
        context["error"] = i18n.reason(exc, deps.lang_of(request))
        return private(page(request, "reports_records.html", 400, **context))
    context.update(rows=rows, days=(period.end - period.start).days + 1)
    return private(page(request, "reports_records.html", 200, **context))
