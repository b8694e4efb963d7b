"""The pages' controls in Chromium against the lab: the reset link in the sink's HTML preview
opens (in a new tab, out of the sandbox), and the forms, the captcha and the checklist's
evidence toggles work from the keyboard alone."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from maildiag.lab.kit import LAB_PASSWORD
from tests.browser.conftest import LabProcess
from tests.browser.test_reset_flow import _request_reset

pytestmark = pytest.mark.browser

PREVIEWED = "kari@kunde-spam.example"  # its reset mail is filed as junk, and kept


def _sign_in(page: Any, lab: LabProcess, address: str) -> None:
    page.goto(f"{lab.base_url}/login?lang=en")
    page.fill("#email", address)
    page.fill("#password", LAB_PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


def _tab_to(page: Any, selector: str, most: int = 200) -> None:
    """Press Tab until the focus is on an element matching ``selector``."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    pytest.fail(f"Tab never reached {selector}")


def test_reset_link_in_the_sink_preview_opens_in_a_new_tab(
    page: Any, lab_process: LabProcess
) -> None:
    with httpx.Client(base_url=lab_process.base_url, headers=lab_process.bearer) as api:
        message = _request_reset(api, PREVIEWED)
    _sign_in(page, lab_process, "admin@visma.example")  # an admin sees the link unmasked
    page.goto(f"{lab_process.base_url}/sink/messages/{message['id']}")
    frame = page.frame_locator("iframe.mail-html")
    link = frame.locator("a[href*='/reset-password?token=']").first
    assert link.get_attribute("target") == "_blank"
    assert {"noopener", "noreferrer"} <= set((link.get_attribute("rel") or "").split())
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert re.search(r"/reset-password\?token=[\w-]+$", tab.url)
    assert tab.locator("#password").is_visible()  # the form for a valid link, not a dead frame
    assert page.url.endswith(f"/sink/messages/{message['id']}")  # the sink stays where it was


def test_forgot_password_and_captcha_from_the_keyboard(page: Any, lab_process: LabProcess) -> None:
    page.goto(f"{lab_process.base_url}/forgot-password?lang=en")
    _tab_to(page, "#email")
    page.keyboard.type("nobody@kunde-ok.example")
    _tab_to(page, ".captcha-box")
    page.keyboard.press("Space")
    page.wait_for_selector(".captcha-box:checked")
    _tab_to(page, "form[action='/forgot-password'] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text() == "Request sent"


def test_checklist_evidence_opens_from_the_keyboard(page: Any, lab_process: LabProcess) -> None:
    page.goto(f"{lab_process.base_url}/help/no-email?lang=en")
    _tab_to(page, "#address")
    page.keyboard.type("keyboard@kunde-nullmx.example")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector(".checklist")
    _tab_to(page, "details > summary")
    details = page.locator("details:has(> summary:focus)")
    assert details.get_attribute("open") is None
    page.keyboard.press("Enter")
    assert details.get_attribute("open") is not None
    assert details.locator("dl.facts, pre, ul.findings").first.is_visible()


def test_sign_out_everywhere_and_the_navigation_sign_out(
    browser: Any, lab_process: LabProcess
) -> None:
    """Two browsers signed in as one user: the account page lists both; "sign out
    everywhere", reached from the keyboard, ends both. The navigation's sign-out works too."""
    contexts = [browser.new_context(locale="en-GB") for _ in range(2)]
    try:
        first, second = (context.new_page() for context in contexts)
        for page in (first, second):
            _sign_in(page, lab_process, "kari@kunde-greylist.example")
            assert page.url.endswith("/account")  # a user's sign-in lands there
        first.reload()
        assert first.locator("li.session").count() >= 2
        assert first.locator("li.session.current").count() == 1
        _tab_to(first, "form[action='/account/sessions/end-all'] button")
        with first.expect_navigation():
            first.keyboard.press("Enter")
        assert "/login?logged_out=1" in first.url
        for page in (first, second):
            page.goto(f"{lab_process.base_url}/account")
            assert "/login?next=/account" in page.url
        _sign_in(second, lab_process, "kari@kunde-greylist.example")
        with second.expect_navigation():
            second.get_by_role("button", name="Sign out", exact=True).click()  # navigation
        second.goto(f"{lab_process.base_url}/account")
        assert "/login?next=/account" in second.url
    finally:
        for context in contexts:
            context.close()
