"""The support checklist: every possible reason a reset mail did not arrive, with its status and
evidence, for the self-service user, the support engineer or the company's mail administrator.
"""

from diag.checklist.build import (
    DEFAULT_DEADLINE,
    AccountSource,
    RcptRule,
    build_checklist,
    checklist_from_evidence,
    decide_rcpt,
    read_account,
    read_pastes,
    split_address,
)
from diag.checklist.facts import (
    AUDIENCE_ITEMS,
    AUDIENCES,
    ITEM_KEYS,
    PROVIDERS,
    STATUSES,
    TODO_BY_DESIGN,
    AccountFacts,
    BounceFacts,
    Checklist,
    ChecklistItem,
    DeliveryFact,
    Evidence,
    ProbeGate,
    ProbeOptions,
    ProbeResult,
    ResetRequestFact,
    SmtpReply,
    SpamVerdict,
)
from diag.checklist.items import ALLOWLIST_STEPS, ITEM_FUNCTIONS, allowlist
from diag.checklist.readers import parse_smtp_reply, read_bounce, read_spam_verdict
from diag.checklist.smtp import probe_recipient
from diag.jsonvalue import jsonable

__all__ = [
    "ALLOWLIST_STEPS",
    "AUDIENCES",
    "AUDIENCE_ITEMS",
    "DEFAULT_DEADLINE",
    "ITEM_FUNCTIONS",
    "ITEM_KEYS",
    "PROVIDERS",
    "STATUSES",
    "TODO_BY_DESIGN",
    "AccountFacts",
    "AccountSource",
    "BounceFacts",
    "Checklist",
    "ChecklistItem",
    "DeliveryFact",
    "Evidence",
    "ProbeGate",
    "ProbeOptions",
    "ProbeResult",
    "RcptRule",
    "ResetRequestFact",
    "SmtpReply",
    "SpamVerdict",
    "allowlist",
    "build_checklist",
    "checklist_from_evidence",
    "decide_rcpt",
    "jsonable",
    "parse_smtp_reply",
    "probe_recipient",
    "read_account",
    "read_bounce",
    "read_pastes",
    "read_spam_verdict",
    "split_address",
]
