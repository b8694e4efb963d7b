import pytest

from reports import known_keys, translate
from reports import testsend_view as make_testsend_view
from reports.catalog import _CATALOG


@pytest.mark.parametrize("key", sorted(known_keys()))
def test_every_key_has_both_languages(key: str) -> None:
    nb, en = _CATALOG[key]
    assert nb.strip()
    assert en.strip()


def test_unknown_key_falls_back_to_the_key() -> None:
    assert translate("no.such.key", "en") == "no.such.key"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        make_testsend_view([], lang="de")
