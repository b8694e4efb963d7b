"""The receivers' reports on the web, in process on the lab with its week of demo reports:
who may see ``/reports``, its drill-down and the JSON under ``/api/v1/reports``, who may
upload, what an upload keeps, and the checklist's evidence from the receiver's reports."""

from __future__ import annotations

import datetime as dt
import gzip
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa

from maildiag.feedback import models
from maildiag.lab.feedback import FORWARDER, SPOOFER, seed_lab_reports
from maildiag.web.routes import reports_api
from tests.diag.feedback_samples import aggregate_xml, record_xml
from tests.maildiag.test_checklist_api import Lab, LabFiles, make_lab_files, open_lab

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("reports-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_lab(
    lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("reports-app")) as opened:
        engine = opened.app.state.maildiag.reset.engine
        seed_lab_reports(engine)
        yield opened


@pytest_asyncio.fixture(loop_scope="module")
async def lab(shared_lab: Lab) -> Lab:
    await shared_lab.fresh()
    return shared_lab


def _engine(lab: Lab) -> sa.Engine:
    engine: sa.Engine = lab.app.state.maildiag.reset.engine
    return engine


async def test_the_page_sends_the_anonymous_to_sign_in_and_refuses_users(lab: Lab) -> None:
    response = await lab.client.get("/reports?days=7")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Freports%3Fdays%3D7"
    lab.login("kari@kunde-ok.example")
    assert (await lab.client.get("/reports")).status_code == 403
    assert (await lab.client.get("/reports/records?source_ip=192.0.2.66")).status_code == 403


@pytest.mark.parametrize("role", ["support@visma.example", "admin@visma.example"])
async def test_staff_see_the_lab_week(lab: Lab, role: str) -> None:
    lab.login(role)
    response = await lab.client.get("/reports?domain=platform.visma.com&lang=en")
    assert response.status_code == 200, response.text
    page = response.text
    assert response.headers["cache-control"] == "no-store"
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in page
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in page
    assert page.count("<tr><td>20") == 7  # one row per day of the week
    # the spoofer and the forwarder are marked as not ours, with links to their records
    assert f"source_ip={SPOOFER}" in page
    assert f"source_ip={FORWARDER}" in page
    spoofer_row = re.search(rf'<tr class="severity-warning"><td><a [^>]*>{SPOOFER}</a>', page)
    assert spoofer_row, "the spoofer's row is not marked"
    assert "receiver=kunde-spam.example" in page  # quarantined by local policy
    assert "receiver=kunde-ok.example" in page  # rejected the spoofer


async def test_the_page_picks_the_busiest_domain_and_shows_tls_failures(lab: Lab) -> None:
    lab.login("support@visma.example")
    page = (await lab.client.get("/reports?domain=connect.visma.com&days=14")).text
    assert "certificate-host-mismatch" in page
    assert "mx.connect.visma.com" in page
    first = (await lab.client.get("/reports")).text
    assert re.search(r'<option value="[^"]+" selected>', first)


async def test_bad_query_values_get_400_with_a_reason(lab: Lab) -> None:
    lab.login("support@visma.example")
    assert (await lab.client.get("/reports?days=5")).status_code == 400
    assert (await lab.client.get("/reports?domain=a%20b")).status_code == 400
    response = await lab.client.get("/reports/records?source_ip=not-an-ip&lang=en")
    assert response.status_code == 400
    assert "not an IP address" in response.text


async def test_drill_down_from_a_source_ip_and_from_a_receiver(lab: Lab) -> None:
    lab.login("support@visma.example")
    page = (await lab.client.get(f"/reports/records?source_ip={SPOOFER}&lang=en")).text
    cells = re.findall(
        r"<tr[^>]*><td>(\d{4}-\d\d-\d\d)</td><td>([^<]+)</td><td>([^<]+)</td>"
        r"<td>([^<]+)</td>",
        page,
    )
    assert cells
    assert {c[3] for c in cells} == {SPOOFER}
    assert {c[1] for c in cells} == {"kunde-ok.example", "kunde-greylist.example"}
    assert "Rejected" in page
    spam = (await lab.client.get("/reports/records?receiver=kunde-spam.example&lang=en")).text
    assert "Quarantined" in spam
    assert "Delivered" not in spam


async def test_the_json_api_answers_staff_only(lab: Lab) -> None:
    assert (await lab.client.get("/api/v1/reports/domains")).status_code == 401
    lab.login("kari@kunde-ok.example")
    assert (await lab.client.get("/api/v1/reports/domains")).status_code == 403
    lab.login("support@visma.example")
    listed = (await lab.client.get("/api/v1/reports/domains?days=7")).json()
    assert {d["domain"] for d in listed["domains"]} == {
        "platform.visma.com",
        "connect.visma.com",
        "legacy.visma.example",
    }
    legacy = (await lab.client.get("/api/v1/reports/domains/legacy.visma.example")).json()
    assert legacy["total"]["dkim_pass"] == 0
    assert legacy["total"]["messages"] > 0
    assert legacy["total"]["dispositions"]["quarantine"] == legacy["total"]["messages"]
    platform = (await lab.client.get("/api/v1/reports/domains/platform.visma.com")).json()
    sources = {s["ip"]: s for s in platform["sources"]}
    assert sources["198.51.100.10"]["ours"] is True
    assert sources[SPOOFER]["ours"] is False
    assert sources[SPOOFER]["dispositions"]["reject"] == sources[SPOOFER]["messages"]
    assert sources[FORWARDER]["spf_pass"] == 0
    assert sources[FORWARDER]["dmarc_pass"] == sources[FORWARDER]["messages"]
    assert len(platform["days"]) == 7
    records = (await lab.client.get(f"/api/v1/reports/records?source_ip={FORWARDER}")).json()
    assert records["records"]
    assert {r["spf"] for r in records["records"]} == {"fail"}
    bad = await lab.client.get("/api/v1/reports/records?receiver=a%07b")
    assert bad.status_code == 422


def _upload_headers(kind: str = "application/xml") -> dict[str, str]:
    return {"content-type": kind}


async def test_only_admins_upload(lab: Lab) -> None:
    body = aggregate_xml(report_id="api-1")
    assert (await lab.client.post("/api/v1/reports", content=body)).status_code == 401
    lab.login("support@visma.example")
    response = await lab.client.post("/api/v1/reports", content=body, headers=_upload_headers())
    assert response.status_code == 403


async def test_an_upload_is_stored_once_and_a_bad_one_kept_with_its_reason(lab: Lab) -> None:
    lab.login("admin@visma.example")
    body = gzip.compress(aggregate_xml(report_id="api-2", records=record_xml(count="9")))
    url = "/api/v1/reports?name=report.xml.gz"
    first = await lab.client.post(url, content=body, headers=_upload_headers("application/gzip"))
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 1
    assert first.json()["reports"][0]["message_count"] == 9
    again = await lab.client.post(url, content=body, headers=_upload_headers("application/gzip"))
    assert again.json()["duplicate"] == 1
    assert again.json()["accepted"] == 0
    bad = await lab.client.post(
        "/api/v1/reports?name=bad.xml", content=b"<feedback><x", headers=_upload_headers()
    )
    assert bad.status_code == 200
    assert bad.json()["rejected"] == 1
    assert bad.json()["reasons"] == {"xml_malformed": 1}
    with _engine(lab).connect() as connection:
        kept = connection.execute(
            sa.select(models.rejected.c.source, models.rejected.c.reason)
        ).all()
    assert ("api:bad.xml", "xml_malformed") in kept


async def test_an_upload_must_be_a_file_type_and_within_the_limit(lab: Lab) -> None:
    lab.login("admin@visma.example")
    body = aggregate_xml(report_id="api-3")
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        refused = await lab.client.post(
            "/api/v1/reports", content=body, headers={"content-type": kind}
        )
        assert refused.status_code == 415
    too_big = await lab.client.post(
        "/api/v1/reports",
        content=b"x",
        headers={
            "content-type": "application/zip",
            "content-length": str(reports_api.UPLOAD_LIMIT + 1),
        },
    )
    assert too_big.status_code == 413


async def test_the_support_checklist_cites_the_receivers_reports(lab: Lab) -> None:
    lab.login("support@visma.example")
    body = {"address": "kari@kunde-spam.example", "audience": "support", "lang": "en"}
    checklist = (await lab.client.post("/api/v1/checklist", json=body)).json()
    item = next(i for i in checklist["items"] if i["key"] == "sender.authentication")
    reported = item["evidence"]["receiver_reports"]
    assert reported
    assert {r["reporter"] for r in reported} == {"kunde-spam.example"}
    assert {r["disposition"] for r in reported} == {"quarantine"}
    assert all(r["ours"] for r in reported)
    assert item["status"] == "ok"  # DMARC passed: the quarantine is the spam item's matter
    self_body = {**body, "audience": "self"}
    own = (await lab.client.post("/api/v1/checklist", json=self_body)).json()
    item = next(i for i in own["items"] if i["key"] == "sender.authentication")
    assert "receiver_reports" not in item["evidence"]


async def test_the_check_page_shows_receiver_reports_to_staff_only(lab: Lab) -> None:
    anonymous = (await lab.client.get("/check?domain=kunde-ok.example&lang=en")).text
    assert "reported" not in anonymous
    lab.login("support@visma.example")
    page = (await lab.client.get("/check?domain=kunde-ok.example&lang=en")).text
    assert "kunde-ok.example reported" in page
    assert f"from {SPOOFER} (not our IP) with DKIM fail, SPF fail; disposition reject" in page


async def test_a_domain_nobody_reported_on_says_so(lab: Lab) -> None:
    lab.login("admin@visma.example")
    response = await lab.client.get("/reports?domain=nobody.example&lang=en")
    assert response.status_code == 200
    assert "No mail reported in the period." in response.text
    assert "<svg" not in response.text
    assert '<option value="nobody.example" selected>' in response.text


async def test_admins_see_the_refused_files_and_support_does_not(lab: Lab) -> None:
    lab.login("admin@visma.example")
    hostile = "<script>alert(1)</script>.xml"
    await lab.client.post(
        "/api/v1/reports",
        params={"name": hostile},
        content=b"<!DOCTYPE x><feedback/>",
        headers=_upload_headers(),
    )
    page = (await lab.client.get("/reports?lang=en")).text
    assert 'id="rejected-uploads"' in page
    assert "XML with a document type declaration (DTD)" in page
    assert "<script>alert(1)</script>" not in page
    assert "api:&lt;script&gt;alert(1)&lt;/script&gt;.xml" in page
    listed = (await lab.client.get("/api/v1/reports/rejected")).json()["rejected"]
    assert listed[0]["source"] == f"api:{hostile}"
    assert listed[0]["reason"] == "xml_dtd"
    lab.login("support@visma.example")
    assert 'id="rejected-uploads"' not in (await lab.client.get("/reports")).text
    assert (await lab.client.get("/api/v1/reports/rejected")).status_code == 403


async def test_a_receiver_named_by_its_reporter_name_has_its_records(lab: Lab) -> None:
    lab.login("admin@visma.example")
    start = int(dt.datetime.now(dt.UTC).timestamp()) // 86400 * 86400 - 86400  # yesterday
    body = aggregate_xml(
        org="Enterprise Outlook",
        report_id="eo-1",
        begin=str(start),
        end=str(start + 86399),
        records=record_xml(count="7"),
    )
    answer = await lab.client.post("/api/v1/reports", content=body, headers=_upload_headers())
    assert answer.json()["accepted"] == 1
    day = answer.json()["reports"][0]["begin"][:10]
    query = {"receiver": "Enterprise Outlook", "days": "90", "lang": "en"}
    page = await lab.client.get("/reports/records", params=query)
    assert page.status_code == 200, page.text
    found = (await lab.client.get("/api/v1/reports/records", params=query)).json()["records"]
    assert [(r["org_name"], r["count"], r["day"]) for r in found] == [
        ("Enterprise Outlook", 7, day)
    ]
