"""The checklist use case, one path for every audience and adapter: ``check`` runs
``diag.checklist`` with this deployment's resolver, reset identities, probe settings and, in
the lab, test sends into the sink running in this process.

Also here: the rate limiters the checklist's callers share, and the account facts the support
audience reads. Who may probe, and which audience a caller may ask for, is the adapters'
decision; this module only carries it out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

import reset
from diag.checklist import (
    AccountFacts,
    AccountSource,
    Checklist,
    Placement,
    ProbeOptions,
    RcptSource,
    ReceiverReport,
    TransportCheck,
    checklist_from_evidence,
    gather_evidence,
)
from diag.dkim import DkimSignError
from diag.errors import InputError
from diag.resolver import Resolver
from diag.senders import SenderReport
from diag.testsend import TestSendResult
from maildiag.db import create_engine
from maildiag.facts import FactsError, account_facts
from maildiag.services.feedback import receiver_reports
from maildiag.services.identities import reset_identities, sender_spec
from maildiag.services.testsend import DEFAULT_TO, SinkTarget, TestSendError, run_test_sends
from maildiag.services.transport import policy_fetcher
from maildiag.settings import Settings

if TYPE_CHECKING:
    from maildiag.sink.service import SinkHandle
    from smtp_sink import SinkStore

log = logging.getLogger(__name__)

SMTP_PORT = 25  # RFC 5321 §4.5.4.2: where a sender finds a recipient's MX
CHECK_DEADLINE = 20.0  # seconds for one whole checklist, at least
PROBE_TIMEOUT = 10.0  # seconds per SMTP step of the probe
SELF_NAMESPACE = "maildiag-checklist-self"
CHECK_NAMESPACE = "maildiag-checklist-check"
STAFF_CHECK_NAMESPACE = "maildiag-checklist-check-staff"
PROBE_NAMESPACE = "maildiag-probe-targets"

TestSendRunner = Callable[[], Awaitable["TestSendRun | None"]]


@dataclasses.dataclass
class Limits:
    """The checklist's rate limiters: self-service (per IP and address), the domain check
    (per IP and domain; for signed-in staff per account and domain, on counters of their own)
    and the SMTP probe (per mail server, all users together). Memory storage unless Redis is
    configured."""

    self_service: reset.ResetRateLimiter
    domain_check: reset.ResetRateLimiter
    probe_targets: reset.TargetRateLimiter
    staff_check: reset.ResetRateLimiter

    def all(self) -> tuple[reset.ResetRateLimiter | reset.TargetRateLimiter, ...]:
        return (self.self_service, self.domain_check, self.probe_targets, self.staff_check)

    async def aclose(self) -> None:
        for limiter in self.all():
            await limiter.aclose()


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
    staff = reset.ResetRateLimiter(
        per_ip=settings.check_limit_staff_per_account,
        per_address=settings.check_limit_staff_per_domain,
        redis_url=settings.redis_url or None,
        namespace=STAFF_CHECK_NAMESPACE,
    )
    return Limits(limiter(SELF_NAMESPACE), limiter(CHECK_NAMESPACE), targets, staff)


def probe_options(settings: Settings, *, smtp: bool = True) -> ProbeOptions:
    """How this deployment probes recipient servers: port 25, or the sink's port in the lab;
    private and loopback targets only when the operator allows them (the lab does). Without
    ``smtp`` the DNS-only check: no SMTP session at all."""
    return ProbeOptions(
        port=settings.smtp_port if settings.lab else SMTP_PORT,
        allow_private=settings.allow_private_targets,
        timeout=PROBE_TIMEOUT,
        enabled=smtp,
    )


def check_deadline(settings: Settings) -> float:
    """Seconds for one whole checklist: ``CHECK_DEADLINE``, or five DNS timeouts if longer."""
    return max(CHECK_DEADLINE, settings.dns_timeout * 5)


@dataclasses.dataclass(frozen=True)
class TestSendRun:
    """The sink's verdicts on our test sends, or why there are none (``error``)."""

    __test__ = False  # not a pytest test class

    results: tuple[TestSendResult, ...] = ()
    error: str = ""


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    """The checklist, the sender reports behind its sender item, and the test sends (None
    when none were asked for)."""

    checklist: Checklist
    senders: tuple[SenderReport, ...]
    test_sends: TestSendRun | None = None


async def check(
    settings: Settings,
    resolver: Resolver,
    address: str,
    *,
    audience: str,
    probe: ProbeOptions,
    rcpt: RcptSource | None = None,
    account: AccountSource = None,
    headers: bytes | None = None,
    bounce: bytes | None = None,
    test_sends: Sequence[TestSendResult] = (),
    test_send: TestSendRunner | None = None,
    sink: SinkHandle | None = None,
    reports: sa.Engine | None = None,
    admit: Callable[[], Awaitable[object]] | None = None,
) -> CheckOutcome:
    """The ``audience`` checklist for ``address``: the one path every page, API and command
    takes. Probes as ``probe`` says, asks RCPT TO as ``rcpt`` says (None: diag's default for
    the audience); the support audience's ``account`` is read beside the lookups. Test sends
    are given (``test_sends``) or made beside the lookups under the deadline (``test_send``;
    cut off: ``error`` "timeout"). With the ``sink`` of this process (the lab's, the demo
    domains' MX), where it filed our own mails to ``address`` is read beside the lookups.
    ``admit`` (the caller's permission, a session read) runs beside the lookups, before
    anything else but them (``diag.checklist.gather_evidence``). Raises ValueError for an
    unknown audience or a malformed address; what ``admit`` or reading ``account`` raises
    propagates. With the database of receivers' ``reports``, what the receiver of
    ``address``'s domain reported about our senders in the last week is read beside them too
    (support and admin).
    """
    made: list[TestSendRun | None] = []  # what test_send made, once it has finished

    async def sends() -> tuple[TestSendResult, ...]:
        try:
            run = await test_send() if test_send is not None else None
        except Exception as exc:  # any failure becomes the page's note
            log.warning("check.test_send_failed error=%r", exc)
            run = TestSendRun(error=type(exc).__name__)
        made.append(run)
        return run.results if run is not None else ()

    identities = reset_identities(settings)

    async def placed() -> tuple[Placement, ...]:
        if sink is None:
            return ()
        senders = [identity.address for identity in identities]
        return await sink_placements(sink.store, address, senders)

    async def reported() -> tuple[ReceiverReport, ...]:
        assert reports is not None
        domain = address.rpartition("@")[2] or address
        try:
            return await asyncio.to_thread(receiver_reports, reports, settings, domain.strip())
        except sa.exc.SQLAlchemyError as exc:  # no reports table yet: the checklist goes on
            log.warning("checklist.receiver_reports_failed error=%s", type(exc).__name__)
            return ()

    log.info("checklist.run audience=%s", audience)
    evidence = await gather_evidence(
        address,
        audience=audience,
        resolver=resolver,
        senders=[sender_spec(identity) for identity in identities],
        account=account,
        headers=headers,
        bounce=bounce,
        probe=probe,
        rcpt=rcpt,
        test_sends=sends if test_send is not None else test_sends,
        deadline=check_deadline(settings),
        dnsbl_zones=settings.dnsbl_zones,
        placements=placed if sink is not None else (),
        receiver_reports=reported if reports is not None and audience != "self" else (),
        transport=None
        if audience == "self"
        else TransportCheck(fetcher=policy_fetcher(settings, resolver)),
        admit=admit,
    )
    ran = made[0] if made else TestSendRun(error="timeout") if test_send is not None else None
    return CheckOutcome(checklist_from_evidence(evidence), evidence.senders, ran)


async def admin_check(
    settings: Settings,
    resolver: Resolver,
    address: str,
    *,
    rcpt: bool,
    probe: ProbeOptions | None = None,
    test_send: TestSendRunner | None = None,
    sink: SinkHandle | None = None,
    reports: sa.Engine | None = None,
) -> CheckOutcome:
    """The admin-audience checklist for ``address``, probing as ``probe`` says (None: DNS
    only), asking RCPT TO only when ``rcpt``; with the receivers' ``reports`` when given."""
    return await check(
        settings,
        resolver,
        address,
        audience="admin",
        probe=probe or probe_options(settings, smtp=False),
        rcpt=rcpt,
        test_send=test_send,
        sink=sink,
        reports=reports,
    )


PLACEMENT_WINDOW = dt.timedelta(days=7)  # how far back our own mails to an address count
PLACEMENTS_PER_SENDER = 5


async def sink_placements(
    store: SinkStore, address: str, senders: Sequence[str], *, now: dt.datetime | None = None
) -> tuple[Placement, ...]:
    """Where the sink filed our own mails (From one of ``senders``) to ``address`` in the last
    ``PLACEMENT_WINDOW``, newest first per sender: the receiver's own record, when the sink is
    the recipient's MX (the lab's demo domains). Read in a worker thread."""
    since = (now or dt.datetime.now(dt.UTC)) - PLACEMENT_WINDOW

    def read() -> tuple[Placement, ...]:
        found: list[Placement] = []
        for sender in senders:
            for message in store.list(
                to=address, sender=sender, since=since, limit=PLACEMENTS_PER_SENDER
            ):
                folder = message.folder_for(address)
                if folder is not None:
                    found.append(
                        Placement(
                            "sink",
                            sender,
                            address.lower(),
                            folder,
                            message.received_at,
                            message.summary.subject,
                            str(message.id),
                        )
                    )
        return tuple(found)

    return await asyncio.to_thread(read)


class InProcessSink(Protocol):
    """What ``lab_test_sends`` needs: the settings, and the sink running in this process."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sink(self) -> SinkHandle | None: ...


async def lab_test_sends(state: InProcessSink, to: str = DEFAULT_TO) -> TestSendRun | None:
    """Send the reset identities' real reset mail to ``to`` (the address under check, so the
    test takes its path: its domain's policy, MX and filing) through the sink running in this
    process (the lab) and read its verdicts; None without such a sink. Never raises: a sink
    that cannot be reached or a key that cannot sign becomes ``error``."""
    sink = state.sink
    if sink is None:
        return None
    settings = state.settings
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(sink.host, sink.host)
    try:
        results = await run_test_sends(
            settings,
            to=to,
            identities=reset_identities(settings),
            store=sink.store,
            target=SinkTarget(host, sink.proxy_port),
        )
    except (TestSendError, DkimSignError, OSError, ValueError) as exc:
        log.warning("check.test_send_failed error=%r", exc)
        return TestSendRun(error=str(exc) or type(exc).__name__)
    return TestSendRun(tuple(results))


async def sink_test_sends(settings: Settings, to: str = DEFAULT_TO) -> list[TestSendResult]:
    """The reset identities' test sends into the configured sink, addressed to ``to`` (the
    address under check: the sink never relays, it judges and files the mail by that domain's
    policy), for a checklist run outside the app.

    Raises InputError when there is no identity, the sink cannot be reached or a key cannot sign.
    """
    identities = reset_identities(settings)
    if not identities:
        raise InputError("usage.no_senders")
    try:
        return await run_test_sends(settings, to=to, identities=identities)
    except TestSendError as exc:
        raise InputError("usage.detail", detail=str(exc)) from exc
    except DkimSignError as exc:
        raise InputError("usage.cannot_sign", detail=str(exc)) from exc


def database_account(settings: Settings, address: str) -> Callable[[], Awaitable[AccountFacts]]:
    """A reader of the support audience's account facts from the configured database, for a
    checklist run outside the app (it reads them beside its lookups). The reader raises
    UsageError when the database cannot be read."""

    def read() -> AccountFacts:
        engine = create_engine(settings.database)
        try:
            return account_facts(engine, address)
        except FactsError as exc:
            raise InputError("usage.detail", detail=str(exc)) from exc
        finally:
            engine.dispose()

    async def reader() -> AccountFacts:
        return await asyncio.to_thread(read)

    return reader
