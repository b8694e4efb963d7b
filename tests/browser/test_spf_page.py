"""The SPF page in Chromium against the lab: a healthy sender passes, a stranger fails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LabProcess

pytestmark = pytest.mark.browser


def test_spf_page_shows_pass_for_the_lab_egress(page: Any, lab_process: LabProcess) -> None:
    page.goto(f"{lab_process.base_url}/spf?lang=en")
    page.get_by_label("Domain").fill("platform.visma.com")
    page.get_by_label("Client IP address").fill("198.51.100.10")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("section.report.spf")
    assert page.locator(".result").inner_text() == "PASS"
    assert "v=spf1" in page.locator("ol.trace").inner_text()


def test_spf_page_shows_fail_and_the_reason(page: Any, lab_process: LabProcess) -> None:
    page.goto(f"{lab_process.base_url}/spf")
    page.get_by_label("Domene").fill("connect.visma.com")
    page.get_by_label("Klientens IP-adresse").fill("192.0.2.200")
    page.get_by_label("Vis include-treet og funn").check()
    page.get_by_role("button", name="Sjekk").click()
    page.wait_for_selector("section.report.spf")
    assert "avvist (fail)" in page.locator(".result").inner_text()


def test_spf_page_bad_ip_is_a_clear_error(page: Any, lab_process: LabProcess) -> None:
    page.goto(f"{lab_process.base_url}/spf?lang=en")
    page.get_by_label("Domain").fill("platform.visma.com")
    page.get_by_label("Client IP address").fill("not-an-ip")
    page.get_by_role("button", name="Check").click()
    assert "not an IP address" in page.get_by_role("alert").inner_text()
