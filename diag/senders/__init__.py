"""Sender identities and the sender-domain report: SPF per egress IP, SPF lint, DKIM keys and a
signed sample, DMARC and alignment, reverse DNS and HELO, DNS blocklists, and an MX for bounces.
"""

from diag.senders.checks import Part
from diag.senders.report import (
    DEFAULT_DEADLINE,
    SECTIONS,
    Section,
    SenderReport,
    check_sender,
    check_sender_domain,
    run_jobs,
)
from diag.senders.spec import COMMON_SELECTORS, SenderSpec, sample_reset_mail
from diag.senders.waves import TOGETHER, WAVES, Pacing

__all__ = [
    "COMMON_SELECTORS",
    "DEFAULT_DEADLINE",
    "SECTIONS",
    "TOGETHER",
    "WAVES",
    "Pacing",
    "Part",
    "Section",
    "SenderReport",
    "SenderSpec",
    "check_sender",
    "check_sender_domain",
    "run_jobs",
    "sample_reset_mail",
]
