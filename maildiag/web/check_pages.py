"""The mail administrator's page ``/check``: a domain (or an address) in; the recipient
evidence (MX, provider, the probe as our senders), the sender evidence (our identities' SPF,
DKIM and DMARC) and the allowlisting steps for the detected provider out.

No login is needed for a domain: the probe stops after MAIL FROM (no RCPT TO). An address is
asked about by RCPT only for a logged-in admin; anyone else gets the check of the address's
domain, so this page cannot be used to learn which mailboxes exist at a company. Rate limited
per client IP and per domain.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from publicsuffixlist import PublicSuffixList

from diag.checklist import (
    Checklist,
    Evidence,
    ProbeResult,
    checklist_from_evidence,
    probe_recipient,
)
from diag.mx import MxReport, lookup_mx
from diag.resolver import Resolver
from diag.senders import SenderReport, check_sender
from maildiag.commands.sender import sender_spec
from maildiag.settings import Settings
from maildiag.web.auth import optional_user
from maildiag.web.checklist_pages import (
    CHECK_DEADLINE,
    MAX_ADDRESS,
    InputError,
    clean_address,
    clean_domain,
    client_ip,
    domain_target,
    fragment,
    lang_of,
    limited_reason,
    limits,
    private,
    probe_options,
    reset_identities,
    retry_after,
    sender_addresses,
)
from maildiag.web.pages import page
from reports import build_sender_view, render_sender

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

SENDER_SECTIONS = ("spf", "dkim", "dmarc", "alignment")  # what an allowlisting admin asks about


@dataclass(frozen=True)
class AdminCheck:
    """The admin-audience checklist and the sender reports behind its sender item."""

    checklist: Checklist
    senders: tuple[SenderReport, ...]


async def admin_check(
    settings: Settings, resolver: Resolver, address: str, *, rcpt: bool
) -> AdminCheck:
    """The admin-audience checklist for ``address``, asking RCPT TO only when ``rcpt``.

    Gathers the evidence as ``diag.checklist.build_checklist`` does (MX then the probe, the
    sender reports, side by side under one deadline; what the deadline cuts off is
    not_checked) but decides RCPT itself and keeps the sender reports for the page.
    """
    specs = [sender_spec(identity) for identity in reset_identities(settings)]
    addresses = tuple(spec.address for spec in specs)
    options = probe_options(settings)
    now = dt.datetime.now(dt.UTC)
    domain = address.rpartition("@")[2]

    async def recipient() -> tuple[MxReport, tuple[ProbeResult, ...]]:
        mx = await lookup_mx(domain, resolver, allow_private=options.allow_private)
        if not mx.can_receive:
            return mx, ()
        return mx, await probe_recipient(address, addresses, mx, options, resolver, rcpt=rcpt)

    async def senders() -> tuple[SenderReport, ...]:
        psl = await asyncio.to_thread(PublicSuffixList)  # ~0.15 s of CPU: off the event loop
        reports = await asyncio.gather(
            *(
                check_sender(
                    spec,
                    resolver,
                    dnsbl_zones=settings.dnsbl_zones,
                    deadline=CHECK_DEADLINE * 0.9,
                    now=now.timestamp(),
                    psl=psl,
                )
                for spec in specs
            )
        )
        return tuple(reports)

    mx_task, sender_task = asyncio.ensure_future(recipient()), asyncio.ensure_future(senders())
    await asyncio.wait((mx_task, sender_task), timeout=CHECK_DEADLINE)
    late = [name for name, t in (("mx", mx_task), ("senders", sender_task)) if not t.done()]
    for task in (mx_task, sender_task):
        task.cancel()
    await asyncio.gather(mx_task, sender_task, return_exceptions=True)
    mx, probes = _result(mx_task, (None, ()))
    reports: tuple[SenderReport, ...] = _result(sender_task, ())
    evidence = Evidence(
        address=address,
        audience="admin",
        now=now,
        sender_addresses=addresses,
        mx=mx,
        probes=probes,
        senders=reports,
        not_finished=tuple(sorted(late)),
    )
    return AdminCheck(checklist_from_evidence(evidence), reports)


def _result(task: asyncio.Future[Any], default: Any) -> Any:
    if task.cancelled():
        return default
    if task.exception() is not None:
        log.warning("check.source_failed error=%r", task.exception())
        return default
    return task.result()


def sender_text(reports: tuple[SenderReport, ...], lang: str) -> str:
    """Our reset senders' SPF, DKIM, DMARC and alignment (the sender report, as HTML)."""
    view = build_sender_view([report.to_dict() for report in reports], SENDER_SECTIONS)
    return render_sender(view, fmt="html", lang=lang)


def _check_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    values: dict[str, Any] = {
        "domain": "",
        "error": None,
        "report": None,
        "note": None,
        "sender_text": None,
        "senders": sender_addresses(request),
    }
    values.update(context)
    return private(page(request, "check.html", status_code, **values))


@router.get("/check", response_class=HTMLResponse)
async def check(request: Request, domain: str = "") -> Response:
    """The form; with ``?domain=`` the admin-audience checklist for it."""
    if not domain.strip():
        return _check_page(request)
    lang = lang_of(request)
    shown = domain[:MAX_ADDRESS]
    note, rcpt = None, False
    try:
        if "@" in domain:
            address = clean_address(domain)
            target = domain_target(address.rpartition("@")[2])
            user = await optional_user(request)
            if user is not None and user.has_role("admin"):
                target, rcpt = address, True
            else:
                note = "check.address_as_domain"
        else:
            target = domain_target(clean_domain(domain))
    except InputError as exc:
        return _check_page(request, 400, domain=shown, error=exc.text(lang))
    name = target.rpartition("@")[2]
    decision = await limits(request).domain_check.hit(client_ip(request), name)
    if not decision.allowed:
        log.info("checklist.rate_limited audience=admin by=%s", decision.limited_by)
        response = _check_page(request, 429, domain=shown, error=limited_reason(decision, lang))
        response.headers["Retry-After"] = retry_after(decision)
        return response
    state = request.app.state.maildiag
    result = await admin_check(state.settings, state.new_resolver(), target, rcpt=rcpt)
    report = fragment(result.checklist, lang)
    # The sender report's HTML comes from the autoescaping Environment.
    senders = Markup(sender_text(result.senders, lang)) if result.senders else None  # noqa: S704
    return _check_page(request, domain=shown, report=report, note=note, sender_text=senders)
