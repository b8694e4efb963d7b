"""The lab's DNS zones as data: the records the lab DNS server serves for the demo and the tests.

These are the lab's OWN records, invented for an offline lab. They are NOT the live DNS of
platform.visma.com or connect.visma.com, and nothing here must ever be published or compared
with the real zones. Addresses come from the documentation ranges (RFC 5737) and loopback.
Pure data and one pure builder; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from diag.resolver import MX, TXT, Record, ZoneData
from maildiag.lab.dns_wire import split_txt
from maildiag.lab.policies import LAB_MX_ADDRESSES

SINK_ADDRESS = "127.0.0.1"  # every lab MX points at the sink on loopback
STAFF_DOMAIN = "visma.example"
SHARED_SPF = "_spf.visma.example"  # the group's shared relay range, included by both senders
DMARC_RUA = "mailto:dmarc-reports@visma.example"

LAB_EGRESS: Mapping[str, str] = MappingProxyType(
    {
        "platform.visma.com": "198.51.100.10",
        "connect.visma.com": "198.51.100.20",
        "legacy.visma.example": "203.0.113.30",
    }
)
"""Sender domain -> the egress IP its mail leaves from (presented to the sink via PROXY)."""

HEALTHY_SENDERS = ("platform.visma.com", "connect.visma.com")
BROKEN_SENDER = "legacy.visma.example"

DEMO_DOMAINS: Mapping[str, str] = MappingProxyType(
    {
        "kunde-ok.example": "accept",
        "kunde-nullmx.example": "null_mx",
        "kunde-nomx.example": "implicit_mx",
        "kunde-blokkerer.example": "reject_sender",
        "kunde-greylist.example": "greylist",
        "kunde-ukjent.example": "unknown_mailbox",
        "kunde-spam.example": "junk_unless_allowlisted",
        "kunde-sprett.example": "accept_then_bounce",
    }
)
"""Demo recipient domain -> what its mail server does (DESIGN.md, "The lab")."""

HEALTHY_DOMAIN = "kunde-ok.example"

# Transport-security records (RFC 8461 §3.1, RFC 8460 §3) for the demo domains that publish
# them: correct ones, so no domain's outcome changes. The lab never fetches the MTA-STS
# policy itself (that would be HTTPS to mta-sts.<domain>), and the report says so.
TRANSPORT_RECORDS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        HEALTHY_DOMAIN: (
            ("_mta-sts", "v=STSv1; id=20260101T000000"),
            ("_smtp._tls", f"v=TLSRPTv1; rua=mailto:tls-reports@{HEALTHY_DOMAIN}"),
        ),
        "kunde-greylist.example": (
            ("_smtp._tls", "v=TLSRPTv1; rua=mailto:tlsrpt@kunde-greylist.example"),
        ),
    }
)

# The broken sender's SPF: include tree needing 11 DNS-querying terms (RFC 7208 §4.6.4 allows
# 10). Its egress IP is only listed in the innermost, last include, so evaluating it for that IP
# reaches the 11th lookup (permerror) rather than matching early.
_LEGACY_SPF: Mapping[str, str] = MappingProxyType(
    {
        "legacy.visma.example": "v=spf1 include:_spf-a.legacy.visma.example"
        " include:_spf-b.legacy.visma.example include:_spf-c.legacy.visma.example -all",
        "_spf-a.legacy.visma.example": "v=spf1 a:relay1.legacy.visma.example"
        " a:relay2.legacy.visma.example include:_spf-a2.legacy.visma.example ~all",
        "_spf-a2.legacy.visma.example": "v=spf1 mx:legacy.visma.example ip4:203.0.113.64/27 ~all",
        "_spf-b.legacy.visma.example": "v=spf1 include:_spf-b2.legacy.visma.example"
        " a:relay3.legacy.visma.example ~all",
        "_spf-b2.legacy.visma.example": "v=spf1 ip4:203.0.113.96/27 ~all",
        "_spf-c.legacy.visma.example": "v=spf1 include:_spf-c2.legacy.visma.example ~all",
        "_spf-c2.legacy.visma.example": "v=spf1 a:relay4.legacy.visma.example"
        " ip4:203.0.113.30 ~all",
    }
)
LEGACY_SPF_LOOKUPS = 11  # the terms above that query DNS: 3 + (2 + 1 + 1) + (1 + 1) + (1 + 1)


def txt(text: str) -> TXT:
    """One TXT record holding ``text``, split into 255-octet strings (RFC 7208 §3.3)."""
    return TXT(split_txt(text.encode("utf-8")))


def reverse_name(ipv4: str) -> str:
    """``198.51.100.10`` -> ``10.100.51.198.in-addr.arpa`` (RFC 1035 §3.5)."""
    return ".".join(reversed(ipv4.split("."))) + ".in-addr.arpa"


class _Zone:
    """A zone under construction: records appended by name and type."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, list[Record]]] = {}

    def add(self, name: str, rdtype: str, *records: Record) -> None:
        self.data.setdefault(name, {}).setdefault(rdtype, []).extend(records)

    def mail_host(self, name: str, address: str = SINK_ADDRESS) -> None:
        self.add(name, "A", address)


def build_lab_zone(keys: Mapping[str, tuple[str, str]]) -> ZoneData:
    """The lab's whole zone.

    ``keys`` maps a sender domain to ``(selector, DKIM key TXT value)`` as published. For
    ``legacy.visma.example`` the caller passes a public key that does NOT belong to the private
    key the lab signs with: that mismatch is the broken sender's planted DKIM fault. A domain
    missing from ``keys`` publishes no DKIM key.
    """
    zone = _Zone()
    _staff(zone)
    for domain in HEALTHY_SENDERS:
        egress = LAB_EGRESS[domain]
        _sender(zone, domain, f"v=spf1 ip4:{egress} include:{SHARED_SPF} -all", "reject")
        zone.add(f"{domain}._report._dmarc.{STAFF_DOMAIN}", "TXT", txt("v=DMARC1"))
    _sender(zone, BROKEN_SENDER, _LEGACY_SPF[BROKEN_SENDER], "quarantine")
    for name, record in _LEGACY_SPF.items():
        if name != BROKEN_SENDER:
            zone.add(name, "TXT", txt(record))
    for number in range(1, 5):
        zone.add(f"relay{number}.{BROKEN_SENDER}", "A", f"203.0.113.{40 + number}")
    for domain, (selector, key_txt) in keys.items():
        zone.add(f"{selector}._domainkey.{domain}", "TXT", txt(key_txt))
    for domain, behaviour in DEMO_DOMAINS.items():
        _recipient(zone, domain, behaviour)
    return zone.data


def _staff(zone: _Zone) -> None:
    zone.add(STAFF_DOMAIN, "MX", MX(10, f"mx.{STAFF_DOMAIN}"))
    zone.mail_host(f"mx.{STAFF_DOMAIN}")
    zone.add(STAFF_DOMAIN, "TXT", txt(f"v=spf1 include:{SHARED_SPF} -all"))
    zone.add(SHARED_SPF, "TXT", txt("v=spf1 ip4:198.51.100.128/25 ip6:2001:db8:5100::/48 -all"))
    zone.add(f"_dmarc.{STAFF_DOMAIN}", "TXT", txt(f"v=DMARC1; p=reject; rua={DMARC_RUA}"))


def _sender(zone: _Zone, domain: str, spf: str, policy: str) -> None:
    """A sender domain: SPF, DMARC, an MX for bounces, forward-confirmed reverse DNS, HELO."""
    egress, helo = LAB_EGRESS[domain], f"mail-out.{domain}"
    zone.add(domain, "TXT", txt(spf))
    zone.add(f"_dmarc.{domain}", "TXT", txt(f"v=DMARC1; p={policy}; rua={DMARC_RUA}"))
    zone.add(domain, "MX", MX(10, f"mx.{domain}"))
    zone.mail_host(f"mx.{domain}")
    zone.add(reverse_name(egress), "PTR", helo)
    zone.add(helo, "A", egress)
    zone.add(helo, "TXT", txt("v=spf1 a -all"))  # the HELO identity's own SPF (RFC 7208 §2.3)


def _recipient(zone: _Zone, domain: str, behaviour: str) -> None:
    """A demo recipient domain with its MX shape and its own SPF and DMARC."""
    policy = "quarantine" if domain == HEALTHY_DOMAIN else "none"
    zone.add(f"_dmarc.{domain}", "TXT", txt(f"v=DMARC1; p={policy}; rua=mailto:dmarc@{domain}"))
    if behaviour == "null_mx":
        zone.add(domain, "MX", MX(0, ""))  # RFC 7505 §3: "0 ."
        zone.add(domain, "TXT", txt("v=spf1 -all"))
        zone.add(domain, "A", "192.0.2.80")  # a web site, but no mail
        return
    if behaviour == "implicit_mx":
        zone.mail_host(domain)  # no MX: the A record is the implicit MX (RFC 5321 §5.1)
        zone.add(domain, "TXT", txt("v=spf1 a -all"))
        return
    zone.add(domain, "MX", MX(10, f"mx.{domain}"))
    # A domain whose sink policy acts at MAIL FROM has an MX address of its own (see
    # maildiag.lab.policies.LAB_MX_ADDRESSES): there the sink knows the domain before RCPT.
    zone.mail_host(f"mx.{domain}", LAB_MX_ADDRESSES.get(domain, SINK_ADDRESS))
    zone.add(domain, "TXT", txt("v=spf1 mx -all"))
    for prefix, record in TRANSPORT_RECORDS.get(domain, ()):
        zone.add(f"{prefix}.{domain}", "TXT", txt(record))


__all__ = [
    "BROKEN_SENDER",
    "DEMO_DOMAINS",
    "HEALTHY_DOMAIN",
    "HEALTHY_SENDERS",
    "LAB_EGRESS",
    "LEGACY_SPF_LOOKUPS",
    "SINK_ADDRESS",
    "STAFF_DOMAIN",
    "TRANSPORT_RECORDS",
    "build_lab_zone",
    "reverse_name",
    "txt",
]
