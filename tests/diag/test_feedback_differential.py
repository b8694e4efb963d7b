"""Differential test against parsedmarc (a test-only dependency): generated DMARC aggregate
reports, RFC 7489 and RFC 9990, as .xml, .xml.gz and .zip, and SMTP TLS reports, must give
the same records, counts, dispositions and authentication results in both parsers.

Where parsedmarc normalizes on purpose, the comparison does too: it fills in an absent SPF
``scope`` as ``mfrom`` and an absent ``envelope_from`` from the SPF domain, where we keep what
the report says (None); it turns an org name without spaces into its registered domain
("Outlook.com" becomes "outlook.com"), where we keep the name the reporter gave (it is half of
the report's identity); and it keeps IP addresses as written, where we give canonical text.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import parsedmarc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diag.feedback import AggregateReport, TlsReport, parse_report
from tests.diag.feedback_samples import gz, sample, zipped

DOMAINS = ("platform.visma.com", "connect.visma.com", "legacy.visma.example", "spoof.example")
DKIM_RESULTS = ("pass", "fail", "none", "neutral", "temperror", "permerror", "policy")
SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
RESULT_TYPES = (
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
)
BEGIN = 1764892800  # 2025-12-05T00:00:00Z; one day, so parsedmarc does not split a record


def _text(name: str, value: str | None) -> str:
    return "" if value is None else f"<{name}>{value}</{name}>"


report_ids = st.integers(0, 2**64).map(lambda n: f"{n:x}")
ips = st.one_of(
    st.integers(1, 254).map(lambda n: f"198.51.100.{n}"),
    st.integers(1, 254).map(lambda n: f"192.0.2.{n}"),
    st.integers(1, 0xFFFF).map(lambda n: f"2001:db8:0:0::{n:x}"),
)


@st.composite
def records(draw: st.DrawFn, rfc9990: bool) -> str:
    dispositions = (
        ("none", "quarantine", "reject", "pass") if rfc9990 else ("none", "quarantine", "reject")
    )
    header_from = draw(st.sampled_from(DOMAINS))
    dkim = "".join(
        f"<dkim><domain>{d}</domain><selector>{s}</selector><result>{r}</result></dkim>"
        for d, s, r in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(DOMAINS),
                    st.sampled_from(("reset2026", "s1", "google")),
                    st.sampled_from(DKIM_RESULTS),
                ),
                max_size=3,
            )
        )
    )
    scope = draw(st.sampled_from((None, "mfrom")))
    spf = (
        f"<spf><domain>{draw(st.sampled_from(DOMAINS))}</domain>{_text('scope', scope)}"
        f"<result>{draw(st.sampled_from(SPF_RESULTS))}</result></spf>"
    )
    identifiers = (
        _text("envelope_to", draw(st.sampled_from((None, "outlook.com", "kunde-ok.example"))))
        + _text("envelope_from", draw(st.sampled_from((None, "bounce.visma.example"))))
        + f"<header_from>{header_from}</header_from>"
    )
    return (
        f"<record><row><source_ip>{draw(ips)}</source_ip>"
        f"<count>{draw(st.integers(0, 100_000))}</count><policy_evaluated>"
        f"<disposition>{draw(st.sampled_from(dispositions))}</disposition>"
        f"<dkim>{draw(st.sampled_from(('pass', 'fail')))}</dkim>"
        f"<spf>{draw(st.sampled_from(('pass', 'fail')))}</spf></policy_evaluated></row>"
        f"<identifiers>{identifiers}</identifiers><auth_results>{dkim}{spf}</auth_results>"
        "</record>"
    )


@st.composite
def aggregate_files(draw: st.DrawFn) -> bytes:
    rfc9990 = draw(st.booleans())
    namespace = ' xmlns="urn:ietf:params:xml:ns:dmarc-2.0"' if rfc9990 else ""
    body = "".join(draw(st.lists(records(rfc9990), min_size=1, max_size=8)))
    org = draw(st.sampled_from(("google.com", "Outlook.com", "Yahoo", "Mail.Ru Group")))
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><feedback{namespace}><version>1.0</version>'
        f"<report_metadata><org_name>{org}</org_name><email>dmarc@receiver.example</email>"
        f"<report_id>{draw(report_ids)}</report_id><date_range><begin>{BEGIN}</begin>"
        f"<end>{BEGIN + 86_399}</end></date_range></report_metadata><policy_published>"
        f"<domain>{draw(st.sampled_from(DOMAINS))}</domain>"
        f"<p>{draw(st.sampled_from(('none', 'quarantine', 'reject')))}</p></policy_published>"
        f"{body}</feedback>"
    ).encode()
    wrap = draw(st.sampled_from(("xml", "gz", "zip")))
    return {"xml": xml, "gz": gz(xml), "zip": zipped(("report.xml", xml))}[wrap]


def _oracle(data: bytes) -> dict[str, Any]:
    parsed = parsedmarc.parse_report_file(data, offline=True, always_use_local_files=True)
    return dict(parsed)


def _ours_record(record: Any) -> dict[str, Any]:
    return {
        "ip": record.source_ip,
        "count": record.count,
        "disposition": record.disposition,
        "dkim": record.dkim,
        "spf": record.spf,
        "header_from": record.header_from,
        "envelope_to": record.envelope_to,
        "dkim_results": [(d.domain, d.selector, d.result) for d in record.dkim_results],
        "spf_results": [(s.domain, s.scope or "mfrom", s.result) for s in record.spf_results],
    }


def _their_record(record: dict[str, Any]) -> dict[str, Any]:
    evaluated = record["policy_evaluated"]
    auth = record["auth_results"]
    return {
        "ip": str(ipaddress.ip_address(record["source"]["ip_address"])),
        "count": record["count"],
        "disposition": evaluated["disposition"],
        "dkim": evaluated["dkim"],
        "spf": evaluated["spf"],
        "header_from": record["identifiers"]["header_from"],
        "envelope_to": record["identifiers"]["envelope_to"],
        "dkim_results": [(d["domain"], d["selector"], d["result"]) for d in auth["dkim"]],
        "spf_results": [(s["domain"], s["scope"], s["result"]) for s in auth["spf"]],
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(aggregate_files())
def test_aggregate_reports_agree_with_parsedmarc(data: bytes) -> None:
    _agree(data)


@pytest.mark.parametrize(
    "name",
    [
        "google.xml",
        "microsoft.xml",
        "yahoo.xml",
        "rfc9990.xml",
        "aggregate-google.eml",
        "aggregate-microsoft.eml",
    ],
)
def test_the_samples_agree_with_parsedmarc(name: str) -> None:
    _agree(sample(name))


def _agree(data: bytes) -> None:
    ours = parse_report(data)
    theirs = _oracle(data)
    assert isinstance(ours, AggregateReport)
    assert theirs["report_type"] == "aggregate"
    report = theirs["report"]
    meta = report["report_metadata"]
    domain_like = "." in ours.org_name and " " not in ours.org_name
    org = ours.org_name.lower() if domain_like else ours.org_name
    assert (org, ours.report_id) == (meta["org_name"], meta["report_id"])
    assert ours.policy.domain == report["policy_published"]["domain"]
    assert [_ours_record(r) for r in ours.records] == [_their_record(r) for r in report["records"]]
    summary = ours.summary()
    assert summary.message_count == sum(r["count"] for r in report["records"])
    for disposition in ("quarantine", "reject"):
        expected = sum(
            r["count"]
            for r in report["records"]
            if r["policy_evaluated"]["disposition"] == disposition
        )
        assert summary.dispositions[disposition] == expected


@st.composite
def tls_files(draw: st.DrawFn) -> bytes:
    policies = []
    for _ in range(draw(st.integers(1, 3))):
        failures = [
            {
                "result-type": draw(st.sampled_from(RESULT_TYPES)),
                "sending-mta-ip": draw(ips),
                "receiving-mx-hostname": draw(
                    st.sampled_from(("mx1.visma.example", "mx2.visma.example"))
                ),
                "failed-session-count": draw(st.integers(0, 5000)),
            }
            for _ in range(draw(st.integers(0, 4)))
        ]
        policies.append(
            {
                "policy": {
                    "policy-type": draw(st.sampled_from(("sts", "tlsa", "no-policy-found"))),
                    "policy-domain": draw(st.sampled_from(DOMAINS[:3])),
                },
                "summary": {
                    "total-successful-session-count": draw(st.integers(0, 100_000)),
                    "total-failure-session-count": sum(f["failed-session-count"] for f in failures),
                },
                "failure-details": failures,
            }
        )
    document = {
        "organization-name": draw(st.sampled_from(("Google Inc.", "Microsoft Corporation"))),
        "date-range": {
            "start-datetime": "2025-12-05T00:00:00Z",
            "end-datetime": "2025-12-05T23:59:59Z",
        },
        "contact-info": "tlsrpt@receiver.example",
        "report-id": draw(report_ids),
        "policies": policies,
    }
    data = json.dumps(document).encode()
    return gz(data) if draw(st.booleans()) else data


@settings(max_examples=15, deadline=None)
@given(tls_files())
def test_tls_reports_agree_with_parsedmarc(data: bytes) -> None:
    ours = parse_report(data)
    theirs = _oracle(data)
    assert isinstance(ours, TlsReport)
    assert theirs["report_type"] == "smtp_tls"
    report = theirs["report"]
    assert (ours.org_name, ours.report_id) == (report["organization_name"], report["report_id"])
    assert [
        (
            p.policy_type,
            p.policy_domain,
            p.successful,
            p.failed,
            [(f.result_type, f.failed_session_count) for f in p.failures],
        )
        for p in ours.policies
    ] == [
        (
            p["policy_type"],
            p["policy_domain"],
            p["successful_session_count"],
            p["failed_session_count"],
            [(f["result_type"], f["failed_session_count"]) for f in p.get("failure_details", [])],
        )
        for p in report["policies"]
    ]
