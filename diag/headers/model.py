"""The values the header analysis shares between its modules: a receiver's spam verdict and
its decoded details. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.jsonvalue import JsonObject

SYSTEMS = ("microsoft", "spamassassin", "rspamd", "gmail", "other")

# What a verdict says about where the message went; the conclusion ranks these.
CATEGORIES = (
    "phish",
    "malware",
    "impersonation",
    "user_rule",
    "admin_rule",
    "policy_blocklist",
    "spoof",
    "dmarc_policy",
    "rejected",
    "bulk",
    "high_spam",
    "spam",
    "allowlisted",
    "none",
)


@dataclass(frozen=True)
class Detail:
    """One decoded field of a verdict: the raw ``field``/``value`` and a stable meaning ``code``."""

    field: str
    value: str
    code: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "value": self.value, "code": self.code}


@dataclass(frozen=True)
class Verdict:
    """One receiver's spam verdict as its filter stamped it.

    ``final`` is False for verdicts that do not decide this mailbox's folder (a sending
    tenant's untrusted copy, an outbound scan). ``category`` is one of ``CATEGORIES``.
    """

    receiver: str
    system: str
    spam: bool | None
    score: float | None = None
    threshold: float | None = None
    details: tuple[Detail, ...] = ()
    header: str = ""
    category: str = "none"
    final: bool = True

    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.details)

    def to_dict(self) -> JsonObject:
        return {
            "receiver": self.receiver,
            "system": self.system,
            "spam": self.spam,
            "score": self.score,
            "threshold": self.threshold,
            "details": [d.to_dict() for d in self.details],
            "header": self.header,
            "category": self.category,
            "final": self.final,
        }


def number(text: str) -> float | None:
    """``text`` as a number, or None."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value and abs(value) < 1e9 else None  # no NaN, no absurd values


__all__ = ["CATEGORIES", "SYSTEMS", "Detail", "Verdict", "number"]
