"""The recipient's transport security in ``/check``, its JSON and the support checklist, on
the lab: kunde-ok.example publishes MTA-STS and TLS-RPT (the policy is never fetched in the
lab), kunde-greylist.example TLS-RPT only; the self-service checklist does not look."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.maildiag.test_checklist_api import (
    Lab,
    LabFiles,
    items_of,
    make_lab_files,
    open_lab,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

OK_CODES = ["mta_sts.policy_not_fetched", "tlsrpt.ok", "dane.none"]


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("transport-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lab(lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("transport-app")) as opened:
        yield opened


@pytest.mark.parametrize(
    ("domain", "codes", "tlsrpt"),
    [
        ("kunde-ok.example", OK_CODES, "v=TLSRPTv1; rua=mailto:tls-reports@kunde-ok.example"),
        (
            "kunde-greylist.example",
            ["mta_sts.none", "tlsrpt.ok", "dane.none"],
            "v=TLSRPTv1; rua=mailto:tlsrpt@kunde-greylist.example",
        ),
    ],
)
async def test_the_check_json_carries_the_transport_evidence(
    lab: Lab, domain: str, codes: list[str], tlsrpt: str
) -> None:
    response = await lab.client.get("/api/v1/check", params={"domain": domain})
    assert response.status_code == 200, response.text
    item = items_of(response.json())["recipient.can_receive"]
    assert item["status"] == "ok"
    transport = item["evidence"]["transport"]
    assert transport["codes"] == codes
    assert transport["tlsrpt"] == tlsrpt


async def test_a_domain_without_mail_servers_has_no_transport_evidence(lab: Lab) -> None:
    response = await lab.client.get("/api/v1/check", params={"domain": "kunde-nullmx.example"})
    item = items_of(response.json())["recipient.can_receive"]
    assert item["status"] == "problem"
    assert "transport" not in item["evidence"]


async def test_the_check_page_shows_the_records(lab: Lab) -> None:
    page = await lab.client.get("/check", params={"domain": "kunde-ok.example", "lang": "en"})
    assert page.status_code == 200
    assert "MTA-STS" in page.text
    assert "v=STSv1; id=20260101T000000" in page.text
    assert "DANE (TLSA) for" in page.text


async def test_the_support_checklist_has_it_and_the_self_checklist_does_not(lab: Lab) -> None:
    body = {"address": "kari@kunde-ok.example"}
    mine = await lab.client.post("/api/v1/checklist", json={**body, "audience": "self"})
    assert "transport" not in items_of(mine.json())["recipient.can_receive"]["evidence"]
    lab.login("support@visma.example")
    staff = await lab.client.post("/api/v1/checklist", json={**body, "audience": "support"})
    assert staff.status_code == 200, staff.text
    evidence = items_of(staff.json())["recipient.can_receive"]["evidence"]
    assert evidence["transport"]["codes"] == [*OK_CODES, "tls.name_mismatch"]  # it probes


async def test_an_admin_check_judges_the_probe_starttls(lab: Lab) -> None:
    lab.login("admin@visma.example")  # the SMTP probe needs an admin
    response = await lab.client.get("/api/v1/check", params={"domain": "kunde-greylist.example"})
    assert response.status_code == 200, response.text
    item = items_of(response.json())["recipient.can_receive"]
    tls = item["evidence"]["transport"]["starttls"]
    assert tls["established"] is True
    assert tls["version"].startswith("TLSv1.")
    assert "name_mismatch" in tls["problems"]  # the lab sink's own certificate
    assert item["status"] == "ok"  # opportunistic TLS: a weak certificate blocks nothing
    page = await lab.client.get("/check", params={"domain": "kunde-greylist.example", "lang": "en"})
    assert "STARTTLS" in page.text
    assert tls["version"] in page.text


async def test_without_a_probe_there_is_no_starttls(lab: Lab) -> None:
    lab.client.cookies.clear()
    response = await lab.client.get("/api/v1/check", params={"domain": "kunde-sprett.example"})
    transport = items_of(response.json())["recipient.can_receive"]["evidence"]["transport"]
    assert transport["starttls"] is None
