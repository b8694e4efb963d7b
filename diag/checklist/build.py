"""``build_checklist``: gather the evidence for one address concurrently under one deadline,
then turn it into the audience's ordered items.

The recipient's MX (then the SMTP probe), the sender identities' health, and the pasted
headers and bounce run side by side. What the deadline cuts off is "not_checked", never a
failure. Nothing here raises for a problem in the domains under test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from diag.checklist.facts import (
    AUDIENCE_ITEMS,
    AUDIENCES,
    AccountFacts,
    BounceFacts,
    Checklist,
    ChecklistItem,
    Evidence,
    Placement,
    ProbeOptions,
    ProbeResult,
    ReceiverReport,
    SpamVerdict,
    TransportCheck,
    is_audience,
)
from diag.checklist.items import ITEM_FUNCTIONS
from diag.checklist.questions import CountingResolver, first_questions_out
from diag.checklist.readers import read_bounce, read_spam_verdict
from diag.checklist.smtp import probe_recipient
from diag.deadline import cancel_all, gather_within
from diag.findings import Finding
from diag.mx import MxReport, lookup_mx
from diag.names import parse_address
from diag.resolver import Resolver, normalize_name
from diag.senders import SenderReport, SenderSpec, check_sender
from diag.testsend import TestSendResult
from diag.transport import TransportReport, check_transport
from diag.transport.check import ask_ahead

log = logging.getLogger(__name__)

DEFAULT_DEADLINE = 20.0  # seconds for the whole checklist
_TEST_SENDS = "test_sends"  # the job that makes test sends beside the lookups, when asked
_PLACEMENTS = "placements"  # the job that reads where our own mails were filed, when asked
_RECEIVER_REPORTS = "receiver_reports"  # the job that reads the receiver's reports on us


def split_address(address: str) -> tuple[str, str]:
    """``(local part, domain)`` of ``address``. Raises InputError (a ValueError) when it is not
    an address (``diag.names.parse_address``)."""
    parsed = parse_address(address)
    return parsed.local, normalize_name(parsed.domain)


# Whether the probe asks RCPT TO: yes, no, or only for an address with an account (the
# support audience's rule below admin), decided once the account has been read.
RcptRule = bool | Literal["registered"]
# The rule, or a function that gives it once the caller is admitted (a staff user's role).
RcptSource = RcptRule | Callable[[], RcptRule]
T = TypeVar("T")


async def decide_rcpt(rule: RcptRule, account: Awaitable[AccountFacts | None]) -> bool:
    """``rule`` applied; ``account`` (the account read in flight) is awaited only when the rule
    depends on it."""
    if rule != "registered":
        return bool(rule)
    facts = await account
    return facts is not None and facts.exists


async def _mx_and_probes(
    address: str,
    domain: str,
    resolver: Resolver,
    senders: Sequence[str],
    probe: ProbeOptions | None,
    rcpt: Callable[[], Awaitable[bool]],
    transport: TransportCheck | None = None,
) -> tuple[MxReport, tuple[ProbeResult, ...], TransportReport | None]:
    """The MX, then the probe and (when asked for) the transport security, which judges the
    probe's STARTTLS."""
    allow_private = probe.allow_private if probe is not None else False
    ahead: list[asyncio.Future[None]] = []
    if transport is not None:  # its questions go out beside the MX lookup, not after the probe
        ahead.append(asyncio.ensure_future(ask_ahead(resolver, domain)))
    try:
        mx = await lookup_mx(domain, resolver, allow_private=allow_private)
        results: tuple[ProbeResult, ...] = ()
        conversation = None
        if probe is not None and probe.enabled and mx.can_receive:
            results, conversation = await probe_recipient(
                address, senders, mx, probe, resolver, rcpt=await rcpt()
            )
        if transport is None:
            return mx, results, None
        checked = await check_transport(mx, resolver, fetcher=transport.fetcher, probe=conversation)
        return mx, results, checked
    finally:
        for task in ahead:
            task.cancel()


async def _sender_reports(
    senders: Sequence[SenderSpec],
    resolver: Resolver,
    deadline: float,
    now: float,
    dnsbl_zones: Sequence[str] = (),
) -> tuple[SenderReport, ...]:
    if not senders:
        return ()
    reports = await asyncio.gather(
        *(
            check_sender(s, resolver, dnsbl_zones=dnsbl_zones, deadline=deadline, now=now)
            for s in senders
        )
    )  # with the process's one Public Suffix List (diag.dmarc.default_psl), never a new one
    return tuple(reports)


AccountSource = AccountFacts | Callable[[], Awaitable[AccountFacts]] | None


TestSendSource = Sequence[TestSendResult] | Callable[[], Awaitable[Sequence[TestSendResult]]]
# Where our own mails to the address were filed: given, or read beside the lookups.
PlacementSource = Sequence[Placement] | Callable[[], Awaitable[Sequence[Placement]]]
# What the recipient's receiver reported about our mail: given, or read beside the lookups.
ReceiverReportSource = Sequence[ReceiverReport] | Callable[[], Awaitable[Sequence[ReceiverReport]]]


async def build_checklist(
    address: str,
    *,
    audience: str,
    resolver: Resolver,
    senders: Sequence[SenderSpec],
    account: AccountSource = None,
    headers: bytes | None = None,
    bounce: bytes | None = None,
    probe: ProbeOptions | None = None,
    test_sends: TestSendSource = (),
    now: dt.datetime | None = None,
    deadline: float = DEFAULT_DEADLINE,
    rcpt: RcptRule | None = None,
    dnsbl_zones: Sequence[str] = (),
) -> Checklist:
    """The checklist for ``address`` as ``audience`` (self, support or admin) sees it: the
    evidence ``gather_evidence`` gathers, turned into the audience's items.

    Raises ValueError for an unknown audience or a malformed address.
    """
    evidence = await gather_evidence(
        address,
        audience=audience,
        resolver=resolver,
        senders=senders,
        account=account,
        headers=headers,
        bounce=bounce,
        probe=probe,
        test_sends=test_sends,
        now=now,
        deadline=deadline,
        rcpt=rcpt,
        dnsbl_zones=dnsbl_zones,
    )
    return checklist_from_evidence(evidence)


async def gather_evidence(
    address: str,
    *,
    audience: str,
    resolver: Resolver,
    senders: Sequence[SenderSpec],
    account: AccountSource = None,
    headers: bytes | None = None,
    bounce: bytes | None = None,
    probe: ProbeOptions | None = None,
    test_sends: TestSendSource = (),
    now: dt.datetime | None = None,
    deadline: float = DEFAULT_DEADLINE,
    rcpt: RcptSource | None = None,
    dnsbl_zones: Sequence[str] = (),
    placements: PlacementSource = (),
    receiver_reports: ReceiverReportSource = (),
    transport: TransportCheck | None = None,
    admit: Callable[[], Awaitable[object]] | None = None,
) -> Evidence:
    """The evidence for ``address`` as ``audience`` (self, support or admin) needs it.
    With ``transport``, the recipient's MTA-STS, TLS-RPT and DANE records are checked beside
    the probe.

    The DNS lookups start first; everything else starts once their first questions are out
    (``diag.checklist.questions``), so that its worker threads run while the answers are
    awaited instead of delaying the questions. ``admit`` (the caller's permission, a session
    read) is then called beside the read of ``placements`` (which every audience sees); what
    it raises cancels everything and propagates, and nothing else runs before it has
    returned: no account read, test send, paste reading or probe. ``account`` is read for the
    support audience only: the facts, or a coroutine function that reads them (a database
    read); what it raises propagates. The probe asks
    RCPT TO as ``rcpt`` says (a rule, or a function returning one once admitted), by default
    for support and admin (never for self). Pasted ``headers`` and ``bounce`` are read in a
    worker thread meanwhile. ``test_sends`` are results, or a coroutine function that makes
    them, run beside the lookups under the same deadline (cut off or failed: no results);
    ``receiver_reports`` (what the recipient's receiver reported about our mail in its DMARC
    reports) are given or read the same way, once admitted. ``transport`` checks the
    recipient's MTA-STS, TLS-RPT, DANE and STARTTLS beside the MX lookups.
    Raises ValueError for an unknown audience or a malformed address.
    """
    if not is_audience(audience):
        raise ValueError(f"unknown audience {audience!r}; use one of {', '.join(AUDIENCES)}")
    _, domain = split_address(address)
    clock = now or dt.datetime.now(dt.UTC)
    sender_addresses = tuple(dict.fromkeys(s.address for s in senders))
    asking = CountingResolver(resolver)
    out = asyncio.Event()  # the first questions are out
    ready = asyncio.Event()  # ... and the caller is admitted

    async def when_out(job: Callable[[], Awaitable[T]]) -> T:
        await out.wait()
        return await job()

    async def when_ready(job: Callable[[], Awaitable[T]]) -> T:
        await ready.wait()
        return await job()

    reading = asyncio.ensure_future(
        when_ready(lambda: read_account(account if audience == "support" else None))
    )
    rule: RcptSource = False if audience == "self" else (True if rcpt is None else rcpt)

    async def decided() -> bool:
        return await decide_rcpt(rule() if callable(rule) else rule, asyncio.shield(reading))

    jobs: dict[str, Awaitable[Any]] = {
        "mx": _mx_and_probes(
            address,
            domain,
            asking,
            sender_addresses,
            probe,
            rcpt=lambda: when_ready(decided),
            transport=transport,
        ),
        "senders": _sender_reports(senders, asking, deadline * 0.9, clock.timestamp(), dnsbl_zones),
    }
    if callable(test_sends):
        jobs[_TEST_SENDS] = when_ready(test_sends)
    if callable(placements):  # what any audience may see: no need to wait for admission
        jobs[_PLACEMENTS] = when_out(placements)
    if callable(receiver_reports):  # staff only: after admission
        jobs[_RECEIVER_REPORTS] = when_ready(receiver_reports)
    ends = asyncio.get_running_loop().time() + deadline
    tasks = {name: asyncio.ensure_future(job) for name, job in jobs.items()}
    pastes = asyncio.ensure_future(when_ready(lambda: read_pastes(headers, bounce)))
    try:
        await first_questions_out(asking)
        out.set()
        if admit is not None:
            await admit()
        ready.set()
        facts = await reading
        spam, bounce_facts = await pastes
    except BaseException:
        await cancel_all([*tasks.values(), reading, pastes])
        raise
    done = await _collect(tasks, ends, deadline)
    mx, probes, security = done.get("mx", (None, (), None))
    sends = done.get(_TEST_SENDS, ()) if callable(test_sends) else test_sends
    placed = done.get(_PLACEMENTS, ()) if callable(placements) else placements
    reported = done.get(_RECEIVER_REPORTS, ()) if callable(receiver_reports) else receiver_reports
    return Evidence(
        address=address.strip(),
        audience=audience,
        now=clock,
        sender_addresses=sender_addresses,
        mx=mx,
        probes=probes,
        senders=done.get("senders", ()),
        spam=spam,
        bounce=bounce_facts,
        account=facts,
        test_sends=tuple(sends),
        placements=tuple(placed),
        receiver_reports=tuple(reported),
        transport=security,
        not_finished=tuple(
            sorted(set(jobs) - set(done) - {_TEST_SENDS, _PLACEMENTS, _RECEIVER_REPORTS})
        ),
    )


async def read_pastes(
    headers: bytes | None, bounce: bytes | None
) -> tuple[SpamVerdict | None, BounceFacts | None]:
    """The pasted headers' and bounce's readings, made in a worker thread: their cost depends on
    the paste, and the event loop serves other requests meanwhile (each paste is capped).
    Without a paste there is nothing to read and no thread: its hand-off (a wake-up of the
    loop, the GIL taken back) would land while the first lookups are being sent."""
    if not headers and not bounce:
        return None, None

    def read() -> tuple[SpamVerdict | None, BounceFacts | None]:
        spam = read_spam_verdict(headers) if headers else None
        return spam, read_bounce(bounce) if bounce else None

    return await asyncio.to_thread(read)


async def read_account(account: AccountSource) -> AccountFacts | None:
    """The account facts ``account`` holds, or reads by calling it (its errors propagate)."""
    if account is None or isinstance(account, AccountFacts):
        return account
    return await account()


async def _collect(
    tasks: Mapping[str, asyncio.Future[Any]], ends: float, deadline: float
) -> dict[str, Any]:
    """The results of the tasks that finished by ``ends`` (event-loop time); the others are
    cancelled and a failed one is logged."""
    gathered = await gather_within(tasks, ends - asyncio.get_running_loop().time())
    for name, error in gathered.errors.items():
        log.warning("checklist.source_failed source=%s error=%r", name, error)
    for name in gathered.late:
        log.info("checklist.source_timeout source=%s deadline=%.1f", name, deadline)
    return gathered.results


_ACCEPTED_FOLDERS = frozenset({"inbox", "junk", "quarantine"})


def _conflict(item: ChecklistItem, folders: frozenset[str]) -> str | None:
    """How a test send to the address, made just now, contradicts ``item``, if it does."""
    refused = "rejected" in folders
    accepted = bool(folders) and folders <= _ACCEPTED_FOLDERS
    match item.key, item.status:
        case "spam.folder", "problem" if (
            folders == {"inbox"} and item.evidence.get("source") != "test_send"
        ):
            return "test_inbox"
        case "spam.folder", "ok" if folders & {"junk", "quarantine"}:
            return "test_junk"
        case "recipient.blocks_sender", "problem" if accepted:
            return "test_accepted"
        case (("recipient.blocks_sender" | "delivery.accepted"), "ok") if refused:
            return "test_rejected"
        case "recipient.can_receive", "problem" if accepted:
            return "test_unrouted"
    return None


def explain_conflicts(
    items: Sequence[ChecklistItem], evidence: Evidence
) -> tuple[ChecklistItem, ...]:
    """``items``, with ``conflict`` in the evidence of each one that the test sends to this
    address contradict: a result is never shown beside one that disagrees with it without
    saying why they may differ (the test is of now, the item of an earlier mail or probe)."""
    wanted = evidence.address.lower()
    folders = frozenset(t.folder for t in evidence.test_sends if t.to.lower() == wanted)
    if not folders:
        return tuple(items)
    explained = []
    for item in items:
        code = _conflict(item, folders)
        if code is not None:
            item = dataclasses.replace(item, evidence={**item.evidence, "conflict": code})
        explained.append(item)
    return tuple(explained)


def checklist_from_evidence(evidence: Evidence) -> Checklist:
    """The audience's items, in order, from gathered evidence, each that a test send to the
    address contradicts marked with the contradiction (see ``explain_conflicts``). Pure."""
    items = explain_conflicts(
        tuple(ITEM_FUNCTIONS[key](evidence) for key in AUDIENCE_ITEMS[evidence.audience]),
        evidence,
    )
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    for item in items:
        for finding in item.findings:
            marker = (finding.code, repr(sorted(finding.evidence.items(), key=_by_name)))
            if marker not in seen:
                seen.add(marker)
                findings.append(finding)
    return Checklist(evidence.address, evidence.audience, items, tuple(findings), evidence.provider)


def _by_name(entry: tuple[str, object]) -> str:
    """An evidence entry's sort key: its name (names are unique within one mapping, so the
    order is fixed without the repr of every value that sorting by ``str`` of the pair made)."""
    return str(entry[0])


__all__ = [
    "DEFAULT_DEADLINE",
    "AccountSource",
    "RcptRule",
    "RcptSource",
    "TestSendSource",
    "build_checklist",
    "checklist_from_evidence",
    "decide_rcpt",
    "gather_evidence",
    "read_account",
    "read_pastes",
    "split_address",
]
