"""The bounce findings' wording in nb and en: the reason and how it was found, with Exchange
Online's 550 5.4.1 worded as Microsoft documents it (directory-based edge blocking)."""

from __future__ import annotations

from pathlib import Path

import pytest

from diag.bounces import MEANINGS, REASONS, parse_bounce_message
from reports.catalog_recipient import CATALOG, finding_text

DATA = Path(__file__).resolve().parent.parent / "data" / "bounces"


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ("per@kundeas.no", "does not exist", "directory-based edge blocking", "5.4.1")),
        ("nb", ("per@kundeas.no", "finnes ikke", "katalogbasert kantblokkering", "5.4.1")),
    ],
)
def test_exchange_online_5_4_1_is_worded_as_microsoft_documents_it(
    lang: str, words: tuple[str, ...]
) -> None:
    result = parse_bounce_message((DATA / "exchange-online-5.4.1.eml").read_bytes())
    text = finding_text(result.findings[0], lang)
    for word in words:
        assert word in text
    assert "?" not in text


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_exim_5_0_0_is_worded_by_its_specific_code(lang: str) -> None:
    result = parse_bounce_message((DATA / "exim-5.0.0-unknown-user.eml").read_bytes())
    text = finding_text(result.findings[0], lang)
    assert "5.1.1" in text
    assert "5.0.0" not in text


def test_every_reason_and_meaning_has_wording() -> None:
    for reason in REASONS:
        assert f"finding.bounce.{reason}" in CATALOG
    for meaning in MEANINGS:
        assert f"bounce.meaning.{meaning}" in CATALOG
