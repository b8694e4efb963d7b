"""The sender report's HTML is autoescaped like every report."""

from diag.findings import ERROR, Finding
from diag.senders import Section, SenderReport
from reports import render_sender, sender_view


def test_hostile_text_in_a_finding_is_escaped() -> None:
    finding = Finding(
        "spf.syntax",
        ERROR,
        "<script>alert(1)</script>",
        {"record": "<script>alert(1)</script>"},
    )
    report = SenderReport(
        "evil.example", "domain", "evil.example", {}, (Section("spf", {}, (finding,)),)
    )
    html = render_sender(sender_view([report], lang="en", sections=["spf"]), fmt="html")
    assert "<script>" not in html
    assert "<code>spf.syntax</code>" in html


def test_an_identity_report_without_its_facts_is_still_shown() -> None:
    # A report of kind "identity" whose identity facts are missing (none here) shows them as
    # empty rather than failing the whole report.
    finding = Finding("spf.too_many_lookups", ERROR, "more than 10 lookups", {"lookups": 11})
    report = SenderReport(
        "do.not.reply@legacy.example",
        "identity",
        "legacy.example",
        {},
        (Section("spf", {}, (finding,)),),
    )
    for fmt in ("text", "markdown", "html"):
        shown = render_sender(sender_view([report], lang="en", sections=["spf"]), fmt=fmt)
        assert "do.not.reply@legacy.example" in shown
        assert "spf.too_many_lookups" in shown
