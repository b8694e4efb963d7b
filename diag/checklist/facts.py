"""The checklist's values: statuses, item keys, audiences, the account facts support sees, the
evidence gathered for one address, and the items and checklist themselves.

Frozen plain values only; nothing here does I/O. Item titles and next steps are not stored:
reports render them per language from the key, the status and the evidence.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias, TypeGuard, get_args

from diag.findings import ERROR, OK, WARNING, Finding, Severity, worst_severity
from diag.jsonvalue import JsonObject, json_object
from diag.mx import MxReport
from diag.senders import SenderReport
from diag.testsend import TestSendResult
from diag.transport import PolicyFetcher, TransportReport

# The checklist's vocabularies (DESIGN.md: the checklist JSON), typed once here; reports hold
# them as these types. Literal, so that the JSON carries the plain strings.
Status: TypeAlias = Literal["ok", "problem", "warning", "not_checked", "todo"]
STATUSES: tuple[Status, ...] = get_args(Status)
ItemKey: TypeAlias = Literal[
    "address.registered",
    "reset.requested",
    "delivery.sent",
    "delivery.accepted",
    "spam.folder",
    "recipient.blocks_sender",
    "recipient.can_receive",
    "sender.authentication",
    "link.valid",
]
ITEM_KEYS: tuple[ItemKey, ...] = get_args(ItemKey)
Audience: TypeAlias = Literal["self", "support", "admin"]
AUDIENCES: tuple[Audience, ...] = get_args(Audience)
PROVIDERS = (
    "microsoft365",
    "google",
    "proofpoint",
    "mimecast",
    "barracuda",
    "cisco",
    "generic",
    "unknown",
)

# Which items each audience sees, in ITEM_KEYS order. Self-service users never see account or
# log data; mail administrators get the DNS and SMTP evidence but no account data.
AUDIENCE_ITEMS: Mapping[Audience, tuple[ItemKey, ...]] = MappingProxyType(
    {
        "self": (
            "address.registered",
            "delivery.accepted",
            "spam.folder",
            "recipient.blocks_sender",
            "recipient.can_receive",
            "sender.authentication",
        ),
        "support": ITEM_KEYS,
        "admin": (
            "address.registered",
            "delivery.accepted",
            "spam.folder",
            "recipient.blocks_sender",
            "recipient.can_receive",
            "sender.authentication",
        ),
    }
)

# Items that are "todo" by design when no evidence can settle them: the user's own checks.
#  - address.registered for self and admin: whether an account exists is never told to them.
#  - spam.folder when no headers were pasted: only the recipient can look in the junk folder.
#  - recipient.blocks_sender when the receiver was not asked (self: no RCPT probe).
TODO_BY_DESIGN: tuple[ItemKey, ...] = (
    "address.registered",
    "spam.folder",
    "recipient.blocks_sender",
)

_STATUS_SEVERITY: Mapping[Status, Severity] = MappingProxyType(
    {"ok": OK, "problem": ERROR, "warning": WARNING, "not_checked": OK, "todo": OK}
)


def _frozen(value: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class ResetRequestFact:
    """One reset request: when, its outbox row and its token's state."""

    requested_at: dt.datetime
    outbox_id: int | None = None
    status: str = ""  # the outbox row's status (pending, sent, failed, bounced, ...)
    token_expires_at: dt.datetime | None = None
    token_used_at: dt.datetime | None = None

    def to_dict(self) -> JsonObject:
        return {
            "requested_at": _iso(self.requested_at),
            "outbox_id": self.outbox_id,
            "status": self.status,
            "token_expires_at": _iso(self.token_expires_at),
            "token_used_at": _iso(self.token_used_at),
        }


_LEADING_CODE = re.compile(r"(?:[245]\d\d|[245]\.\d{1,3}\.\d{1,3})(?=[ \t-]|$)[ \t-]?")


def reply_line(code: int | None, enhanced_status: str, text: str) -> str:
    """A stored SMTP reply as one line: the reply code, the enhanced status code (RFC 3463 §2)
    and the text, each once. Relays repeat the enhanced code at the start of the text (``250
    2.0.0 OK`` is stored as 250, "2.0.0", "2.0.0 OK"), and a DSN's Status precedes its
    Diagnostic-Code (``5.0.0`` then ``550 5.1.1 …``): the leading codes of the text fill in the
    codes not given, and a specific enhanced code there replaces a generic X.0.0 one."""
    rest = text.strip()
    basic = str(code) if code is not None else ""
    enhanced = enhanced_status
    while match := _LEADING_CODE.match(rest):
        token = match.group(0).strip(" \t-")
        if "." not in token and basic in ("", token):
            basic = token
        elif "." in token and (not enhanced or enhanced == token or enhanced.endswith(".0.0")):
            enhanced = token
        else:
            break  # a different code: part of the text, kept as written
        rest = rest[match.end() :].lstrip()
    return " ".join(part for part in (basic, enhanced, rest) if part)


@dataclass(frozen=True)
class DeliveryFact:
    """One delivery attempt from the delivery log, with the SMTP reply it got."""

    at: dt.datetime
    relay: str = ""
    code: int | None = None
    enhanced_status: str = ""
    text: str = ""
    queue_id: str = ""
    outbox_id: int | None = None
    bounced: bool = False
    bounce_reason: str = ""
    interrupted: bool = False  # the worker died during the attempt; its outcome is unknown

    @property
    def line(self) -> str:
        """The reply as one line, each code once (see ``reply_line``)."""
        return reply_line(self.code, self.enhanced_status, self.text)

    def to_dict(self) -> JsonObject:
        return {
            "at": _iso(self.at),
            "relay": self.relay,
            "code": self.code,
            "enhanced_status": self.enhanced_status,
            "text": self.text,
            "queue_id": self.queue_id,
            "outbox_id": self.outbox_id,
            "bounced": self.bounced,
            "bounce_reason": self.bounce_reason,
            "interrupted": self.interrupted,
        }


@dataclass(frozen=True)
class AccountFacts:
    """What the reset database knows about one address (support audience only)."""

    exists: bool
    email: str
    resets: tuple[ResetRequestFact, ...] = ()
    deliveries: tuple[DeliveryFact, ...] = ()

    @property
    def latest_reset(self) -> ResetRequestFact | None:
        return max(self.resets, key=lambda r: r.requested_at, default=None)

    def deliveries_for(self, outbox_id: int | None) -> tuple[DeliveryFact, ...]:
        """Attempts for one outbox row, oldest first (all of them when the id is unknown)."""
        chosen = [d for d in self.deliveries if outbox_id is None or d.outbox_id == outbox_id]
        return tuple(sorted(chosen, key=lambda d: d.at))


ProbeGate = Callable[[str, tuple[str, ...]], Awaitable[str | None]]
"""``(MX host, its addresses) -> None`` to go ahead, or the reason not to connect."""


@dataclass(frozen=True)
class ProbeOptions:
    """How to probe the recipient's mail server.

    ``port`` is 25 on the internet and the sink's port in the lab; ``allow_private`` lets the
    probe reach loopback and private addresses (the lab). ``rcpt`` is decided by the audience.
    ``gate``, when given, is asked before connecting with the chosen MX host's name and
    addresses; a reason it returns (such as ``rate_limited``) stops the probe, and becomes
    the ``error`` of every result.
    """

    port: int = 25  # SMTP between mail servers (the IANA-assigned port)
    helo: str = "maildiag.localhost"
    timeout: float = 10.0
    allow_private: bool = False
    enabled: bool = True
    gate: ProbeGate | None = None


@dataclass(frozen=True)
class TransportCheck:
    """Check the recipient's transport security (MTA-STS, TLS-RPT, DANE TLSA) for the
    ``recipient.can_receive`` item. ``fetcher`` fetches the MTA-STS policy; None never
    fetches it (the lab)."""

    fetcher: PolicyFetcher | None = None


@dataclass(frozen=True)
class SmtpReply:
    """One SMTP reply: code, enhanced status code (RFC 3463) and text."""

    code: int
    enhanced: str = ""
    text: str = ""

    @property
    def line(self) -> str:
        """``550 5.7.1 Sender blocked``: each code once (see ``reply_line``)."""
        return reply_line(self.code, self.enhanced, self.text)

    def to_dict(self) -> JsonObject:
        return {"code": self.code, "enhanced": self.enhanced, "text": self.text}


@dataclass(frozen=True)
class ProbeResult:
    """One probe of the recipient's server as one sender: where it stopped and what it said.

    ``stage`` is the last step reached: connect, greeting, ehlo, mail, rcpt or done.
    """

    sender: str
    host: str
    address: str
    stage: str
    reply: SmtpReply | None = None
    rcpt_checked: bool = False
    error: str = ""
    transcript: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.stage == "done" and self.error == ""

    def to_dict(self) -> JsonObject:
        return {
            "sender": self.sender,
            "host": self.host,
            "address": self.address,
            "stage": self.stage,
            "reply": None if self.reply is None else self.reply.to_dict(),
            "rcpt_checked": self.rcpt_checked,
            "error": self.error,
            "transcript": list(self.transcript),
        }


@dataclass(frozen=True)
class Placement:
    """Where one of our own mails to the address was filed, as the receiver recorded it: the
    lab's sink when it is the recipient's MX (``source`` "sink"), or another first-hand record.
    ``folder`` is inbox, junk, quarantine or rejected."""

    source: str
    sender: str
    to: str
    folder: str
    at: dt.datetime | None = None
    subject: str = ""
    reference: str = ""  # how to find the record again, e.g. the sink's message id

    def to_dict(self) -> JsonObject:
        return {
            "source": self.source,
            "sender": self.sender,
            "to": self.to,
            "folder": self.folder,
            "at": _iso(self.at),
            "subject": self.subject,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class ReceiverReport:
    """What a receiver reported about one stream of our mail in its DMARC aggregate reports:
    ``messages`` from ``source_ip`` (``ours`` when it is one of our egress addresses) as
    ``header_from``, with the receiver's aligned DKIM and SPF results and its disposition."""

    reporter: str
    header_from: str
    source_ip: str
    ours: bool
    messages: int
    disposition: str  # none | quarantine | reject (RFC 7489 Appendix C)
    dkim: str  # pass | fail, DMARC-aligned
    spf: str

    @property
    def dmarc_failed(self) -> bool:
        return "pass" not in (self.dkim, self.spf)

    def to_dict(self) -> JsonObject:
        return {
            "reporter": self.reporter,
            "header_from": self.header_from,
            "source_ip": self.source_ip,
            "ours": self.ours,
            "messages": self.messages,
            "disposition": self.disposition,
            "dkim": self.dkim,
            "spf": self.spf,
        }


@dataclass(frozen=True)
class SpamVerdict:
    """What pasted headers say about the receiver's filing of the mail."""

    folder: str  # inbox | junk | quarantine | rejected | unknown
    reason: str  # spam_filter | authentication | bulk | phish | user_rule | allowlisted | none
    system: str = ""  # microsoft | spamassassin | rspamd | gmail | other
    details: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _frozen(self.details))

    def to_dict(self) -> JsonObject:
        return {
            "folder": self.folder,
            "reason": self.reason,
            "system": self.system,
            "details": json_object(self.details),
        }


@dataclass(frozen=True)
class BounceFacts:
    """What a pasted bounce (DSN or plain text) says."""

    status: str = ""  # RFC 3464 §2.3.4 Status, e.g. 5.7.1
    action: str = ""
    recipient: str = ""
    remote_mta: str = ""
    diagnostic: str = ""
    reply: SmtpReply | None = None
    is_dsn: bool = False

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5") or (self.reply is not None and self.reply.code >= 500)

    def to_dict(self) -> JsonObject:
        return {
            "status": self.status,
            "action": self.action,
            "recipient": self.recipient,
            "remote_mta": self.remote_mta,
            "diagnostic": self.diagnostic,
            "reply": None if self.reply is None else self.reply.to_dict(),
            "is_dsn": self.is_dsn,
        }


@dataclass(frozen=True)
class Evidence:
    """Everything gathered for one address; the item functions read only this."""

    address: str
    audience: Audience
    now: dt.datetime
    sender_addresses: tuple[str, ...]
    mx: MxReport | None = None
    probes: tuple[ProbeResult, ...] = ()
    senders: tuple[SenderReport, ...] = ()
    spam: SpamVerdict | None = None
    bounce: BounceFacts | None = None
    account: AccountFacts | None = None
    test_sends: tuple[TestSendResult, ...] = ()
    placements: tuple[Placement, ...] = ()  # where our own mails to the address were filed
    receiver_reports: tuple[ReceiverReport, ...] = ()  # the receiver's DMARC reports on us
    transport: TransportReport | None = None  # MTA-STS, TLS-RPT, DANE, when checked
    not_finished: tuple[str, ...] = ()  # sources the deadline cut off

    @property
    def provider(self) -> str:
        return "unknown" if self.mx is None or not self.mx.hosts else self.mx.provider


@dataclass(frozen=True)
class ChecklistItem:
    """One possible reason the mail did not arrive, with its status and evidence."""

    key: ItemKey
    status: Status
    evidence: Mapping[str, object] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown checklist status {self.status!r}")
        object.__setattr__(self, "evidence", _frozen(self.evidence))

    def to_dict(self) -> JsonObject:
        return {
            "key": self.key,
            "status": self.status,
            "evidence": json_object(self.evidence),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class Checklist:
    """The ordered items for one address and audience, and every finding behind them."""

    address: str
    audience: Audience
    items: tuple[ChecklistItem, ...]
    findings: tuple[Finding, ...] = ()
    provider: str = "unknown"

    @property
    def worst(self) -> Severity:
        """ERROR when any item is a problem, WARNING for a warning, else OK."""
        statuses = {i.status for i in self.items}
        return worst_severity(Finding("checklist.status", _STATUS_SEVERITY[s], s) for s in statuses)

    @property
    def has_problems(self) -> bool:
        return any(i.status == "problem" for i in self.items)

    def item(self, key: str) -> ChecklistItem | None:
        return next((i for i in self.items if i.key == key), None)

    def to_dict(self) -> JsonObject:
        return {
            "address": self.address,
            "audience": self.audience,
            "provider": self.provider,
            "items": [i.to_dict() for i in self.items],
            "findings": [f.to_dict() for f in self.findings],
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def is_status(value: str) -> TypeGuard[Status]:
    return value in STATUSES


def is_item_key(value: str) -> TypeGuard[ItemKey]:
    return value in ITEM_KEYS


def is_audience(value: str) -> TypeGuard[Audience]:
    return value in AUDIENCES
