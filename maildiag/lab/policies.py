"""The demo recipient domains' mail-server behaviour, as sink policies (DESIGN.md, "The lab").

Pure data plus one builder. Each entry is in the sink's policy-file format, so the same
shapes can be written in a TOML/YAML policy file. ``kunde-nullmx`` needs no policy (its null MX
means no client connects) and ``kunde-nomx``'s implicit MX simply accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from smtp_sink import PolicyBook, parse_policies

DEMO_BOUNCE_DELAY = 60.0  # seconds before kunde-sprett bounces, in the demo
GREYLIST_WINDOW = 600.0  # seconds a greylisted triplet stays known (RFC 6647 §4.2 suggests minutes)

LAB_DOMAIN_POLICIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "kunde-ok.example": {"action": "accept"},
        "kunde-nomx.example": {"action": "accept"},
        # Every sender is refused, so both identities and their VERP bounce addresses are.
        # 550 5.7.1 at MAIL FROM for both sender domains (any address there, VERP included)
        "kunde-blokkerer.example": {
            "preset": "sender_blocked",
            "senders": ["platform.visma.com", "connect.visma.com"],
        },
        "kunde-greylist.example": {
            "action": "greylist",
            "greylist_attempts": 1,
            "greylist_window": GREYLIST_WINDOW,
        },  # 451 4.7.1 on the first attempt
        "kunde-ukjent.example": {"action": "accept"},
        "kunde-spam.example": {"action": "junk_unless_allowlisted", "allowlist": []},
        "kunde-sprett.example": {
            "action": "accept_then_bounce",
            "bounce_reply": "552 5.2.2 Mailbox full",  # RFC 3463 §3.3
        },
    }
)
"""Demo domain -> its policy entry."""

LAB_ADDRESS_POLICIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "kari@kunde-ukjent.example": {"preset": "user_unknown"},  # 550 5.1.1 at RCPT
    }
)
"""Demo address -> its policy entry (beats its domain's)."""

LAB_MX_ADDRESSES: Mapping[str, str] = MappingProxyType({"kunde-blokkerer.example": "127.0.0.2"})
"""Demo domain -> a loopback address of its own, where the sink listens (on its SMTP port) as
that domain's MX only. A client there is that domain's sender, so a MAIL FROM policy answers at
MAIL FROM (on the shared address the sink cannot know the domain before RCPT TO). The lab zone's
MX host for the domain must point at this address."""


def lab_policy_data(*, bounce_delay: float = DEMO_BOUNCE_DELAY) -> dict[str, Any]:
    """The lab's policies as a policy-file mapping, with kunde-sprett's bounce delay set."""
    domains = {name: dict(entry) for name, entry in LAB_DOMAIN_POLICIES.items()}
    domains["kunde-sprett.example"]["bounce_delay"] = bounce_delay
    addresses = {name: dict(entry) for name, entry in LAB_ADDRESS_POLICIES.items()}
    return {"default": {"action": "accept"}, "domains": domains, "addresses": addresses}


def lab_policies(*, bounce_delay: float = DEMO_BOUNCE_DELAY) -> PolicyBook:
    """A fresh ``PolicyBook`` with the lab's demo behaviour. Raises ``smtp_sink.ConfigError``."""
    return parse_policies(lab_policy_data(bounce_delay=bounce_delay), source="lab")


__all__ = [
    "DEMO_BOUNCE_DELAY",
    "LAB_ADDRESS_POLICIES",
    "LAB_DOMAIN_POLICIES",
    "LAB_MX_ADDRESSES",
    "lab_policies",
    "lab_policy_data",
]
