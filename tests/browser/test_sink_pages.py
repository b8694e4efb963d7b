"""The sink's pages in Chromium against ``maildiag serve --lab``: a mail sent over SMTP to the
lab's sink appears in /sink (live, by server-sent events), opens, and shows its verdict."""

from __future__ import annotations

import json
import re
import smtplib
import urllib.request
from typing import Any

import pytest

from maildiag.lab.kit import LAB_PASSWORD
from tests.browser.conftest import LabProcess

pytestmark = pytest.mark.browser

SENDER = "tester@lab-tests.example"
KARI = "kari@kunde-ok.example"


def _smtp_port(lab: LabProcess) -> int:
    request = urllib.request.Request(f"{lab.base_url}/api/v1/sink/info", headers=lab.bearer)
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.load(response)["smtp"]["port"])


def _sign_in(page: Any, address: str) -> None:
    """Fill in the login form the sink page sent the browser to; back on the sink page."""
    page.fill("#email", address)
    page.fill("#password", LAB_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")


def _send(lab: LabProcess, subject: str) -> None:
    message = (
        f"From: Tester <{SENDER}>\r\nTo: {KARI}\r\nSubject: {subject}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHei Kari!\r\n"
    )
    with smtplib.SMTP("127.0.0.1", _smtp_port(lab), timeout=10) as smtp:
        smtp.sendmail(SENDER, [KARI], message.encode())


def test_mail_sent_to_the_sink_shows_up_live_and_opens_with_its_verdict(
    page: Any, lab_process: LabProcess
) -> None:
    page.goto(f"{lab_process.base_url}/sink?lang=en&to={KARI}")
    assert "/login?next=" in page.url  # captured mail needs a staff login
    _sign_in(page, "support@visma.example")
    page.wait_for_url(re.compile(r"/sink\?lang=en&to="))
    page.wait_for_load_state("networkidle")
    _send(lab_process, "Reset your password <script>x</script>")
    link = page.get_by_role("link", name="Reset your password <script>x</script>")
    link.wait_for(timeout=10_000)  # arrives through /sink/events without a reload
    link.click()
    page.wait_for_selector("section.verdict")
    verdict = page.locator("section.verdict").inner_text()
    assert "DMARC=none" in verdict
    assert "SPF=none" in verdict
    assert "The From domain publishes no DMARC record." in verdict
    assert page.locator("h1.subject").inner_text() == "Reset your password <script>x</script>"
