"""The self-service page ``/help/no-email`` and what every checklist page and API shares.

Shared here: input checks for addresses and domains, the rate limits (per client IP and per
submitted address or domain, on the reset limiter with their own namespaces), running the
checklist with this app's resolver, sender identities and probe settings, and the 429 answer.
The self-service path never reads accounts, so its answer cannot reveal whether one exists.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

import reset
from diag.checklist import AccountSource, Checklist, ProbeOptions, RcptRule, build_checklist
from diag.errors import InputError
from diag.names import MAX_ADDRESS_LENGTH as MAX_ADDRESS
from diag.names import parse_address, parse_domain
from maildiag.commands.sender import sender_spec
from maildiag.settings import SenderIdentity, Settings
from maildiag.web import i18n
from maildiag.web.csrf import csrf_protect, field, form_page, read_form
from reports import ChecklistView, checklist_view

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

MAX_PASTE = 48 * 1024  # pasted headers or a bounce; the whole form is capped by csrf
SMTP_PORT = 25  # RFC 5321 §4.5.4.2: where a sender finds a recipient's MX
CHECK_DEADLINE = 20.0  # seconds for one whole checklist
PROBE_TIMEOUT = 10.0  # seconds per SMTP step of the probe
POSTMASTER = "postmaster"  # RFC 5321 §4.5.1: every domain that takes mail must accept it
SELF_NAMESPACE = "maildiag-checklist-self"
CHECK_NAMESPACE = "maildiag-checklist-check"
PROBE_NAMESPACE = "maildiag-probe-targets"


def clean_address(text: str) -> str:
    """The normalized address. Raises InputError with the reason; never looks at accounts."""
    if not text.strip():
        raise InputError("checklist.address_missing")
    if len(text) > MAX_ADDRESS:
        raise InputError("checklist.address_too_long", n=MAX_ADDRESS)
    if not text.isascii():
        raise InputError("checklist.address_non_ascii")
    address = parse_address(text)
    parse_domain(address.domain)
    return str(address)


def clean_domain(text: str) -> str:
    """The domain in lower-case A-label form. Raises InputError with the reason."""
    return parse_domain(text)


@dataclasses.dataclass
class Limits:
    """The checklist's rate limiters: self-service (per IP and address), the domain check
    (per IP and domain) and the SMTP probe (per mail server, all users together). Memory
    storage unless Redis is configured."""

    self_service: reset.ResetRateLimiter
    domain_check: reset.ResetRateLimiter
    probe_targets: reset.TargetRateLimiter

    async def aclose(self) -> None:
        await self.self_service.aclose()
        await self.domain_check.aclose()
        await self.probe_targets.aclose()


def domain_target(domain: str) -> str:
    """The address a domain check is reported for: postmaster, which every mail domain must
    accept (RFC 5321 §4.5.1). Domain checks never send it in a RCPT TO."""
    return f"{POSTMASTER}@{domain}"


def build_limits(settings: Settings) -> Limits:
    def limiter(namespace: str) -> reset.ResetRateLimiter:
        return reset.ResetRateLimiter(
            per_ip=settings.rate_limit_per_ip,
            per_address=settings.rate_limit_per_address,
            redis_url=settings.redis_url or None,
            namespace=namespace,
        )

    targets = reset.TargetRateLimiter(
        per_target=settings.probe_limit,
        redis_url=settings.redis_url or None,
        namespace=PROBE_NAMESPACE,
    )
    return Limits(limiter(SELF_NAMESPACE), limiter(CHECK_NAMESPACE), targets)


def limits(request: Request) -> Limits:
    """The app's limiters, made on first use (no await in between, so made once)."""
    found: Limits | None = getattr(request.app.state, "checklist_limits", None)
    if found is None:
        found = build_limits(request.app.state.maildiag.settings)
        request.app.state.checklist_limits = found
    return found


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def lang_of(request: Request) -> str:
    return i18n.lang_of(request, request.app.state.maildiag.settings.lang)


def limited_reason(decision: reset.RateDecision, lang: str) -> str:
    """Why a request was refused, naming the limit (``ip`` or ``address``) and when to retry."""
    minutes = max(1, math.ceil(decision.retry_after / 60))
    key = "limit.ip" if decision.limited_by == "ip" else "limit.target"
    return i18n.text(key, lang, minutes=minutes)


def retry_after(decision: reset.RateDecision) -> str:
    return str(max(1, math.ceil(decision.retry_after)))


def reset_identities(settings: Settings) -> list[SenderIdentity]:
    """The configured identities reset mail is sent as (the lab's extra broken identity is
    not one of them); all configured identities when none of them is."""
    wanted = {a.lower() for a in (*reset.SENDER_IDENTITIES, settings.reset_sender)}
    chosen = [i for i in settings.senders if i.address.lower() in wanted]
    return chosen or list(settings.senders)


def probe_options(settings: Settings, *, smtp: bool = True) -> ProbeOptions:
    """How this deployment probes recipient servers: port 25, or the sink's port in the lab;
    private and loopback targets only when the operator allows them (the lab does). Without
    ``smtp`` the DNS-only check: no SMTP session at all (``maildiag.web.probing`` decides)."""
    return ProbeOptions(
        port=settings.smtp_port if settings.lab else SMTP_PORT,
        allow_private=settings.allow_private_targets,
        timeout=PROBE_TIMEOUT,
        enabled=smtp,
    )


async def run_checklist(
    request: Request,
    address: str,
    *,
    audience: str,
    probe: ProbeOptions,
    rcpt: RcptRule = False,
    account: AccountSource = None,
    headers: bytes | None = None,
    bounce: bytes | None = None,
) -> Checklist:
    """The checklist for ``address`` with this app's resolver and senders, probing as
    ``probe`` says (``maildiag.web.probing`` decides who may), asking RCPT TO when ``rcpt``
    (``account``: see ``diag.checklist.build_checklist``)."""
    state = request.app.state.maildiag
    settings: Settings = state.settings
    log.info("checklist.run audience=%s", audience)
    return await build_checklist(
        address,
        audience=audience,
        resolver=state.new_resolver(),
        senders=[sender_spec(identity) for identity in reset_identities(settings)],
        account=account,
        headers=headers,
        bounce=bounce,
        probe=probe,
        rcpt=rcpt,
        deadline=CHECK_DEADLINE,
    )


def fragment(checklist: Checklist, lang: str) -> ChecklistView:
    """The checklist's view, which the page draws with the report's own fragment template."""
    return checklist_view(checklist, lang=lang)


def private(response: Response) -> Response:
    """Checklist answers hold personal data: never cached, never sent on as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def sender_addresses(request: Request) -> list[str]:
    """The addresses reset mail comes from, for the advice and the allowlisting steps."""
    return [i.address for i in reset_identities(request.app.state.maildiag.settings)]


def _help_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    values: dict[str, Any] = {
        "address": "",
        "error": None,
        "report": None,
        "senders": sender_addresses(request),
    }
    values.update(context)
    return private(form_page(request, "help_no_email.html", status_code, **values))


@router.get("/help/no-email", response_class=HTMLResponse)
async def help_form(request: Request) -> Response:
    return _help_page(request)


@router.post("/help/no-email", dependencies=[Depends(csrf_protect)])
async def help_submit(request: Request) -> Response:
    """The self-audience checklist; the same work for every well-formed address."""
    form = await read_form(request)
    given = field(form, "address")
    lang = lang_of(request)
    shown = given[:MAX_ADDRESS]
    try:
        address = clean_address(given)
    except InputError as exc:
        return _help_page(request, 400, address=shown, error=i18n.reason(exc, lang))
    decision = await limits(request).self_service.hit(client_ip(request), address)
    if not decision.allowed:
        log.info("checklist.rate_limited audience=self by=%s", decision.limited_by)
        response = _help_page(request, 429, address=shown, error=limited_reason(decision, lang))
        response.headers["Retry-After"] = retry_after(decision)
        return response
    dns_only = probe_options(request.app.state.maildiag.settings, smtp=False)
    checklist = await run_checklist(request, address, audience="self", probe=dns_only)
    domain = address.rpartition("@")[2]
    return _help_page(request, address=address, domain=domain, report=fragment(checklist, lang))


async def close_limits(app: Any) -> None:
    """Release the limiters' connections and tasks (for the application's shutdown)."""
    found: Limits | None = getattr(app.state, "checklist_limits", None)
    if found is not None:
        await found.aclose()
