"""The nb and en PO catalogs of reports and of the web pages agree, and every used key exists."""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from diag.findings import INFO, Finding
from reports import CHECKLIST_CATALOG, known_keys, translate
from reports.catalog_auth import CATALOG as AUTH
from reports.catalog_auth import finding_text
from reports.catalog_recipient import CATALOG as RECIPIENT
from reports.i18n import catalog_problems, format_when, load_messages, messages, placeholders

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "catalog"


def _script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("catalog_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("catalog_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    loader.exec_module(module)
    return module


SCRIPT_MODULE = _script()
DOMAINS = {d.name: d for d in SCRIPT_MODULE.domains(ROOT)}


@pytest.mark.parametrize("name", ["reports", "maildiag"])
def test_both_languages_have_the_same_keys_and_placeholders(name: str) -> None:
    found = load_messages(DOMAINS[name].locale_dir, name)
    assert len(found.keys()) > 100
    assert set(found.texts["nb"]) == set(found.texts["en"])
    assert catalog_problems(found) == []


@pytest.mark.parametrize("name", ["reports", "maildiag"])
def test_every_literal_key_used_in_templates_and_code_exists(name: str) -> None:
    domain = DOMAINS[name]
    used = SCRIPT_MODULE.used_keys(domain.sources)
    assert len(used) > 20  # the grep finds the uses at all
    known = load_messages(domain.locale_dir, name).keys()
    assert {k: p for k, p in used.items() if k not in known} == {}


def _po(path: Path, lang: str, entries: dict[str, str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    body = "".join(f'\nmsgid "{k}"\nmsgstr "{v}"\n' for k, v in entries.items())
    header = (
        f'msgid ""\nmsgstr ""\n"Language: {lang}\\n"\n'
        '"Content-Type: text/plain; charset=utf-8\\n"\n'
    )
    (path / "demo.po").write_text(header + body, encoding="utf-8")


def test_the_check_finds_missing_keys_and_placeholder_mismatches(tmp_path: Path) -> None:
    _po(tmp_path / "nb" / "LC_MESSAGES", "nb", {"a.one": "Hei {name}", "a.two": "To", "a.b": "{"})
    _po(tmp_path / "en" / "LC_MESSAGES", "en", {"a.one": "Hi {who}", "a.three": "Three"})
    problems = catalog_problems(load_messages(tmp_path, "demo"))
    assert any("'a.one' placeholders differ" in p for p in problems)
    assert any("'a.two' is only in nb" in p for p in problems)
    assert any("'a.three' is only in en" in p for p in problems)
    assert any("'a.b' is only in nb" in p for p in problems)


def test_the_check_finds_a_key_whose_area_differs(tmp_path: Path) -> None:
    _po(tmp_path / "nb" / "LC_MESSAGES", "nb", {"a.one": "En"})
    _po(tmp_path / "en" / "LC_MESSAGES", "en", {"a.one": "One"})
    path = tmp_path / "nb" / "LC_MESSAGES" / "demo.po"
    path.write_text(
        path.read_text(encoding="utf-8").replace('msgid "a.one"', '#: m.py\nmsgid "a.one"')
    )
    assert catalog_problems(load_messages(tmp_path, "demo")) == [
        "demo: 'a.one' is referenced from m.py only in nb"
    ]


def test_the_check_finds_a_used_key_the_catalog_lacks(tmp_path: Path) -> None:
    _po(tmp_path / "nb" / "LC_MESSAGES", "nb", {"a.one": "En"})
    _po(tmp_path / "en" / "LC_MESSAGES", "en", {"a.one": "One"})
    page = tmp_path / "page.html"
    page.write_text('{{ t("a.one") }} {{ t("a.missing", n=1) }} {{ t("a." ~ x) }}\n')
    domain = SCRIPT_MODULE.Domain("demo", tmp_path, (page,))
    assert SCRIPT_MODULE.domain_problems(domain) == [
        f"demo: 'a.missing' is used at {page}:1 but not in the catalog"
    ]


def test_the_check_finds_a_key_given_twice(tmp_path: Path) -> None:
    _po(tmp_path / "nb" / "LC_MESSAGES", "nb", {"a.one": "En"})
    _po(tmp_path / "en" / "LC_MESSAGES", "en", {"a.one": "One"})
    path = tmp_path / "en" / "LC_MESSAGES" / "demo.po"
    path.write_text(path.read_text(encoding="utf-8") + '\nmsgid "a.one"\nmsgstr "Uno"\n')
    domain = SCRIPT_MODULE.Domain("demo", tmp_path, ())
    assert SCRIPT_MODULE.domain_problems(domain) == [f"{path}: 'a.one' is given more than once"]


def test_the_script_passes_on_the_repository() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_placeholders_are_the_named_fields() -> None:
    assert placeholders("{a} and {b!r:>3} {a.x} {{literal}}") == {"a", "b"}
    with pytest.raises(ValueError, match="expected '}'"):
        placeholders("{oops")


def test_the_views_read_the_po_files() -> None:
    reports = messages()
    assert CHECKLIST_CATALOG["nb"]["status.ok"] == reports.get("status.ok", "nb")
    assert dict(CHECKLIST_CATALOG["en"]) == dict(
        reports.language("en", "reports/catalog_checklist.py")
    )
    assert AUTH["sender.title"] == ("Avsenderrapport", "Sender report")
    assert "recipient.title" in RECIPIENT
    assert "recipient.title" not in AUTH
    assert known_keys() == reports.keys("reports/catalog.py")
    assert translate("spf.title", "nb", domain="d.example") == "SPF-sjekk for d.example"
    assert translate("spf.title", "de", domain="d.example") == "SPF check for d.example"
    with pytest.raises(KeyError):
        CHECKLIST_CATALOG["de"]


def test_a_missing_evidence_value_shows_as_a_question_mark() -> None:
    key = next(
        k for k, (_nb, en) in AUTH.items() if k.startswith("finding.") and len(placeholders(en)) > 1
    )
    given, *_missing = sorted(placeholders(AUTH[key][1]))
    evidence = {given: "GIVEN"}
    for lang in ("nb", "en"):
        text = finding_text(Finding(key.removeprefix("finding."), INFO, "", evidence), lang)
        assert "GIVEN" in text
        assert "?" in text
        assert "{" not in text


def test_timeline_times_are_formatted_for_the_language() -> None:
    when = dt.datetime(2026, 11, 26, 12, 5, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert format_when(when, "nb") == "26. nov. 2026, 11:05:09 UTC"
    assert format_when(when, "en") == "26 Nov 2026, 11:05:09 UTC"
