"""One jinja2 Environment renders the reports, the app's pages and the reset mails: strict,
autoescaping HTML and SVG, and nothing else in the product makes an Environment of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import jinja2
import pytest

import reports

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("diag", "smtp_sink", "reports", "reset", "maildiag")
MAKERS = {"Environment", "Jinja2Templates", "Template"}


def test_one_environment_serves_reports_pages_and_mails() -> None:
    env = reports.environment()
    assert reports.environment() is env
    for name in ("spf.html.j2", "maildiag/check.html", "reset/reset_en.html"):
        assert env.get_template(name).environment is env
    assert env.undefined is jinja2.StrictUndefined
    autoescape = env.autoescape
    assert callable(autoescape)
    assert autoescape("maildiag/check.html")
    assert autoescape("reset/reset_nb.html")
    assert autoescape("checklist.spf_tree.svg.j2")
    assert not autoescape("spf.txt.j2")
    assert not autoescape("reset/reset_nb.txt")


@pytest.mark.parametrize(
    "name", ["nosuchpackage/x.html", "../reports/__init__.py", "maildiag/../settings.py"]
)
def test_a_template_outside_the_template_folders_is_not_found(name: str) -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        reports.environment().get_template(name)


def test_no_other_module_makes_an_environment() -> None:
    found = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    called = node.func
                    name = called.attr if isinstance(called, ast.Attribute) else ""
                    name = called.id if isinstance(called, ast.Name) else name
                    if name in MAKERS:
                        found.append(str(path.relative_to(ROOT)))
    assert found == ["reports/environment.py"]


def test_report_html_crosses_into_pages_without_markup_seams() -> None:
    seams = [
        str(path.relative_to(ROOT))
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if "S704" in path.read_text(encoding="utf-8")
    ]
    assert seams == ["reports/escape.py"]  # Markdown escaped for Markdown, not HTML
