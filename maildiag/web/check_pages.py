"""The mail administrator's page ``/check``: a domain (or an address) in; the recipient
evidence (MX, provider, the probe as our senders), the sender evidence (our identities' SPF,
DKIM and DMARC) and the allowlisting steps for the detected provider out.

No login is needed for a domain: its probe asks about postmaster only (RFC 5321 §4.5.1). An
address is asked about by RCPT only for a logged-in admin; anyone else gets the check of the
address's domain, so this page cannot be used to learn which mailboxes exist at a company.
Rate limited per client IP and per domain.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from publicsuffixlist import PublicSuffixList

from diag.resolver import Resolver
from diag.senders import check_sender
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
    reset_identities,
    retry_after,
    run_checklist,
    sender_addresses,
)
from maildiag.web.pages import page
from reports import build_sender_view, render_sender

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

SENDER_SECTIONS = ("spf", "dkim", "dmarc", "alignment")  # what an allowlisting admin asks about


async def sender_evidence(settings: Settings, resolver: Resolver, lang: str) -> str:
    """Our reset senders' SPF, DKIM, DMARC and alignment as text (the sender report)."""
    psl = await asyncio.to_thread(PublicSuffixList)  # ~0.15 s of CPU: off the event loop
    reports = await asyncio.gather(
        *(
            check_sender(
                sender_spec(identity),
                resolver,
                dnsbl_zones=settings.dnsbl_zones,
                deadline=CHECK_DEADLINE,
                psl=psl,
            )
            for identity in reset_identities(settings)
        )
    )
    view = build_sender_view([report.to_dict() for report in reports], SENDER_SECTIONS)
    return render_sender(view, fmt="markdown", lang=lang)


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
    note = None
    try:
        if "@" in domain:
            address = clean_address(domain)
            target = domain_target(address.rpartition("@")[2])
            user = await optional_user(request)
            if user is not None and user.has_role("admin"):
                target = address
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
    resolver = state.new_resolver()  # one cache for the checklist and the sender report
    checklist, senders = await asyncio.gather(
        run_checklist(request, target, audience="admin", resolver=resolver),
        sender_evidence(state.settings, resolver, lang),
    )
    report = fragment(checklist, lang)
    return _check_page(request, domain=shown, report=report, note=note, sender_text=senders)
