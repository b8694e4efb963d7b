"""diag.names: the one parser of domain names and of mail addresses, and their limits."""

from __future__ import annotations

import pytest

from diag.errors import InputError
from diag.names import (
    MAX_ADDRESS_LENGTH,
    MAX_LABEL_LENGTH,
    MAX_LOCAL_PART_LENGTH,
    MAX_NAME_LENGTH,
    Address,
    parse_address,
    parse_domain,
)


def test_limits_are_the_rfcs() -> None:
    assert (MAX_NAME_LENGTH, MAX_LABEL_LENGTH) == (253, 63)
    assert (MAX_ADDRESS_LENGTH, MAX_LOCAL_PART_LENGTH) == (254, 64)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" Kunde-OK.example. ", "kunde-ok.example"),
        ("blåbær.example", "xn--blbr-roah.example"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
    ],
)
def test_parse_domain_normalizes(text: str, expected: str) -> None:
    assert parse_domain(text) == expected


@pytest.mark.parametrize(
    ("text", "key", "values"),
    [
        ("  ", "domain.missing", {}),
        ("a." * 127 + "ab", "domain.too_long", {"n": 253}),
        ("localhost", "domain.invalid", {"reason": "single_label"}),
        ("a..example", "domain.invalid", {"reason": "label_length"}),
        ("a" * 64 + ".example", "domain.invalid", {"reason": "label_length"}),
        ("-a.example", "domain.invalid", {"reason": "label_characters"}),
        ("a b.example", "domain.invalid", {"reason": "label_characters"}),
        ("_spf.example", "domain.invalid", {"reason": "label_characters"}),
        ("xn--a.example\u00e5", "domain.invalid", {"reason": "idna"}),
    ],
)
def test_parse_domain_says_why(text: str, key: str, values: dict[str, object]) -> None:
    with pytest.raises(InputError) as caught:
        parse_domain(text)
    assert (caught.value.key, caught.value.values) == (key, values)


def test_underscore_only_when_asked() -> None:
    assert parse_domain("_spf.Example.com", underscore=True) == "_spf.example.com"


def test_parse_address_keeps_the_local_part() -> None:
    assert parse_address(" Kari@Kunde-OK.example. ") == Address("Kari", "kunde-ok.example")
    assert str(parse_address("kari@x")) == "kari@x"


@pytest.mark.parametrize(
    ("text", "reason", "position"),
    [
        ("", "empty", None),
        ("k" * 250 + "@x.no", "too_long", 254),
        ("ka ri@x.example", "forbidden_character", 2),
        ("kari", "missing_local_part", 0),
        ("@x.example", "missing_local_part", 0),
        ("k" * 65 + "@x.example", "local_part_too_long", 64),
        ("kari@", "bad_domain", 5),
        ("kari@x..example", "bad_domain", 5),
    ],
)
def test_parse_address_says_why_and_where(text: str, reason: str, position: int | None) -> None:
    with pytest.raises(InputError) as caught:
        parse_address(text)
    assert caught.value.key == "address.invalid"
    assert caught.value.values == {"reason": reason, "position": position}


def test_input_error_reads_as_its_evidence() -> None:
    inner = InputError("usage.not_domain", text="x y")
    assert str(InputError("usage.line", line=2, error=inner)) == (
        "usage.line: line 2, error usage.not_domain: text 'x y'"
    )
    assert isinstance(inner, ValueError)
