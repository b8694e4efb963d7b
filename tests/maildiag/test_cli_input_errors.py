"""Bad input on the command line is one InputError, worded from the catalog: English unless
``--lang`` asks for Norwegian, always one line and exit 2."""

from __future__ import annotations

import pytest

from diag.errors import InputError
from maildiag.cli import main
from maildiag.commands.scan import parse_scan_file
from maildiag.services.wording import reason


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ((), "maildiag: error: not an IP address: 'nope'"),
        (("--lang", "en"), "maildiag: error: not an IP address: 'nope'"),
        (("--lang", "nb"), "maildiag: error: ikke en IP-adresse: 'nope'"),
    ],
)
def test_the_reason_is_worded_in_the_asked_language(
    capsys: pytest.CaptureFixture[str], lang: tuple[str, ...], expected: str
) -> None:
    assert _error(capsys, *lang, "spf", "example.test", "--ip", "nope") == expected


def test_a_wrapped_reason_is_worded_in_the_same_language() -> None:
    with pytest.raises(InputError) as caught:
        parse_scan_file("ok.example\nnot a domain\n")
    assert reason(caught.value, "en") == "line 2: not a domain name: 'not a domain'"
    assert reason(caught.value, "nb") == "linje 2: ikke et domenenavn: 'not a domain'"
