"""The lab: maildiag's own authoritative DNS server on loopback and the lab zones it serves.

Everything here is for the offline demo and the tests; the records are the lab's own, never
the live ones.
"""

from maildiag.lab.dns import Fault, LabDnsServer, lab_dns_in_thread
from maildiag.lab.zones import (
    BROKEN_SENDER,
    DEMO_DOMAINS,
    HEALTHY_DOMAIN,
    HEALTHY_SENDERS,
    LAB_EGRESS,
    build_lab_zone,
)
from maildiag.lab.zonetext import parse_zone_text

__all__ = [
    "BROKEN_SENDER",
    "DEMO_DOMAINS",
    "HEALTHY_DOMAIN",
    "HEALTHY_SENDERS",
    "LAB_EGRESS",
    "Fault",
    "LabDnsServer",
    "build_lab_zone",
    "lab_dns_in_thread",
    "parse_zone_text",
]
