"""The mail administrator's page ``/check``: a domain (or an address) in; the recipient
evidence (MX, provider, the probe as our senders), the sender evidence (our identities' SPF,
DKIM and DMARC) and the allowlisting steps for the detected provider out.

No login is needed for the DNS checks of a domain. The SMTP probe (as our senders, stopping
after MAIL FROM for a domain) runs only for a signed-in admin (``maildiag.web.probing``); an
address is asked about by RCPT only for an admin too, anyone else gets the check of the
address's domain, so this page cannot be used to learn which mailboxes exist at a company.
Rate limited per client IP and per domain, and the probe per mail server for all users.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from diag.checklist import (
    AccountSource,
    Audience,
    Checklist,
    Evidence,
    ProbeOptions,
    ProbeResult,
    RcptRule,
    checklist_from_evidence,
    decide_rcpt,
    probe_recipient,
    read_account,
    read_pastes,
)
from diag.dkim import DkimSignError
from diag.errors import InputError
from diag.mx import MxReport, lookup_mx
from diag.names import MAX_ADDRESS_LENGTH as MAX_ADDRESS
from diag.resolver import Resolver
from diag.senders import SenderReport, check_sender
from diag.testsend import TestSendResult
from maildiag.commands.sender import sender_spec
from maildiag.settings import Settings
from maildiag.testsend import DEFAULT_TO, SinkTarget, TestSendError, run_test_sends
from maildiag.web import i18n
from maildiag.web.auth import optional_user
from maildiag.web.probing import CHECK_ROLE, RATE_LIMITED, smtp_probe
from maildiag.web.routes.checklist_pages import (
    CHECK_DEADLINE,
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
from maildiag.web.routes.pages import page
from reports import SenderView, TestSendView, sender_view, testsend_view

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

SENDER_SECTIONS = ("spf", "dkim", "dmarc", "alignment")  # what an allowlisting admin asks about


@dataclass(frozen=True)
class TestSendRun:
    """The in-process sink's verdicts on our test sends, or why there are none (``error``)."""

    __test__ = False  # not a pytest test class

    results: tuple[TestSendResult, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class AdminCheck:
    """The checklist, the sender reports behind its sender item, and the test sends (None
    when no sink runs in this process)."""

    checklist: Checklist
    senders: tuple[SenderReport, ...]
    test_sends: TestSendRun | None = None


async def lab_test_sends(state: Any) -> TestSendRun | None:
    """Send the reset identities' real reset mail into the sink running in this process (the
    lab) and read its verdicts; None without such a sink. Never raises: a sink that cannot be
    reached or a key that cannot sign becomes ``error``."""
    sink = state.sink
    if sink is None:
        return None
    settings: Settings = state.settings
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(sink.host, sink.host)
    try:
        results = await run_test_sends(
            settings,
            to=DEFAULT_TO,
            identities=reset_identities(settings),
            store=sink.store,
            target=SinkTarget(host, sink.proxy_port),
        )
    except (TestSendError, DkimSignError, OSError, ValueError) as exc:
        log.warning("check.test_send_failed error=%r", exc)
        return TestSendRun(error=str(exc) or type(exc).__name__)
    return TestSendRun(tuple(results))


async def gather_check(
    settings: Settings,
    resolver: Resolver,
    address: str,
    *,
    audience: Audience,
    rcpt: RcptRule,
    probe: ProbeOptions | None = None,
    account: AccountSource = None,
    headers: bytes | None = None,
    bounce: bytes | None = None,
    test_send: Callable[[], Awaitable[TestSendRun | None]] | None = None,
) -> AdminCheck:
    """The ``audience`` checklist for ``address``, probing as ``probe`` says (None: DNS only;
    ``maildiag.web.probing`` decides who may probe) and asking RCPT TO as ``rcpt`` says; the
    support audience's ``account`` is read as ``diag.checklist.build_checklist`` reads it.

    Gathers the evidence as ``diag.checklist.build_checklist`` does (MX then the probe, the
    sender reports and the ``test_send`` run, side by side under one deadline; what the
    deadline cuts off is not_checked, a test send cut off is an ``error``) but decides RCPT
    itself and keeps the sender reports and the test sends for the page.
    """
    specs = [sender_spec(identity) for identity in reset_identities(settings)]
    addresses = tuple(spec.address for spec in specs)
    now = dt.datetime.now(dt.UTC)
    domain = address.rpartition("@")[2]
    options = probe or probe_options(settings, smtp=False)

    async def recipient() -> tuple[MxReport, tuple[ProbeResult, ...]]:
        mx = await lookup_mx(domain, resolver, allow_private=options.allow_private)
        if not mx.can_receive or not options.enabled:
            return mx, ()
        ask = await decide_rcpt(rcpt, asyncio.shield(reading))
        return mx, await probe_recipient(address, addresses, mx, options, resolver, rcpt=ask)

    async def senders() -> tuple[SenderReport, ...]:
        reports = await asyncio.gather(
            *(
                check_sender(
                    spec,
                    resolver,
                    dnsbl_zones=settings.dnsbl_zones,
                    deadline=CHECK_DEADLINE * 0.9,
                    now=now.timestamp(),
                )
                for spec in specs
            )
        )
        return tuple(reports)

    async def no_test_send() -> None:
        return None

    reading = asyncio.ensure_future(read_account(account if audience == "support" else None))
    ends = asyncio.get_running_loop().time() + CHECK_DEADLINE
    tasks = {
        "mx": asyncio.ensure_future(recipient()),
        "senders": asyncio.ensure_future(senders()),
        "test_send": asyncio.ensure_future((test_send or no_test_send)()),
    }
    try:  # the account is read while the lookups are in flight
        facts = await reading
        timeout = max(0.0, ends - asyncio.get_running_loop().time())
        await asyncio.wait(tasks.values(), timeout=timeout)
    finally:
        late = [name for name, t in tasks.items() if not t.done()]
        for task in (*tasks.values(), reading):
            task.cancel()
        await asyncio.gather(*tasks.values(), reading, return_exceptions=True)
    mx, probes = _result(tasks["mx"], (None, ()))
    reports: tuple[SenderReport, ...] = _result(tasks["senders"], ())
    sends = _test_send_result(tasks["test_send"])
    spam, bounce_facts = await read_pastes(headers, bounce)
    evidence = Evidence(
        address=address,
        audience=audience,
        now=now,
        sender_addresses=addresses,
        mx=mx,
        probes=probes,
        senders=reports,
        spam=spam,
        bounce=bounce_facts,
        account=facts,
        test_sends=sends.results if sends is not None else (),
        not_finished=tuple(sorted(n for n in late if n != "test_send")),
    )
    return AdminCheck(checklist_from_evidence(evidence), reports, sends)


async def admin_check(
    settings: Settings,
    resolver: Resolver,
    address: str,
    *,
    rcpt: bool,
    probe: ProbeOptions | None = None,
    test_send: Callable[[], Awaitable[TestSendRun | None]] | None = None,
) -> AdminCheck:
    """The admin-audience checklist for ``address``, probing as ``probe`` says (None: DNS
    only), asking RCPT TO only when ``rcpt``."""
    return await gather_check(
        settings,
        resolver,
        address,
        audience="admin",
        rcpt=rcpt,
        probe=probe,
        test_send=test_send,
    )


def _result(task: asyncio.Future[Any], default: Any) -> Any:
    if task.cancelled():
        return default
    if task.exception() is not None:
        log.warning("check.source_failed error=%r", task.exception())
        return default
    return task.result()


def _test_send_result(task: asyncio.Future[Any]) -> TestSendRun | None:
    if task.cancelled():
        return TestSendRun(error="timeout")
    if task.exception() is not None:
        log.warning("check.test_send_failed error=%r", task.exception())
        return TestSendRun(error=type(task.exception()).__name__)
    found: TestSendRun | None = task.result()
    return found


def sender_text(reports: tuple[SenderReport, ...], lang: str) -> SenderView:
    """Our reset senders' SPF, DKIM, DMARC and alignment (the sender report's view; the page
    draws it with the report's HTML template)."""
    return sender_view(reports, lang=lang, sections=SENDER_SECTIONS)


def testsend_section(run: TestSendRun | None, lang: str) -> TestSendView | str | None:
    """The test sends for a page: the test-send report's view (the page draws its table and
    reasons with the report's fragment template), or a note saying why there are none; None
    when no sink runs in this process."""
    if run is None:
        return None
    if run.error or not run.results:
        return i18n.text("testsend.not_run", lang, reason=run.error or "no_identities")
    return testsend_view(run.results, lang=lang)


def probe_held(checklist: Checklist) -> bool:
    """Whether the probe was held back by the per-server limit."""
    item = checklist.item("delivery.accepted")
    return item is not None and item.evidence.get("reason") == RATE_LIMITED


def _check_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    values: dict[str, Any] = {
        "domain": "",
        "error": None,
        "report": None,
        "note": None,
        "probe_note": None,
        "sender_text": None,
        "testsend": None,
        "senders": sender_addresses(request),
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
    lang = lang_of(request)
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
    decision = await limits(request).domain_check.hit(client_ip(request), name)
    if not decision.allowed:
        log.info("checklist.rate_limited audience=admin by=%s", decision.limited_by)
        error = limited_reason(decision, lang)
        response = _check_page(request, 429, domain=shown, error=error, probe_note=needs_admin)
        response.headers["Retry-After"] = retry_after(decision)
        return response
    state = request.app.state.maildiag
    result = await admin_check(
        state.settings,
        state.new_resolver(),
        target,
        rcpt=rcpt,
        probe=probe,
        test_send=lambda: lab_test_sends(state),
    )
    report = fragment(result.checklist, lang)
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
