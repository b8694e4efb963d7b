"""The reports page's and the checklist's questions, on a week of reports whose answers are
known: three receivers, our two senders and the legacy identity, a forwarder that breaks DKIM
and SPF, a spoofer, and two TLS reports."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from maildiag.feedback import (
    Period,
    Source,
    daily,
    enforcing_receivers,
    ingest,
    receiver_observations,
    records,
    sender_domains,
    tls_failures,
    tls_sessions,
    top_source_ips,
)
from tests.diag.feedback_samples import aggregate_xml, record_xml, sample

DAY = 86_400
DEC_1 = 1764547200  # 2025-12-01T00:00:00Z
WEEK = Period(dt.date(2025, 12, 1), dt.date(2025, 12, 7))
EGRESS = ["198.51.100.10", "198.51.100.20", "203.0.113.30"]
OURS = ["platform.visma.com", "connect.visma.com"]


def _report(org: str, report_id: str, day: int, *records: str) -> Source:
    xml = aggregate_xml(
        org=org,
        report_id=report_id,
        begin=str(DEC_1 + day * DAY),
        end=str(DEC_1 + day * DAY + DAY - 1),
        records="".join(records),
    )
    return Source(f"{report_id}.xml", xml)


def _tls(org: str, report_id: str, day: str, failures: list[tuple[str, str, int]]) -> Source:
    document = {
        "organization-name": org,
        "report-id": report_id,
        "date-range": {
            "start-datetime": f"{day}T00:00:00Z",
            "end-datetime": f"{day}T23:59:59Z",
        },
        "policies": [
            {
                "policy": {"policy-type": "sts", "policy-domain": "platform.visma.com"},
                "summary": {
                    "total-successful-session-count": 100,
                    "total-failure-session-count": sum(n for _, _, n in failures),
                },
                "failure-details": [
                    {"result-type": t, "receiving-mx-hostname": mx, "failed-session-count": n}
                    for t, mx, n in failures
                ],
            }
        ],
    }
    return Source(f"{report_id}.json", json.dumps(document).encode())


@pytest.fixture
def week(engine: sa.Engine) -> sa.Engine:
    sources = [
        _report(
            "google.com",
            "g-1",
            0,
            record_xml(ip="198.51.100.10", count="100"),
            record_xml(ip="192.0.2.77", count="5", disposition="reject", dkim="fail", spf="fail"),
        ),
        _report(
            "Outlook.com",
            "o-2",
            1,
            record_xml(ip="198.51.100.10", count="50", envelope_to="outlook.com"),
            record_xml(
                ip="203.0.113.99",
                count="12",
                disposition="quarantine",
                dkim="fail",
                spf="fail",
                envelope_to="hotmail.com",
            ),
            record_xml(
                ip="198.51.100.20",
                count="20",
                header_from="connect.visma.com",
                envelope_to="outlook.com",
            ),
        ),
        _report(
            "Yahoo",
            "y-2",
            1,
            record_xml(
                ip="203.0.113.30", count="8", dkim="fail", header_from="legacy.visma.example"
            ),
        ),
        _report("Outlook.com", "o-3", 2, record_xml(ip="198.51.100.10", count="30")),
        # After the week: outside every query below.
        _report("Outlook.com", "o-9", 8, record_xml(ip="192.0.2.1", count="999")),
        _tls(
            "Google Inc.",
            "t-1",
            "2025-12-02",
            [("certificate-expired", "mx1.visma.example", 7)],
        ),
        _tls(
            "Microsoft Corporation",
            "t-2",
            "2025-12-03",
            [
                ("starttls-not-supported", "mx2.visma.example", 3),
                ("certificate-expired", "mx1.visma.example", 2),
            ],
        ),
        Source("failure.eml", sample("failure-rfc6591.eml")),
    ]
    results = ingest(engine, sources)
    assert not any(r.refused for r in results)
    return engine


def test_sender_domains(week: sa.Engine) -> None:
    assert [(d.domain, d.messages) for d in sender_domains(week, WEEK)] == [
        ("platform.visma.com", 197),
        ("connect.visma.com", 20),
        ("legacy.visma.example", 8),
    ]


def test_daily_dispositions_and_pass_rates(week: sa.Engine) -> None:
    days = daily(week, "Platform.Visma.com", WEEK)
    assert [d.day.day for d in days] == [1, 2, 3]
    first = days[0].to_json()
    assert first["messages"] == 105
    assert first["dispositions"] == {"none": 100, "quarantine": 0, "reject": 5}
    assert (first["dkim_pass"], first["spf_pass"], first["dmarc_pass"]) == (100, 100, 100)
    assert first["dkim_rate"] == pytest.approx(100 / 105)
    second = days[1].tally
    assert second.dispositions == {"none": 50, "quarantine": 12, "reject": 0}
    assert second.dmarc_pass == 50


def test_top_source_ips_are_marked_ours_or_not(week: sa.Engine) -> None:
    ips = top_source_ips(week, "platform.visma.com", WEEK, EGRESS)
    assert [(s.ip, s.ours, s.tally.messages) for s in ips] == [
        ("198.51.100.10", True, 180),
        ("203.0.113.99", False, 12),
        ("192.0.2.77", False, 5),
    ]
    assert ips[1].tally.dispositions["quarantine"] == 12
    networks = top_source_ips(week, "platform.visma.com", WEEK, ["198.51.100.0/24"], limit=1)
    assert [(s.ip, s.ours) for s in networks] == [("198.51.100.10", True)]
    with pytest.raises(ValueError, match="does not appear to be"):
        top_source_ips(week, "platform.visma.com", WEEK, ["not-an-ip"])


def test_receivers_that_quarantined_or_rejected(week: sa.Engine) -> None:
    found = enforcing_receivers(week, "platform.visma.com", WEEK)
    assert [(r.org_name, r.tally.dispositions) for r in found] == [
        ("Outlook.com", {"none": 80, "quarantine": 12, "reject": 0}),
        ("google.com", {"none": 100, "quarantine": 0, "reject": 5}),
    ]
    assert enforcing_receivers(week, "connect.visma.com", WEEK) == []


def test_tls_failures_by_receiver_and_result_type(week: sa.Engine) -> None:
    assert [
        (f.org_name, f.receiving_mx_hostname, f.result_type, f.sessions)
        for f in tls_failures(week, WEEK)
    ] == [
        ("Google Inc.", "mx1.visma.example", "certificate-expired", 7),
        ("Microsoft Corporation", "mx2.visma.example", "starttls-not-supported", 3),
        ("Microsoft Corporation", "mx1.visma.example", "certificate-expired", 2),
    ]
    assert tls_failures(week, WEEK, policy_domain="connect.visma.com") == []
    assert [(s.org_name, s.successful, s.failed) for s in tls_sessions(week, WEEK)] == [
        ("Google Inc.", 100, 7),
        ("Microsoft Corporation", 100, 5),
    ]


def test_drill_down_by_source_ip_and_by_receiver(week: sa.Engine) -> None:
    by_ip = records(week, WEEK, source_ip="198.51.100.10")
    assert [(r.org_name, r.report_id, r.count) for r in by_ip] == [
        ("google.com", "g-1", 100),
        ("Outlook.com", "o-2", 50),
        ("Outlook.com", "o-3", 30),
    ]
    assert by_ip[0].to_json()["auth_results"]["dkim"][0]["selector"] == "s1"
    forwarded = records(week, WEEK, receiver="hotmail.com")
    assert [(r.source_ip, r.envelope_to, r.disposition) for r in forwarded] == [
        ("203.0.113.99", "hotmail.com", "quarantine")
    ]
    assert len(records(week, WEEK, receiver="outlook.com", domain="platform.visma.com")) == 3
    assert records(week, WEEK, receiver="yahoo", limit=1)[0].header_from == "legacy.visma.example"


def test_what_a_receiver_reported_about_our_senders_last_week(week: sa.Engine) -> None:
    seen = receiver_observations(week, "outlook.com", OURS, today=dt.date(2025, 12, 7))
    assert [o.to_json() for o in seen] == [
        {
            "org_name": "Outlook.com",
            "header_from": "platform.visma.com",
            "source_ip": "203.0.113.99",
            "disposition": "quarantine",
            "dkim": "fail",
            "spf": "fail",
            "messages": 12,
        },
        {
            "org_name": "Outlook.com",
            "header_from": "platform.visma.com",
            "source_ip": "198.51.100.10",
            "disposition": "none",
            "dkim": "pass",
            "spf": "pass",
            "messages": 80,
        },
        {
            "org_name": "Outlook.com",
            "header_from": "connect.visma.com",
            "source_ip": "198.51.100.20",
            "disposition": "none",
            "dkim": "pass",
            "spf": "pass",
            "messages": 20,
        },
    ]
    # The seven days up to Dec 9 begin on Dec 3: only o-3 and o-9 fall in them.
    later = receiver_observations(week, "outlook.com", OURS, today=dt.date(2025, 12, 9))
    assert [(o.source_ip, o.messages) for o in later] == [("192.0.2.1", 999), ("198.51.100.10", 30)]
    assert receiver_observations(week, "gmail.com", OURS, today=dt.date(2025, 12, 7)) == []
