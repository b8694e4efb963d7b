"""The support checklist: every possible reason a reset mail did not arrive, with its status and
evidence, for the self-service user, the support engineer or the company's mail administrator.
"""

from diag.checklist.build import (
    DEFAULT_DEADLINE,
    AccountSource,
    build_checklist,
    checklist_from_evidence,
    read_account,
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
    ProbeOptions,
    ProbeResult,
    ResetRequestFact,
    SmtpReply,
    SpamVerdict,
    jsonable,
)
from diag.checklist.items import ALLOWLIST_STEPS, ITEM_FUNCTIONS, allowlist
from diag.checklist.readers import parse_smtp_reply, read_bounce, read_spam_verdict
from diag.checklist.smtp import probe_recipient

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
    "ProbeOptions",
    "ProbeResult",
    "ResetRequestFact",
    "SmtpReply",
    "SpamVerdict",
    "allowlist",
    "build_checklist",
    "checklist_from_evidence",
    "jsonable",
    "parse_smtp_reply",
    "probe_recipient",
    "read_account",
    "read_bounce",
    "read_spam_verdict",
    "split_address",
]
