"""The sender report's HTML is autoescaped like every report."""

from reports import build_sender_view, render_sender


def test_hostile_text_in_a_finding_is_escaped() -> None:
    report = {
        "kind": "domain",
        "subject": "evil.example",
        "status": "problem",
        "general": [],
        "findings": [],
        "spf": {
            "status": "problem",
            "findings": [
                {
                    "code": "spf.syntax",
                    "severity": "error",
                    "summary": "<script>alert(1)</script>",
                    "evidence": {"record": "<script>alert(1)</script>"},
                }
            ],
        },
    }
    html = render_sender(build_sender_view([report], ["spf"]), fmt="html", lang="en")
    assert "<script>" not in html
    assert "<code>spf.syntax</code>" in html
