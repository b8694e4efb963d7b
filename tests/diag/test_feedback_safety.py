"""Hostile and broken reports are refused with a reason code, never a crash: zip and gzip
bombs, nested archives, XML entities and DTDs, bad dates, missing fields, unknown formats.
A property test mutates real reports and their containers: ``extract`` never raises, and
``parse_report`` raises nothing but ReportRefused with a code from REASONS."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diag.feedback import (
    REASONS,
    Limits,
    ReportRefused,
    extract,
    parse_aggregate,
    parse_report,
    parse_tls,
)
from diag.feedback.values import ip_address
from tests.diag.feedback_samples import (
    aggregate_xml,
    gz,
    mail,
    mbox,
    record_xml,
    sample,
    zipped,
)
from tests.hostile_mail import nested_multipart

SMALL = Limits(max_report_bytes=64 * 1024, max_total_bytes=256 * 1024, max_members=4)


def refusal(data: bytes, limits: Limits = SMALL) -> ReportRefused:
    with pytest.raises(ReportRefused) as caught:
        parse_report(data, limits=limits)
    assert caught.value.reason in REASONS
    return caught.value


def test_gzip_bomb_is_refused_after_the_limit() -> None:
    bomb = gz(b"\0" * (10 * 1024 * 1024))  # 10 MiB of zeros in about 10 KiB
    assert len(bomb) < 20_000
    assert refusal(bomb).reason == "decompression_bomb"


def test_zip_bomb_is_refused_by_its_declared_and_its_real_size() -> None:
    bomb = zipped(("big.xml", b"<" + b" " * (8 * 1024 * 1024)))
    assert refusal(bomb).reason == "decompression_bomb"
    # A member that lies about its size: the declared size is patched down to 10 bytes in
    # both headers, and the real size still stops it.
    liar = bytearray(bomb)
    size = (8 * 1024 * 1024 + 1).to_bytes(4, "little")
    for at in [i for i in range(len(liar) - 4) if liar[i : i + 4] == size]:
        liar[at : at + 4] = (10).to_bytes(4, "little")
    found = list(extract(bytes(liar), limits=SMALL))
    assert [f.error.reason for f in found if f.error] in (
        ["decompression_bomb"],
        ["archive_corrupt"],
    )


def test_many_small_members_are_refused_by_the_total() -> None:
    members = [(f"m{i}.xml", b"<" + b" " * 60_000) for i in range(4)]
    found = list(
        extract(zipped(*members), limits=Limits(max_report_bytes=64_000, max_total_bytes=150_000))
    )
    assert found[-1].error is not None
    assert found[-1].error.reason == "decompression_bomb"


def test_too_many_members() -> None:
    members = [(f"m{i}.xml", aggregate_xml(report_id=str(i))) for i in range(5)]
    assert refusal(zipped(*members)).reason == "too_many_members"


def test_nested_archives_are_refused() -> None:
    xml = aggregate_xml()
    assert refusal(gz(gz(xml))).reason == "nested_archive"
    assert refusal(zipped(("inner.zip", zipped(("r.xml", xml))))).reason == "nested_archive"
    assert refusal(zipped(("r.xml.gz", gz(xml)))).reason == "nested_archive"
    assert refusal(mail(("application/gzip", "r.gz", gz(gz(xml))))).reason == "nested_archive"


def test_broken_archives() -> None:
    xml = aggregate_xml()
    assert refusal(gz(xml)[:-12]).reason == "archive_corrupt"
    assert refusal(gz(xml) + b"trailing").reason == "archive_corrupt"
    assert refusal(b"PK\x03\x04" + b"\0" * 40).reason == "archive_corrupt"
    assert refusal(zipped(("r.xml", xml), encrypted=True)).reason == "archive_encrypted"
    assert refusal(zipped()).reason == "no_report"  # an archive with no member at all


def test_multi_member_gzip_is_one_stream() -> None:
    xml = aggregate_xml()
    assert parse_report(gz(xml[:40]) + gz(xml[40:])) == parse_aggregate(xml)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE feedback SYSTEM "http://192.0.2.1/evil.dtd">
<feedback/>"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_doctype_entities_and_external_references_are_refused(xml: bytes) -> None:
    assert refusal(xml).reason == "xml_dtd"
    assert refusal(gz(xml)).reason == "xml_dtd"


def test_undeclared_entity_and_malformed_xml() -> None:
    assert refusal(b"<feedback>&xxe;</feedback>").reason == "xml_malformed"
    assert refusal(b"<feedback><report_metadata></feedback>").reason == "xml_malformed"


@pytest.mark.parametrize(
    ("begin", "end", "detail"),
    [
        ("1764979199", "1764892800", "the range ends before it begins"),
        ("yesterday", "1764892800", "feedback/report_metadata/date_range/begin 'yesterday'"),
        ("", "1764892800", "feedback/report_metadata/date_range/begin is missing"),
        ("100", "200", "feedback/report_metadata/date_range/begin 1970-01-01T00:01:40+00:00"),
        ("1764892800", "99999999999", "feedback/report_metadata/date_range/end '99999999999'"),
        ("-5", "1764892800", "feedback/report_metadata/date_range/begin '-5'"),
    ],
)
def test_bad_aggregate_dates(begin: str, end: str, detail: str) -> None:
    error = refusal(aggregate_xml(begin=begin, end=end))
    assert (error.reason, error.detail) == ("bad_date", detail)


def _tls(**changes: object) -> bytes:
    document = json.loads(sample("tlsrpt-rfc8460.json"))
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = document
        for parent in parents:
            node = node[int(parent)] if parent.isdigit() else node[parent.replace("_", "-")]
        node[key.replace("_", "-")] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"date_range__start_datetime": "2025-13-01T00:00:00Z"}, "bad_date"),
        ({"date_range__end_datetime": "2025-12-01T00:00:00Z"}, "bad_date"),
        ({"date_range__start_datetime": 1764892800}, "bad_value"),
        ({"report_id": ""}, "missing_field"),
        ({"organization_name": None}, "missing_field"),
        ({"policies__0__summary": None}, "missing_field"),
        ({"policies__0__policy__policy_type": "ftp"}, "bad_value"),
        ({"policies__0__summary__total_failure_session_count": -1}, "bad_value"),
        ({"policies__0__summary__total_failure_session_count": "12"}, "bad_value"),
        ({"policies__0__failure_details__0__sending_mta_ip": "999.1.1.1"}, "bad_value"),
        ({"policies__0__failure_details__0__result_type": "Bad Type!"}, "bad_value"),
        ({"policies": {"a": 1}}, "bad_value"),
    ],
)
def test_bad_tls_reports(changes: dict[str, object], reason: str) -> None:
    assert refusal(_tls(**changes)).reason == reason


@pytest.mark.parametrize("text", ["1.2.3.4\x00", "01.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4/24"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ReportRefused) as caught:
        ip_address(text, "source_ip")
    assert caught.value.reason == "bad_value"


def test_addresses_in_canonical_form() -> None:
    assert ip_address(" 192.0.2.1 ", "ip") == "192.0.2.1"
    assert ip_address("2001:DB8:0:0::1", "ip") == "2001:db8::1"
    assert ip_address("::ffff:192.0.2.1", "ip") == "::ffff:c000:201"


def test_tls_strings_become_safe_to_store() -> None:
    report = parse_tls(_tls(organization_name="Org\u0000\ud800"))
    assert report.org_name == "Org\ufffd\ufffd"


@pytest.mark.parametrize(
    ("xml", "reason", "detail"),
    [
        (aggregate_xml(org=""), "missing_field", "feedback/report_metadata/org_name"),
        (aggregate_xml(records=""), "missing_field", "feedback/record"),
        (aggregate_xml(policy="<p>none</p>"), "missing_field", "feedback/policy_published/domain"),
        (
            aggregate_xml(records=record_xml(ip="not-an-ip")),
            "bad_value",
            "feedback/record/row/source_ip 'not-an-ip'",
        ),
        (
            aggregate_xml(records=record_xml(count="many")),
            "bad_value",
            "feedback/record/row/count is not a count",
        ),
        (
            aggregate_xml(records=record_xml(disposition="drop")),
            "bad_value",
            "feedback/record/row/policy_evaluated/disposition 'drop'",
        ),
        (
            aggregate_xml(records=record_xml(header_from="")),
            "missing_field",
            "feedback/record/identifiers/header_from",
        ),
        (
            aggregate_xml(org="x" * 300),
            "bad_value",
            "feedback/report_metadata/org_name is longer than 255",
        ),
    ],
)
def test_missing_fields_and_bad_values(xml: bytes, reason: str, detail: str) -> None:
    error = refusal(xml)
    assert (error.reason, error.detail) == (reason, detail)


def test_too_many_records() -> None:
    xml = aggregate_xml(records=record_xml() * 5)
    assert refusal(xml, Limits(max_records=4)).reason == "too_many_records"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello world", "unknown_format"),
        (b"<html><body/></html>", "unknown_format"),
        (b'{"some": "json"}', "unknown_format"),
        (b"[1, 2, 3]", "unknown_format"),
        (b'{"policies": [' * 100_000, "json_malformed"),
        (b"\xff\xfe\x00\x00junk", "xml_malformed"),
        (b'<?xml version="1.0" encoding="ETF-8"?><feedback/>', "xml_malformed"),
        (b"Subject: hello\r\n\r\nno report here\r\n", "no_report"),
        (zipped(("readme.txt", b"nothing")), "unknown_format"),
    ],
)
def test_unknown_formats_and_empty_containers(data: bytes, reason: str) -> None:
    assert refusal(data).reason == reason


def test_input_size_and_report_count_limits() -> None:
    xml = aggregate_xml()
    assert refusal(xml, Limits(max_input_bytes=100)).reason == "too_large"
    box = mbox(*(mail(("text/xml", "r.xml", xml)) for _ in range(3)))
    found = list(extract(box, limits=Limits(max_reports=2)))
    assert [f.error.reason for f in found if f.error] == ["too_many_reports"]


def test_an_abuse_report_is_not_a_failure_report() -> None:
    raw = sample("failure-rfc6591.eml").replace(
        b"Feedback-Type: auth-failure", b"Feedback-Type: abuse"
    )
    assert refusal(raw).reason == "unsupported_feedback_type"


def test_failure_report_with_a_bad_date_or_address() -> None:
    raw = sample("failure-rfc6591.eml")
    bad_date = raw.replace(b"Arrival-Date: Fri, 05 Dec 2025 14:17:00 +0000", b"Arrival-Date: soon")
    assert refusal(bad_date).reason == "bad_date"
    bad_ip = raw.replace(b"Source-IP: 192.0.2.66", b"Source-IP: 192.0.2")
    assert refusal(bad_ip).reason == "bad_value"


def test_mime_nesting_is_capped() -> None:
    assert refusal(b"Subject: x\r\n" + nested_multipart(100)).reason == "mime_structure"


# -- the property: whatever the bytes, a value or a ReportRefused ---------------------------

SEEDS = [
    sample("google.xml"),
    sample("rfc9990.xml"),
    sample("tlsrpt-rfc8460.json"),
    sample("failure-rfc6591.eml"),
    sample("aggregate-microsoft.eml"),
    gz(sample("yahoo.xml")),
    zipped(("a.xml", sample("microsoft.xml")), ("b.json", sample("tlsrpt-google.json"))),
    mbox(mail(("application/gzip", "r.xml.gz", gz(aggregate_xml())))),
]


WRAPPERS = (
    lambda data: data,
    gz,
    lambda data: zipped(("r.xml", data)),
    lambda data: mail(("application/gzip", "r.xml.gz", gz(data))),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete", "repeat"]))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(
                st.sampled_from(
                    [b"<", b">", b"&", b"\0", b"\xff", b"{", b'"', b"]]>", b"-->", b"\r\n"]
                )
                | st.binary(max_size=8)
            )
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 256))]
    wrap = draw(st.sampled_from(WRAPPERS))
    return wrap(bytes(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_reports_never_crash(data: bytes) -> None:
    for found in extract(data, limits=SMALL):
        assert (found.report is None) != (found.error is None)
        if found.error is not None:
            assert found.error.reason in REASONS
    try:
        parse_report(data, limits=SMALL)
    except ReportRefused as error:
        refused = error.reason
    else:
        refused = None
    assert refused is None or refused in REASONS


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    for prefix in (b"", b"\x1f\x8b", b"PK\x03\x04", b"<feedback>", b"{", b"From: a@b\r\n"):
        for found in extract(prefix + data, limits=SMALL):
            assert (found.report is None) != (found.error is None)


def test_zlib_level_bombs_stay_cheap() -> None:
    """A raw deflate stream of 100 MiB inside a gzip header is stopped at the limit."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = compressor.compress(b"\0" * (100 * 1024 * 1024)) + compressor.flush()
    assert refusal(bomb).reason == "decompression_bomb"
