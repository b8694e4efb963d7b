"""DMARC aggregate, failure and SMTP TLS reports from hand-written samples (Google, Microsoft,
Yahoo, RFC 9990, RFC 8460, RFC 6591) and the containers they arrive in."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from diag.feedback import (
    AggregateReport,
    DkimResult,
    FailureReport,
    OverrideReason,
    ReportRefused,
    SpfResult,
    TlsReport,
    extract,
    parse_aggregate,
    parse_report,
    parse_tls,
)
from tests.diag.feedback_samples import aggregate_xml, gz, mail, mbox, record_xml, sample, zipped

DEC_5 = dt.datetime(2025, 12, 5, tzinfo=dt.UTC)


def test_google_aggregate_report() -> None:
    report = parse_aggregate(sample("google.xml"))
    assert report.identity == ("google.com", "11029384756473829105")
    assert (report.begin, report.end) == (DEC_5, DEC_5 + dt.timedelta(seconds=86399))
    assert report.extra_contact_info == "https://support.google.com/a/answer/2466580"
    assert (report.policy.domain, report.policy.p, report.policy.np, report.policy.pct) == (
        "platform.visma.com",
        "reject",
        "reject",
        100,
    )
    first, spoof = report.records
    assert (first.source_ip, first.count, first.disposition) == ("198.51.100.10", 412, "none")
    assert first.envelope_from is None  # Google gives header_from only
    assert first.dkim_results == (DkimResult("platform.visma.com", "reset2026", "pass"),)
    assert first.spf_results == (SpfResult("bounce.visma.example", None, "pass"),)
    assert (spoof.disposition, spoof.dkim, spoof.spf, spoof.dkim_results) == (
        "reject",
        "fail",
        "fail",
        (),
    )
    assert report.schema == "rfc7489"


def test_microsoft_aggregate_report_with_envelope_to_scope_and_override_reason() -> None:
    report = parse_aggregate(sample("microsoft.xml"))
    assert report.identity == ("Outlook.com", "6b3ac2a0e1d94f8e9c1f0a2b3c4d5e6f")
    assert report.version == "1.0"
    assert report.policy.fo == "1"
    _ok, forwarded = report.records
    assert forwarded.source_ip == "2001:db8:5100::25"
    assert (forwarded.envelope_to, forwarded.envelope_from) == (
        "hotmail.com",
        "lists.kunde-ok.example",
    )
    assert forwarded.reasons == (OverrideReason("local_policy", "arc=fail"),)
    assert forwarded.spf_results == (SpfResult("lists.kunde-ok.example", "mfrom", "softfail"),)
    summary = report.summary()
    assert summary.dispositions == {"none": 57, "quarantine": 12, "reject": 0}
    assert (summary.dkim_aligned, summary.spf_aligned, summary.message_count) == (57, 57, 69)


def test_yahoo_aggregate_report_without_sp() -> None:
    report = parse_aggregate(sample("yahoo.xml"))
    assert report.identity == ("Yahoo", "1764892800.583920")
    assert report.policy.sp is None
    (record,) = report.records
    assert record.dkim_results == (DkimResult("legacy.visma.example", "legacy", "permerror"),)


def test_rfc9990_report_in_its_namespace_with_extensions_skipped() -> None:
    report = parse_aggregate(sample("rfc9990.xml"))
    assert report.schema == "rfc9990"
    assert report.generator == "Example DMARC reporter 2.1"
    assert report.errors == ("rua: the size limit is ignored",)
    assert (report.policy.discovery_method, report.policy.testing, report.policy.np) == (
        "treewalk",
        "n",
        "reject",
    )
    passed, tested = report.records
    assert passed.disposition == "pass"
    assert passed.counted_disposition == "none"
    assert passed.dkim_results[0].human_result == "good signature"
    assert tested.envelope_from is None  # present but empty: a null reverse-path
    assert tested.reasons == (OverrideReason("policy_test_mode"),)
    assert report.summary().dispositions == {"none": 127, "quarantine": 0, "reject": 0}


def test_legacy_result_words_are_read_as_rfc8601_results() -> None:
    xml = aggregate_xml(records=record_xml(spf="unknown", dkim="error"))
    (record,) = parse_aggregate(xml).records
    assert (record.spf, record.dkim) == ("temperror", "permerror")


def test_an_empty_dkim_entry_for_an_unsigned_message_is_skipped() -> None:
    unsigned = "<dkim><domain></domain><result>none</result></dkim>"
    xml = aggregate_xml(records=record_xml().replace("<auth_results>", f"<auth_results>{unsigned}"))
    (record,) = parse_aggregate(xml).records
    assert [d.domain for d in record.dkim_results] == ["platform.visma.com"]
    broken = "<dkim><domain></domain><result>fail</result></dkim>"
    with pytest.raises(ReportRefused) as caught:
        parse_aggregate(
            aggregate_xml(records=record_xml().replace("<auth_results>", f"<auth_results>{broken}"))
        )
    assert caught.value.detail == "feedback/record/auth_results/dkim/domain"


def test_tls_report_from_rfc8460() -> None:
    report = parse_tls(sample("tlsrpt-rfc8460.json"))
    assert report.identity == ("Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be")
    (policy,) = report.policies
    assert (policy.policy_type, policy.policy_domain) == ("sts", "platform.visma.com")
    assert policy.mx_hosts == ("*.mail.visma.example",)
    assert [(f.result_type, f.failed_session_count) for f in policy.failures] == [
        ("certificate-expired", 100),
        ("starttls-not-supported", 200),
        ("validation-failure", 3),
    ]
    assert policy.failures[0].sending_mta_ip == "2001:db8:abcd:12::1"
    assert policy.failures[2].failure_reason_code == "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
    summary = report.summary().to_json()
    assert summary["total_successful_session_count"] == 5326
    assert summary["total_failure_session_count"] == 303
    assert summary["result_types"] == {
        "certificate-expired": 100,
        "starttls-not-supported": 200,
        "validation-failure": 3,
    }


def test_google_tls_report_without_failures() -> None:
    report = parse_tls(sample("tlsrpt-google.json"))
    assert report.policies[0].policy_type == "no-policy-found"
    assert report.summary().result_types == {}


def test_failure_report_from_rfc6591() -> None:
    report = parse_report(sample("failure-rfc6591.eml"))
    assert isinstance(report, FailureReport)
    assert report.identity == (
        "mail.receiver.example",
        "433689.81121.example@mail.receiver.example",
    )
    assert report.arrival_date == dt.datetime(2025, 12, 5, 14, 17, tzinfo=dt.UTC)
    assert (report.source_ip, report.reported_domain) == ("192.0.2.66", "platform.visma.com")
    assert report.auth_failure == ("dmarc",)
    assert report.delivery_result == "reject"
    assert report.original_rcpt_to == ("<kari@kunde-spam.example>",)
    assert ("Subject", "Tilbakestill passordet ditt") in report.original_headers
    assert "dmarc=fail header.from=platform.visma.com" in report.authentication_results[0]


def test_failure_report_without_message_id_gets_a_stable_digest() -> None:
    raw = sample("failure-rfc6591.eml").replace(b"Message-ID: <433689", b"X-Old-ID: <433689")
    first, second = parse_report(raw), parse_report(raw)
    assert first.report_id == second.report_id
    assert first.report_id.startswith("sha256:")


@pytest.mark.parametrize(
    ("name", "kind", "where"),
    [
        ("aggregate-google.eml", "aggregate", "zip"),
        ("aggregate-microsoft.eml", "aggregate", "xml.gz"),
        ("tlsrpt.eml", "tls", "json.gz"),
    ],
)
def test_report_mails(name: str, kind: str, where: str) -> None:
    (found,) = extract(sample(name))
    assert found.error is None
    assert found.report is not None
    assert found.report.kind == kind
    assert where in found.where


def test_every_container_gives_the_same_report() -> None:
    xml = sample("microsoft.xml")
    expected = parse_aggregate(xml)
    containers = [
        xml,
        gz(xml),
        zipped(("report.xml", xml)),
        mail(("application/gzip", "r.xml.gz", gz(xml))),
        mail(("text/xml", "r.xml", xml)),
        mail(("application/octet-stream", "r.zip", zipped(("r.xml", xml)))),
        mbox(mail(("application/gzip", "r.xml.gz", gz(xml)))),
    ]
    for data in containers:
        assert parse_report(data) == expected


def test_json_gz_and_tlsrpt_media_types() -> None:
    data = sample("tlsrpt-rfc8460.json")
    assert isinstance(parse_report(gz(data)), TlsReport)
    assert isinstance(parse_report(mail(("application/tlsrpt+json", "r.json", data))), TlsReport)


def test_zip_with_several_members_and_mbox_with_several_messages() -> None:
    one = aggregate_xml(report_id="a")
    two = aggregate_xml(report_id="b")
    found = list(
        extract(zipped(("a.xml", one), ("b.xml", two), ("c.json", sample("tlsrpt-google.json"))))
    )
    assert [f.report.report_id for f in found if f.report] == [
        "a",
        "b",
        "2025-12-05T00:00:00Z_connect.visma.com",
    ]
    box = mbox(mail(("text/xml", "a.xml", one)), mail(("text/xml", "b.xml", two)))
    assert [f.where for f in extract(box)] == [
        "message 1, part 3 (a.xml)",
        "message 2, part 3 (b.xml)",
    ]


def test_one_bad_report_in_an_mbox_loses_nothing_else() -> None:
    good = mail(("text/xml", "a.xml", aggregate_xml(report_id="a")))
    bad = mail(("text/xml", "b.xml", aggregate_xml(report_id="")))
    found = list(extract(mbox(good, bad, good.replace(b"a.xml", b"c.xml"))))
    assert [f.report is not None for f in found] == [True, False, True]
    assert found[1].error is not None
    assert (found[1].error.reason, found[1].error.detail) == (
        "missing_field",
        "feedback/report_metadata/report_id",
    )
    assert found[1].where == "message 2, part 3 (b.xml)"


def test_aggregate_report_as_a_single_part_mail() -> None:
    xml = aggregate_xml()
    body = (
        b"From: r@receiver.example\r\nContent-Type: application/gzip\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    assert parse_report(body + base64.encodebytes(gz(xml))) == parse_aggregate(xml)


def test_summary_json_has_the_design_keys() -> None:
    aggregate = parse_aggregate(sample("google.xml")).summary().to_json()
    assert {
        "report_id",
        "org_name",
        "kind",
        "record_count",
        "message_count",
        "dispositions",
        "dkim_aligned",
        "spf_aligned",
    } <= set(aggregate)
    assert set(aggregate["dispositions"]) == {"none", "quarantine", "reject"}
    assert isinstance(parse_aggregate(sample("google.xml")), AggregateReport)
