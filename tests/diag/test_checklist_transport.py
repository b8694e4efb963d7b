"""The recipient's transport security as evidence of the ``recipient.can_receive`` item: an
error (a demand our senders cannot meet) makes it a problem, a warning a warning; what is
only noted shows among the evidence's codes; without a transport check nothing changes."""

from __future__ import annotations

from diag.checklist import ITEM_FUNCTIONS
from diag.findings import ERROR, INFO, WARNING, Finding, Severity
from diag.transport import MtaSts, TlsRpt, TransportReport
from tests.diag.test_checklist_pure import evidence

can_receive = ITEM_FUNCTIONS["recipient.can_receive"]


def _report(*found: tuple[str, Severity]) -> TransportReport:
    return TransportReport(
        "kunde-ok.example",
        checked=True,
        mta_sts=MtaSts("https://mta-sts.kunde-ok.example/.well-known/mta-sts.txt"),
        tlsrpt=TlsRpt("v=TLSRPTv1; rua=mailto:tls@kunde-ok.example"),
        findings=tuple(Finding(code, severity, code) for code, severity in found),
    )


def test_without_a_transport_check_the_item_is_as_before() -> None:
    item = can_receive(evidence())
    assert item.status == "ok"
    assert "transport" not in item.evidence


def test_notes_are_evidence_and_keep_the_item_ok() -> None:
    item = can_receive(evidence(transport=_report(("mta_sts.none", INFO), ("tlsrpt.ok", INFO))))
    assert item.status == "ok"
    transport = item.evidence["transport"]
    assert list(transport["codes"]) == ["mta_sts.none", "tlsrpt.ok"]
    assert transport["tlsrpt"] == "v=TLSRPTv1; rua=mailto:tls@kunde-ok.example"
    assert [f.code for f in item.findings if f.code.startswith("mta_sts")] == []


def test_a_warning_makes_a_warning() -> None:
    item = can_receive(evidence(transport=_report(("dane.unusable_record", WARNING))))
    assert item.status == "warning"
    assert "dane.unusable_record" in [f.code for f in item.findings]


def test_an_unmet_demand_makes_a_problem() -> None:
    found = _report(("mta_sts.mx_mismatch", ERROR), ("tlsrpt.none", INFO))
    item = can_receive(evidence(transport=found))
    assert item.status == "problem"
    assert [f.code for f in item.findings if f.severity is ERROR] == ["mta_sts.mx_mismatch"]


def test_a_domain_without_mail_servers_is_judged_by_its_mx_alone() -> None:
    unchecked = TransportReport("kunde-ok.example", checked=False)
    item = can_receive(evidence(transport=unchecked))
    assert "transport" not in item.evidence
