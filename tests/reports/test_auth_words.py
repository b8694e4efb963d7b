"""The authenticate report's findings read as sentences even where the evidence is empty."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from diag.findings import WARNING, Finding
from reports.catalog_auth import finding_text


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_spf_without_a_domain_says_there_was_nothing_to_check(lang: str) -> None:
    """A null reverse-path and no HELO name leave SPF no identity (RFC 7208 §2.4)."""
    finding = Finding(
        "auth.spf_none", WARNING, "SPF none", MappingProxyType({"domain": "", "identity": ""})
    )
    text = finding_text(finding, lang)
    assert "  " not in text
    assert not text.rstrip().endswith(("for", "for ?"))
    assert ("ingen domene å sjekke" if lang == "nb" else "no domain to check") in text


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_spf_with_a_domain_names_it(lang: str) -> None:
    finding = Finding(
        "auth.spf_fail", WARNING, "SPF fail", MappingProxyType({"domain": "b.example"})
    )
    assert finding_text(finding, lang) == "SPF fail for b.example"


def test_a_dmarc_lookup_failure_is_worded_in_nb() -> None:
    finding = Finding(
        "dmarc.temperror", WARNING, "a DMARC lookup did not complete", MappingProxyType({})
    )
    assert finding_text(finding, "nb") == "Et DMARC-oppslag ble ikke fullført"
