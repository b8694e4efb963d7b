"""The receiver's DMARC reports as checklist evidence: shown on the sender item, a warning only
when mail from our own egress IP failed DMARC there, and worded as a sentence in nb and en."""

from __future__ import annotations

import datetime as dt

import pytest

from diag.checklist import (
    Audience,
    ChecklistItem,
    Evidence,
    ReceiverReport,
    checklist_from_evidence,
)
from diag.senders import SenderReport
from reports.checklist import checklist_view
from reports.checklist_words import receiver_report_line
from reports.vocabulary import Language

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
HEALTHY = SenderReport("do.not.reply@platform.visma.com", "identity", "platform.visma.com", {}, ())
QUARANTINED = ReceiverReport(
    "outlook.com", "platform.visma.com", "198.51.100.10", True, 12, "quarantine", "fail", "pass"
)
OURS_FAILED = ReceiverReport(
    "outlook.com", "platform.visma.com", "198.51.100.10", True, 3, "reject", "fail", "fail"
)
SPOOFED = ReceiverReport(
    "outlook.com", "platform.visma.com", "192.0.2.66", False, 40, "reject", "fail", "fail"
)


def _evidence(*reports: ReceiverReport, audience: Audience = "support") -> Evidence:
    return Evidence(
        address="kari@outlook.com",
        audience=audience,
        now=NOW,
        sender_addresses=("do.not.reply@platform.visma.com",),
        senders=(HEALTHY,),
        receiver_reports=reports,
    )


def _item(*reports: ReceiverReport) -> ChecklistItem:
    found = checklist_from_evidence(_evidence(*reports)).item("sender.authentication")
    assert found is not None
    return found


def test_without_reports_the_item_has_no_such_evidence() -> None:
    item = _item()
    assert "receiver_reports" not in item.evidence


def test_reports_that_pass_dmarc_are_evidence_without_a_warning() -> None:
    item = _item(QUARANTINED, SPOOFED)
    assert item.status == "ok"
    shown = item.evidence["receiver_reports"]
    assert [r["source_ip"] for r in shown] == ["198.51.100.10", "192.0.2.66"]
    assert shown[0] == QUARANTINED.to_dict()


def test_our_own_mail_failing_dmarc_at_the_receiver_is_a_warning() -> None:
    item = _item(OURS_FAILED, SPOOFED)
    assert item.status == "warning"
    codes = [(f.code, f.evidence["source_ip"]) for f in item.findings]
    assert codes == [("checklist.receiver_reported_dmarc_fail", "198.51.100.10")]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            "outlook.com reported 12 messages from 198.51.100.10 (our sending IP) with DKIM "
            "fail, SPF pass; disposition quarantine",
        ),
        (
            "nb",
            "outlook.com rapporterte 12 e-poster fra 198.51.100.10 (vår avsender-IP) med DKIM "
            "feilet, SPF bestått; behandling: karantene",
        ),
    ],
)
def test_a_report_reads_as_a_sentence(lang: Language, expected: str) -> None:
    assert receiver_report_line(QUARANTINED.to_dict(), lang) == expected


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_the_checklist_shows_each_report_among_the_item_facts(lang: Language) -> None:
    evidence = _evidence(QUARANTINED, SPOOFED, audience="admin")
    view = checklist_view(checklist_from_evidence(evidence), lang=lang)
    item = next(i for i in view.items if i.key == "sender.authentication")
    lines = [value for _, value in item.facts]
    assert receiver_report_line(SPOOFED.to_dict(), lang) in lines
    assert receiver_report_line(QUARANTINED.to_dict(), lang) in lines
