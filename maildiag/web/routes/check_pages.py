"""The mail administrator's page ``/check``: a domain (or an address) in; the recipient
evidence (MX, provider, the probe as our senders), the sender evidence (our identities' SPF,
DKIM and DMARC) and the allowlisting steps for the detected provider out.

No login is needed for the DNS checks of a domain. The SMTP probe (as our senders, stopping
after MAIL FROM for a domain) runs only for a signed-in admin (``maildiag.web.probing``); an
address is asked about by RCPT only for an admin too, anyone else gets the check of the
address's domain, so this page cannot be used to learn which mailboxes exist at a company.
Rate limited per client IP and per domain (signed-in staff: per account and per domain, on
counters of their own; ``checklist_web.count_domain_check``), and the probe per mail server
for all users. A refusal is a 429 with ``Retry-After`` that says when the next check is
possible.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from diag.checklist import Checklist
from diag.errors import InputError
from diag.senders import SenderReport
from maildiag.services.checklist import admin_check, lab_test_sends
from maildiag.services.inputs import (
    MAX_ADDRESS,
    clean_address,
    clean_domain,
    domain_target,
)
from maildiag.web import deps, i18n
from maildiag.web.auth import optional_user, staff
from maildiag.web.checklist_web import (
    count_domain_check,
    limited_reason,
    private,
    retry_after,
    senders_of,
    testsend_section,
)
from maildiag.web.probing import CHECK_ROLE, RATE_LIMITED, smtp_probe
from maildiag.web.render import page
from reports import SenderView, checklist_view, sender_view

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

SENDER_SECTIONS = ("spf", "dkim", "dmarc", "alignment")  # what an allowlisting admin asks about


def sender_text(reports: tuple[SenderReport, ...], lang: str) -> SenderView:
    """Our reset senders' SPF, DKIM, DMARC and alignment (the sender report's view; the page
    draws it with the report's HTML template)."""
    return sender_view(reports, lang=lang, sections=SENDER_SECTIONS)


def probe_held(checklist: Checklist) -> bool:
    """Whether the probe was held back by the per-server limit."""
    item = checklist.item("delivery.accepted")
    return item is not None and item.evidence.get("reason") == RATE_LIMITED


def _check_page(request: Request, status_code: int = 200, **context: object) -> Response:
    values: dict[str, object] = {
        "domain": "",
        "error": None,
        "report": None,
        "note": None,
        "probe_note": None,
        "sender_text": None,
        "testsend": None,
        "senders": senders_of(request),
    }
    values.update(context)
    return private(page(request, "check.html", status_code, **values))


@router.get("/check", response_class=HTMLResponse)
async def check(request: Request, domain: str = "") -> Response:
    """The form; with ``?domain=`` the admin-audience checklist for it (its SMTP probe only
    for a signed-in admin)."""
    user = await optional_user(request)
    probe = smtp_probe(request, user, CHECK_ROLE)
    needs_admin = None if probe.enabled else "check.probe_needs_admin"
    if not domain.strip():
        return _check_page(request, probe_note=needs_admin)
    lang = deps.lang_of(request)
    shown = domain[:MAX_ADDRESS]
    note, rcpt = None, False
    try:
        if "@" in domain:
            address = clean_address(domain)
            target = domain_target(address.rpartition("@")[2])
            if probe.enabled:
                target, rcpt = address, True
            else:
                note = "check.address_as_domain"
        else:
            target = domain_target(clean_domain(domain))
    except InputError as exc:
        return _check_page(
            request, 400, domain=shown, error=i18n.reason(exc, lang), probe_note=needs_admin
        )
    name = target.rpartition("@")[2]
    decision = await count_domain_check(request, user, name)
    if not decision.allowed:
        log.info("checklist.rate_limited audience=admin by=%s", decision.limited_by)
        error = limited_reason(decision, lang)
        response = _check_page(request, 429, domain=shown, error=error, probe_note=needs_admin)
        response.headers["Retry-After"] = retry_after(decision)
        return response
    state = deps.app_state(request)
    result = await admin_check(
        state.settings,
        state.new_resolver(),
        target,
        rcpt=rcpt,
        probe=probe,
        test_send=lambda: lab_test_sends(state, target),
        sink=state.sink,
        reports=deps.database(request) if staff(user) else None,
    )
    report = checklist_view(result.checklist, lang=lang)
    senders = sender_text(result.senders, lang) if result.senders else None
    section = testsend_section(result.test_sends, lang)
    held = "check.probe_rate_limited" if probe_held(result.checklist) else None
    return _check_page(
        request,
        domain=shown,
        report=report,
        note=note,
        probe_note=needs_admin or held,
        sender_text=senders,
        testsend=section,
    )
