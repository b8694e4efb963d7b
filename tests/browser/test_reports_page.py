"""The receivers' reports in Chromium against a fresh ``serve --lab``: support signs in, picks a
sender domain and a period, reads the chart's description, and follows a source IP and a
receiver to their records."""

from __future__ import annotations

from typing import Any

import pytest

from maildiag.lab.feedback import SPOOFER
from maildiag.lab.kit import LAB_PASSWORD
from tests.browser.conftest import LabProcess

pytestmark = pytest.mark.browser


def _sign_in(page: Any, lab_process: LabProcess, then: str) -> None:
    page.goto(f"{lab_process.base_url}{then}")  # sent to sign in, then back here
    page.fill("#email", "support@visma.example")
    page.fill("#password", LAB_PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


def test_support_picks_a_domain_and_follows_the_spoofer(page: Any, lab_process: LabProcess) -> None:
    _sign_in(page, lab_process, "/reports?lang=en")
    assert page.url.endswith("/reports?lang=en")
    page.get_by_label("Sender domain").select_option("platform.visma.com")
    page.get_by_label("Period").select_option("14")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    chart = page.get_by_role("img", name="Messages from platform.visma.com per day")
    assert chart.count() == 1
    assert "rejected" in (page.locator("svg.chart desc").text_content() or "")
    with page.expect_navigation():
        page.get_by_role("link", name=SPOOFER).click()
    rows = page.locator("table.report-records tbody tr")
    assert rows.count() > 0
    assert set(rows.locator("td:nth-child(4)").all_inner_texts()) == {SPOOFER}
    assert set(rows.locator("td:nth-child(6)").all_inner_texts()) == {"Rejected"}


def test_support_follows_a_receiver_to_its_quarantines(page: Any, lab_process: LabProcess) -> None:
    _sign_in(page, lab_process, "/reports?domain=connect.visma.com&lang=en")
    with page.expect_navigation():
        page.get_by_role("link", name="kunde-spam.example").click()
    rows = page.locator("table.report-records tbody tr")
    assert rows.count() == 7  # one report a day
    assert set(rows.locator("td:nth-child(2)").all_inner_texts()) == {"kunde-spam.example"}
    assert set(rows.locator("td:nth-child(6)").all_inner_texts()) == {"Quarantined"}
