"""The mail administrator's page /check in process on the lab: the recipient and sender
evidence, the allowlisting steps, RCPT only for admins, bad input and the rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.maildiag.test_checklist_api import SENDERS, Lab, LabFiles, make_lab_files, open_lab

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory: pytest.TempPathFactory) -> LabFiles:
    return make_lab_files(tmp_path_factory.mktemp("check-lab"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_lab(
    lab_files: LabFiles, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Lab]:
    async with open_lab(lab_files, tmp_path_factory.mktemp("check-app")) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="module")
async def lab(shared_lab: Lab) -> Lab:
    await shared_lab.fresh()
    return shared_lab


async def test_form_names_both_senders(lab: Lab) -> None:
    response = await lab.client.get("/check")
    assert response.status_code == 200
    assert all(sender in response.text for sender in SENDERS)
    assert 'name="domain"' in response.text


async def test_blocking_domain(lab: Lab) -> None:
    response = await lab.client.get("/check", params={"domain": "kunde-blokkerer.example"})
    assert response.status_code == 200, response.text
    text = response.text
    assert "550" in text
    assert "5.7.1" in text
    assert "recipient.blocks_sender" in text
    assert all(sender in text for sender in SENDERS)


async def test_sender_evidence_for_both_identities(lab: Lab) -> None:
    response = await lab.client.get("/check", params={"domain": "kunde-ok.example"})
    assert response.status_code == 200
    evidence = response.text.split('class="sender-report"')[1].split("</section>")[0]
    for code in ("sender.spf_pass", "dkim.key_ok", "dmarc.policy_ok"):
        assert evidence.count(f"<code>{code}</code>") == 2, code
    assert all(sender in evidence for sender in SENDERS)
    assert "legacy.visma.example" not in evidence


async def test_null_mx_domain(lab: Lab) -> None:
    response = await lab.client.get("/check", params={"domain": "kunde-nullmx.example"})
    assert response.status_code == 200
    assert "recipient.can_receive" in response.text


async def test_domain_check_sends_no_rcpt(lab: Lab) -> None:
    response = await lab.client.get("/check", params={"domain": "kunde-ukjent.example"})
    assert response.status_code == 200
    assert "MAIL FROM:&lt;do.not.reply@platform.visma.com&gt;" in response.text
    assert "RCPT TO" not in response.text
    assert "5.1.1" not in response.text


async def test_address_without_admin_checks_the_domain(lab: Lab) -> None:
    lab.login("support@visma.example")
    response = await lab.client.get("/check", params={"domain": "kari@kunde-ukjent.example"})
    assert response.status_code == 200
    assert 'class="note"' in response.text
    assert "RCPT TO" not in response.text
    assert "5.1.1" not in response.text


async def test_address_with_admin_is_asked_by_rcpt(lab: Lab) -> None:
    lab.login("admin@visma.example")
    response = await lab.client.get("/check", params={"domain": "kari@kunde-ukjent.example"})
    assert response.status_code == 200
    assert 'class="note"' not in response.text
    assert "RCPT TO:&lt;kari@kunde-ukjent.example&gt;" in response.text
    assert "5.1.1" in response.text


@pytest.mark.parametrize(
    "domain", ["localhost", "a..example", "x" * 300, "<script>alert(1)</script>.example", "@x"]
)
async def test_bad_domain_is_400_and_escaped(lab: Lab, domain: str) -> None:
    response = await lab.client.get("/check", params={"domain": domain})
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert "<script>alert(1)" not in response.text


async def test_rate_limited_per_domain(lab_files: LabFiles, tmp_path: Path) -> None:
    async with open_lab(lab_files, tmp_path, rate_limit_per_address="1/minute") as lab:
        params = {"domain": "kunde-nullmx.example"}
        assert (await lab.client.get("/check", params=params)).status_code == 200
        over = await lab.client.get("/check", params={"domain": "KUNDE-NULLMX.example"})
        assert over.status_code == 429
        assert 'role="alert"' in over.text
        assert "retry-after" in over.headers
        other = await lab.client.get("/check", params={"domain": "kunde-ok.example"})
        assert other.status_code == 200
