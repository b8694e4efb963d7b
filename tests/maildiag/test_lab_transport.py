"""The lab's transport-security records, checked over the wire against the lab's own DNS
server: the demo domains that publish MTA-STS and TLS-RPT show them offline, the policy is
never fetched, and no demo domain's outcome changes (nothing above info, no error)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from diag.findings import ERROR, WARNING
from diag.mx import lookup_mx
from diag.resolver import DnsPythonResolver
from diag.transport import check_transport
from maildiag.lab.dns import LabDnsServer, lab_dns_in_thread
from maildiag.lab.zones import DEMO_DOMAINS, HEALTHY_DOMAIN, TRANSPORT_RECORDS, build_lab_zone

EXPECTED = {
    HEALTHY_DOMAIN: ["mta_sts.policy_not_fetched", "tlsrpt.ok", "dane.none"],
    "kunde-greylist.example": ["mta_sts.none", "tlsrpt.ok", "dane.none"],
}


@pytest.fixture(scope="module")
def lab_dns() -> Iterator[LabDnsServer]:
    with lab_dns_in_thread(build_lab_zone({})) as server:
        yield server


@pytest.mark.parametrize("domain", sorted(DEMO_DOMAINS))
async def test_demo_domains_keep_their_outcome(lab_dns: LabDnsServer, domain: str) -> None:
    resolver = DnsPythonResolver([lab_dns.address], timeout=2.0)
    mx = await lookup_mx(domain, resolver, allow_private=True)
    report = await check_transport(mx, resolver, fetcher=None)
    assert not [f.code for f in report.findings if f.severity in (WARNING, ERROR)]
    if not mx.can_receive:
        assert not report.checked
        return
    codes = [f.code for f in report.findings]
    assert codes == EXPECTED.get(domain, ["mta_sts.none", "tlsrpt.none", "dane.none"])
    asked = {(e.name, e.rdtype) for e in resolver.log}
    assert (f"_25._tcp.{mx.hosts[0].name}", "TLSA") in asked
    assert not any(name.startswith("mta-sts.") for name, _ in asked)  # never fetched


def test_only_demo_domains_carry_transport_records() -> None:
    assert set(TRANSPORT_RECORDS) <= set(DEMO_DOMAINS)
    assert HEALTHY_DOMAIN in TRANSPORT_RECORDS
