"""Who may make our sender identities talk SMTP to a recipient's mail server, and how often.

A probe connects as our senders (``MAIL FROM:<do.not.reply@...>``), so every probe spends our
reputation with that server. Only staff start one: the domain check (``/check``,
``GET /api/v1/check``) probes for a signed-in admin, the support audiences for their role;
everyone else gets the DNS-only check. RCPT TO asks only about an address that has an
account, unless an admin asks. Every probe of one mail server, by any user, counts against
one limit (``probe_limit_per_target``, shared through Redis when configured). Owns no state:
the limiter is the app's ``Limits.probe_targets``.
"""

from __future__ import annotations

import dataclasses
import logging

from fastapi import Request

from diag.checklist import ProbeGate, ProbeOptions, RcptRule
from maildiag.services.checklist import probe_options
from maildiag.web import deps
from maildiag.web.auth import SignedIn

log = logging.getLogger(__name__)

RATE_LIMITED = "rate_limited"  # the probe result's error when the mail server's limit is used up
CHECK_ROLE = "admin"  # the domain check's probe needs this role


def smtp_probe(request: Request, user: SignedIn | None, role: str) -> ProbeOptions:
    """The probe for this request: SMTP when ``user`` has ``role`` (gated by the per-server
    limit), else DNS only."""
    if user is None or not user.has_role(role):
        return probe_options(deps.settings(request), smtp=False)
    return staff_probe(request)


def staff_probe(request: Request) -> ProbeOptions:
    """The probe for a caller admitted to a staff audience (the checklist checks the role
    before it probes): SMTP, gated by the per-server limit."""
    return dataclasses.replace(probe_options(deps.settings(request)), gate=_target_gate(request))


def rcpt_rule(user: SignedIn) -> RcptRule:
    """RCPT TO for an address only when it has an account (decided once the account has been
    read, beside the lookups), or whenever an admin asks."""
    return True if user.has_role("admin") else "registered"


def _target_gate(request: Request) -> ProbeGate:
    limiter = deps.limits(request).probe_targets

    async def gate(host: str, addresses: tuple[str, ...]) -> str | None:
        decision = await limiter.hit(host, *addresses)
        if decision.allowed:
            return None
        log.info("probe.rate_limited host=%s retry_after=%.0f", host, decision.retry_after)
        return RATE_LIMITED

    return gate
