"""After a real reset request in the lab, the support checklist for kunde-spam, kunde-blokkerer
and kunde-sprett says one thing: its summary counts its items, the items cite what the service
saw of its own mail, and the test send (to the address under check) agrees with them."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from maildiag.lab.kit import LAB_PASSWORD
from tests.browser.conftest import SPRETT_BOUNCE_DELAY, LabProcess
from tests.browser.test_reset_flow import _request_reset

pytestmark = pytest.mark.browser


def _sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/help/no-email?lang=en")  # the language cookie
    page.goto(f"{base}/login?next=/support")
    page.get_by_label("E-mail address", exact=True).fill("support@visma.example")
    page.get_by_label("Password", exact=True).fill(LAB_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/support*")


def _checklist(page: Any, base: str, address: str) -> dict[str, str]:
    page.goto(f"{base}/support?address={address}")
    page.get_by_role("button", name="Run the checklist").click()
    page.locator(".checklist-items").wait_for()
    items = page.locator(".checklist-items > li.item")
    return {
        items.nth(i).get_attribute("data-key"): items.nth(i).get_attribute("data-status")
        for i in range(items.count())
    }


def _summary_agrees(page: Any, statuses: dict[str, str]) -> str:
    summary = page.locator(".checklist-summary").inner_text()
    problems = sum(1 for s in statuses.values() if s == "problem")
    warnings = sum(1 for s in statuses.values() if s == "warning")
    if problems:
        assert f"Problems: {problems}." in summary
        assert f"Warnings: {warnings}." in summary
    else:
        assert summary.strip() != "No problems found."
    return summary


def _step(page: Any, key: str) -> str:
    return str(page.locator(f'[data-key="{key}"] .next-step').inner_text())


def _test_sends(page: Any) -> list[str]:
    return [str(t) for t in page.locator(".testsend-result tr:has(td)").all_inner_texts()]


def test_kunde_spam_junk_is_diagnosed_from_the_sinks_own_record(
    page: Any, lab_process: LabProcess
) -> None:
    address = "kari@kunde-spam.example"
    with httpx.Client(base_url=lab_process.base_url, timeout=10, headers=lab_process.bearer) as api:
        _request_reset(api, address)
    _sign_in(page, lab_process.base_url)
    statuses = _checklist(page, lab_process.base_url, address)
    assert statuses["spam.folder"] == "problem"
    assert "junk" in _step(page, "spam.folder")
    _summary_agrees(page, statuses)
    sends = _test_sends(page)
    assert sends, "the test send ran"
    assert all(address in row and "\tjunk\t" in row for row in sends), sends


def test_kunde_blokkerer_block_and_test_send_agree(page: Any, lab_process: LabProcess) -> None:
    address = "kari@kunde-blokkerer.example"
    with httpx.Client(base_url=lab_process.base_url, timeout=10, headers=lab_process.bearer) as api:
        page_text = api.get("/forgot-password").text
        assert "csrf_token" in page_text
    _sign_in(page, lab_process.base_url)
    statuses = _checklist(page, lab_process.base_url, address)
    assert statuses["recipient.blocks_sender"] == "problem"
    assert "550 5.7.1" in _step(page, "recipient.blocks_sender")
    _summary_agrees(page, statuses)
    sends = _test_sends(page)
    assert sends, "the test send ran"
    assert all(address in row for row in sends), sends
    assert all("\trejected\t" in row for row in sends), sends  # the folder column


def test_kunde_sprett_is_accepted_then_bounced(page: Any, lab_process: LabProcess) -> None:
    address = "kari@kunde-sprett.example"
    with httpx.Client(base_url=lab_process.base_url, timeout=10, headers=lab_process.bearer) as api:
        _request_reset(api, address)
    time.sleep(SPRETT_BOUNCE_DELAY + 2)  # the DSN comes back and marks the row bounced
    _sign_in(page, lab_process.base_url)
    statuses = _checklist(page, lab_process.base_url, address)
    assert statuses["delivery.accepted"] == "problem"
    step = _step(page, "delivery.accepted")
    assert "accepted the mail, then returned it" in step
    assert step.rstrip().endswith("552 5.2.2 Mailbox full")
    _summary_agrees(page, statuses)
    log = page.locator("table.deliveries").inner_text()
    assert "5.2.2 5.2.2" not in log
    assert "2.0.0 2.0.0" not in log
