"""The whole reset flow in Chromium against the lab: forgot password, the captcha, the mail in
the sink (DKIM passes there), the live rules, a refused and an accepted password, login."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

import reset
from maildiag.lab.kit import LAB_PASSWORD
from maildiag.lab.zones import LAB_EGRESS
from tests.browser.conftest import LabProcess

pytestmark = pytest.mark.browser

KARI = "kari@kunde-ok.example"
NEW_PASSWORD = "Nordlys#Fjell2026"
RULES = ("length", "upper", "lower", "digit", "special")
_LINK = re.compile(r"https?://\S+/reset-password\?token=[A-Za-z0-9_-]+")


def _message_ids(api: httpx.Client, address: str) -> set[int]:
    response = api.get("/api/v1/sink/messages", params={"to": address})
    response.raise_for_status()
    return {m["id"] for m in response.json()["messages"]}


def _wait_for_mail(api: httpx.Client, address: str, seen: set[int]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = api.get("/api/v1/sink/messages", params={"to": address})
        new = [m for m in response.json()["messages"] if m["id"] not in seen]
        resets = [m for m in new if m["subject"] == "Tilbakestill passordet ditt"]
        if resets:
            message: dict[str, Any] = resets[0]
            return message
        time.sleep(0.2)
    pytest.fail(f"no reset mail for {address} arrived in the sink")


def _link(api: httpx.Client, message_id: int) -> str:
    raw = api.get(f"/api/v1/sink/messages/{message_id}/raw").content
    text = raw.decode("ascii", "replace").replace("=\r\n", "").replace("=\n", "")
    found = _LINK.search(text.replace("=3D", "="))
    assert found is not None, "the mail holds no reset link"
    return found.group(0)


def _rule_states(page: Any) -> dict[str, bool]:
    items = page.locator("#password-rules li[data-rule]")
    states = {}
    for i in range(items.count()):
        classes = (items.nth(i).get_attribute("class") or "").split()
        states[items.nth(i).get_attribute("data-rule")] = "met" in classes
    return states


def _request_reset(api: httpx.Client, address: str) -> dict[str, Any]:
    """Ask for a reset mail for ``address`` through the form (captcha solved); the captured mail."""
    seen = _message_ids(api, address)
    page = api.get("/forgot-password").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    solution = reset.solve_challenge(api.get("/captcha/challenge").json())
    api.post(
        "/forgot-password", data={"csrf_token": csrf.group(1), "email": address, "altcha": solution}
    ).raise_for_status()
    return _wait_for_mail(api, address, seen)


def _restore(api: httpx.Client, base_url: str) -> None:
    """Put the demo password back (other tests log in with it), through the same flow."""
    link = _link(api, _request_reset(api, KARI)["id"])
    form = api.get(link.removeprefix(base_url)).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    done = api.post(
        "/reset-password",
        data={
            "csrf_token": csrf.group(1),
            "token": link.rpartition("=")[2],
            "password": LAB_PASSWORD,
            "confirmation": LAB_PASSWORD,
        },
    )
    assert done.status_code == 303


def test_forgot_password_to_login_with_the_new_password(page: Any, lab_process: LabProcess) -> None:
    base = lab_process.base_url
    with httpx.Client(base_url=base, timeout=10, headers=lab_process.bearer) as api:
        seen = _message_ids(api, KARI)

        # Login page -> "Glemt ditt passord?" -> the request with the captcha.
        page.goto(f"{base}/login")
        page.get_by_role("link", name="Glemt ditt passord?").click()
        page.get_by_label("E-postadresse").fill(KARI)
        page.get_by_label("Jeg er ikke en robot").click()  # checked once solved
        page.wait_for_selector(".captcha.verified", timeout=15000)
        assert page.locator('input[name="altcha"]').input_value() != ""
        page.get_by_role("button", name="Send forespørsel").click()
        page.wait_for_selector("text=Forespørselen er sendt")
        assert "søppelpost" in page.content()

        # The mail arrives in the sink, DKIM-signed by the sender identity.
        message = _wait_for_mail(api, KARI, seen)
        assert "dkim=pass" in message["authentication_results"]
        assert "header.d=platform.visma.com" in message["authentication_results"]
        assert message["from"].endswith("<do.not.reply@platform.visma.com>")
        link = _link(api, message["id"])
        assert link.startswith(base + "/reset-password?token=")

        try:
            # The link opens the form; the rules tick while typing.
            page.goto(link)
            page.wait_for_selector("text=Angi ditt nye passord")
            assert _rule_states(page) == dict.fromkeys(RULES, False)
            page.get_by_label("Nytt passord").press_sequentially("abcdefgh")
            assert _rule_states(page) == {
                "length": True,
                "upper": False,
                "lower": True,
                "digit": False,
                "special": False,
            }
            page.get_by_label("Nytt passord").fill("")
            page.get_by_label("Nytt passord").press_sequentially(NEW_PASSWORD)
            assert _rule_states(page) == dict.fromkeys(RULES, True)

            # A weak password is refused by the server (the link keeps working).
            page.get_by_label("Nytt passord").fill("abcdefgh")
            page.get_by_label("Bekreft passord").fill("abcdefgh")
            page.get_by_role("button", name="Endre passord").click()
            alert = page.get_by_role("alert")
            assert "Passordet ble ikke godtatt" in alert.inner_text()
            assert "Minimum 1 store tegn" in alert.inner_text()

            # A strong one is accepted.
            page.get_by_label("Nytt passord").fill(NEW_PASSWORD)
            page.get_by_label("Bekreft passord").fill(NEW_PASSWORD)
            page.get_by_role("button", name="Endre passord").click()
            page.wait_for_selector("text=Passordet er endret")
            page.get_by_role("link", name="Gå til innlogging").click()

            # The old password fails, the new one works.
            page.get_by_label("E-postadresse", exact=True).fill(KARI)
            page.get_by_label("Passord", exact=True).fill(LAB_PASSWORD)
            page.get_by_role("button", name="Logg inn").click()
            assert page.get_by_role("alert").inner_text() == "Feil e-postadresse eller passord."
            page.get_by_label("Passord", exact=True).fill(NEW_PASSWORD)
            page.get_by_role("button", name="Logg inn").click()
            page.wait_for_url("**/account")  # a user's sign-in lands on the account page
            assert page.locator("#account-email").inner_text() == KARI

            # The same link is refused the second time.
            response = page.goto(link)
            assert response is not None
            assert response.status == 410
            assert page.get_by_role("link", name="Be om en ny lenke").is_visible()
        finally:
            _restore(api, base)


def test_the_lab_reset_mail_arrives_as_from_the_senders_own_servers(
    lab_process: LabProcess,
) -> None:
    """The outbox worker hands the reset mail to the sink as the sender identity's outbound
    server would (its egress address, its HELO name), so the sink judges it as a receiver
    would: SPF, DKIM and DMARC pass for platform.visma.com."""
    with httpx.Client(base_url=lab_process.base_url, timeout=10, headers=lab_process.bearer) as api:
        captured = _request_reset(api, KARI)
        message = api.get(f"/api/v1/sink/messages/{captured['id']}").json()
    assert message["peer"]["ip"] == LAB_EGRESS["platform.visma.com"]
    assert message["peer"]["proxied"] is True
    assert message["helo"] == "mail-out.platform.visma.com"
    results = message["authentication_results"]
    assert re.search(r"\bspf=pass\b", results), results
    assert re.search(r"\bdkim=pass\b", results), results
    assert re.search(r"\bdmarc=pass\b", results), results
    assert message["verdict"]["dmarc_result"] == "pass"
