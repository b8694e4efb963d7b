"""Where the message most likely landed, and why: the conclusion drawn from the receivers'
verdicts and authentication results. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from diag.headers.authresults import AuthenticationEntry
from diag.headers.model import Verdict
from diag.jsonvalue import JsonObject

FOLDERS = ("inbox", "junk", "quarantine", "rejected", "unknown")
REASONS = (
    "phish",
    "malware",
    "user_rule",
    "admin_rule",
    "authentication",
    "bulk",
    "spam_filter",
    "rejected",
    "allowlisted",
    "none",
)

# category -> (folder, reason), in priority order: the first category any verdict has decides.
_RANKED: tuple[tuple[str, tuple[str, str]], ...] = (
    ("malware", ("quarantine", "malware")),
    ("phish", ("quarantine", "phish")),
    ("impersonation", ("quarantine", "phish")),
    ("rejected", ("rejected", "spam_filter")),
    ("user_rule", ("junk", "user_rule")),
    ("admin_rule", ("junk", "admin_rule")),
    ("policy_blocklist", ("junk", "admin_rule")),
    ("spoof", ("junk", "authentication")),
    ("dmarc_policy", ("junk", "authentication")),
    ("bulk", ("junk", "bulk")),
    ("high_spam", ("junk", "spam_filter")),
    ("spam", ("junk", "spam_filter")),
)
_SUMMARIES: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("quarantine", "malware"): "quarantined as malware",
        ("quarantine", "phish"): "quarantined as phishing or impersonation",
        ("rejected", "spam_filter"): "rejected by the spam filter",
        (
            "junk",
            "user_rule",
        ): "moved to junk: the sender is on the recipient's own blocked senders list",
        ("junk", "admin_rule"): "marked as spam by an administrator's rule",
        ("junk", "authentication"): "junked because sender authentication failed",
        ("junk", "bulk"): "junked as bulk mail",
        ("junk", "spam_filter"): "junked by the spam filter",
        ("inbox", "allowlisted"): "delivered to the inbox (sender allowlisted)",
        ("inbox", "none"): "delivered to the inbox; no filter marked it as spam",
        ("unknown", "none"): "no receiver's spam verdict in these headers",
        ("unknown", "authentication"): "no spam verdict, but sender authentication failed",
    }
)


# Categories that say more than their (folder, reason) summary.
_CATEGORY_SUMMARIES: Mapping[str, str] = MappingProxyType(
    {
        "policy_blocklist": "marked as spam: the sender is on the blocked senders or domains list"
        " of the organization's anti-spam policy (an administrator's setting)",
    }
)


@dataclass(frozen=True)
class Conclusion:
    """The folder (inbox, junk, quarantine, rejected, unknown), a stable reason code, and who
    decided it."""

    folder: str
    reason: str
    summary: str
    decided_by: str = ""

    def to_dict(self) -> JsonObject:
        return {
            "folder": self.folder,
            "reason": self.reason,
            "summary": self.summary,
            "decided_by": self.decided_by,
        }


def conclude(
    verdicts: Sequence[Verdict], authentication: Sequence[AuthenticationEntry]
) -> Conclusion:
    """Rank the final verdicts' categories; with none, fall back to the authentication."""
    final = [v for v in verdicts if v.final]
    for category, (folder, reason) in _RANKED:
        for verdict in final:
            if verdict.category == category:
                return _make(folder, reason, verdict, _CATEGORY_SUMMARIES.get(category))
    spam_flagged = [v for v in final if v.spam]
    if spam_flagged:
        return _make("junk", "spam_filter", spam_flagged[0])
    allowed = [v for v in final if v.category == "allowlisted"]
    if allowed:
        return _make("inbox", "allowlisted", allowed[0])
    if any(v.spam is False for v in final):
        return _make("inbox", "none", next(v for v in final if v.spam is False))
    if _dmarc_failed(authentication):
        return _make("unknown", "authentication", None)
    return _make("unknown", "none", None)


def _dmarc_failed(authentication: Sequence[AuthenticationEntry]) -> bool:
    """True when the last receiver (the topmost Authentication-Results, possibly split over
    several fields with the same authserv-id) found DMARC failing."""
    plain = [a for a in authentication if a.source == "Authentication-Results" and a.parsed]
    if not plain:
        return False
    receiver = plain[0].receiver
    return any(a.summary("dmarc") == "fail" for a in plain if a.receiver == receiver)


def _make(
    folder: str, reason: str, verdict: Verdict | None, summary: str | None = None
) -> Conclusion:
    decided = f"{verdict.system}:{verdict.receiver}" if verdict else ""
    summary = summary or _SUMMARIES.get((folder, reason), folder)
    return Conclusion(folder, reason, summary, decided)


__all__ = ["FOLDERS", "REASONS", "Conclusion", "conclude"]
