"""The checklist pages in Chromium against the running lab: the self-service page for a domain
without mail servers, the administrator's check of a blocking domain, and the support console."""

from __future__ import annotations

import re
from typing import Any

import pytest

from maildiag.lab.kit import LAB_PASSWORD
from tests.browser.conftest import LabProcess

pytestmark = pytest.mark.browser

SENDERS = ("do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com")


def test_help_page_shows_the_cannot_receive_problem(page: Any, lab_process: LabProcess) -> None:
    page.goto(f"{lab_process.base_url}/help/no-email?lang=en")
    advice = page.locator("section.advice").inner_text()
    assert "junk" in advice
    assert all(sender in advice for sender in SENDERS)
    page.get_by_label("E-mail address").fill("kari@kunde-nullmx.example")
    page.get_by_role("button", name="Check", exact=True).click()
    item = page.locator('[data-key="recipient.can_receive"]')
    item.wait_for()
    assert item.get_attribute("data-status") == "problem"


def test_check_page_shows_the_block_and_allowlisting(page: Any, lab_process: LabProcess) -> None:
    page.goto(f"{lab_process.base_url}/check?lang=en")
    page.locator("#probe-note a").click()  # the SMTP probe needs an admin sign-in
    page.wait_for_url(re.compile(r"/login\?next=/check$"))
    page.get_by_label("E-mail address", exact=True).fill("admin@visma.example")
    page.get_by_label("Password", exact=True).fill(LAB_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/check$"))
    assert page.locator("#probe-note").count() == 0
    page.get_by_label("Domain (or e-mail address)").fill("kunde-blokkerer.example")
    page.get_by_role("button", name="Check", exact=True).click()
    item = page.locator('[data-key="recipient.blocks_sender"]')
    item.wait_for()
    assert item.get_attribute("data-status") == "problem"
    text = item.inner_text()
    assert "550" in text
    assert "5.7.1" in text
    assert all(sender in text for sender in SENDERS)


def test_support_console_lookup(page: Any, lab_process: LabProcess) -> None:
    page.goto(f"{lab_process.base_url}/help/no-email?lang=en")  # sets the language cookie
    page.goto(f"{lab_process.base_url}/support")
    page.wait_for_url("**/login?next=*")
    page.get_by_label("E-mail address", exact=True).fill("support@visma.example")
    page.get_by_label("Password", exact=True).fill(LAB_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/support*")
    page.get_by_label("Find a user (e-mail address)").fill("kari@kunde-ok.example")
    page.get_by_role("button", name="Find", exact=True).click()
    assert "The address has an account." in page.locator("#account-exists").inner_text()
    page.get_by_role("button", name="Run the checklist").click()
    item = page.locator('[data-key="address.registered"]')
    item.wait_for()
    assert item.get_attribute("data-status") == "ok"
