"""DMARC: record parsing, policy discovery (RFC 9989 tree walk, RFC 7489 PSL view), alignment,
the policy choice (p, sp, np), the verdict on a message, report destinations and the
sender-domain check.

Public names are re-exported here; other packages import only these.
"""

from __future__ import annotations

from .alignment import AlignmentMode, dkim_aligned, identifiers_aligned, spf_aligned
from .check import check_domain
from .discovery import (
    MAX_TREE_WALK_QUERIES,
    Discovery,
    InvalidDomainError,
    Rfc7489View,
    TreeWalk,
    WalkCache,
    WalkStep,
    default_psl,
    discover,
    ends_walk,
    normalize_domain,
    psl_organizational_domain,
    tree_walk,
    walk_targets,
)
from .evaluate import DmarcOutcome, DmarcResult, DmarcVersion, evaluate
from .parse import (
    POLICIES,
    DmarcRecord,
    NotDmarcRecord,
    Policy,
    ReportUri,
    parse_dmarc,
    parse_report_uri,
    parse_report_uris,
)
from .policy import applicable_policy, domain_exists, policy_choices
from .reports import check_report_uris

__all__ = [
    "MAX_TREE_WALK_QUERIES",
    "POLICIES",
    "AlignmentMode",
    "Discovery",
    "DmarcOutcome",
    "DmarcRecord",
    "DmarcResult",
    "DmarcVersion",
    "InvalidDomainError",
    "NotDmarcRecord",
    "Policy",
    "ReportUri",
    "Rfc7489View",
    "TreeWalk",
    "WalkCache",
    "WalkStep",
    "applicable_policy",
    "check_domain",
    "check_report_uris",
    "default_psl",
    "discover",
    "dkim_aligned",
    "domain_exists",
    "ends_walk",
    "evaluate",
    "identifiers_aligned",
    "normalize_domain",
    "parse_dmarc",
    "parse_report_uri",
    "parse_report_uris",
    "policy_choices",
    "psl_organizational_domain",
    "spf_aligned",
    "tree_walk",
    "walk_targets",
]
