"""The password policy: the seed's five rules, each separately, texts, common passwords."""

from __future__ import annotations

import dataclasses

import pytest

import reset
from reset.policy import load_common_passwords

SEED_NB = [
    "Minimum 8 tegn",
    "Minimum 1 store tegn",
    "Minimum 1 små tegn",
    "Minimum 1 numeriske tegn",
    "Minimum 1 spesialtegn",
]


def failed_rules(report: reset.PolicyReport) -> set[str]:
    return {r.id for r in report.rules if not r.ok}


def test_rule_ids_are_stable_and_ordered() -> None:
    assert reset.RULE_IDS == ("length", "upper", "lower", "digit", "special")


def test_seed_wording_in_norwegian(policy: reset.PasswordPolicy) -> None:
    report = policy.check("")
    assert [text for _id, text, _ok in report.texts("nb")] == SEED_NB
    assert [ok for _id, _text, ok in report.texts("nb")] == [False] * 5


def test_describe_gives_the_page_its_rules(policy: reset.PasswordPolicy) -> None:
    described = policy.describe("nb")
    assert [d["text"] for d in described] == SEED_NB
    assert [(d["id"], d["n"]) for d in described] == [
        ("length", 8),
        ("upper", 1),
        ("lower", 1),
        ("digit", 1),
        ("special", 1),
    ]
    assert policy.describe("en")[0]["text"] == "At least 8 characters"


def test_english_texts_exist_for_every_rule_and_check() -> None:
    for rule_id in (*reset.RULE_IDS, *reset.CHECK_IDS):
        assert reset.rule_text(rule_id, "en", 2)
        assert reset.rule_text(rule_id, "nb", 2)


@pytest.mark.parametrize(
    ("password", "failing"),
    [
        ("Ab1!efg", {"length"}),
        ("abcdefg1!x", {"upper"}),
        ("ABCDEFG1!X", {"lower"}),
        ("Abcdefgh!x", {"digit"}),
        ("Abcdefgh1x", {"special"}),
        ("", {"length", "upper", "lower", "digit", "special"}),
        ("ÆØÅæøå9#", set()),  # Norwegian letters count as upper and lower case
        ("Kx7#vQ2!mZ", set()),
    ],
)
def test_each_rule_is_reported_separately(
    policy: reset.PasswordPolicy, password: str, failing: set[str]
) -> None:
    assert failed_rules(policy.check(password)) == failing


def test_a_space_is_not_a_special_character(policy: reset.PasswordPolicy) -> None:
    assert failed_rules(policy.check("Abc defg1")) == {"special"}


def test_confirmation_must_match(policy: reset.PasswordPolicy) -> None:
    report = policy.check("Kx7#vQ2!mZ", "Kx7#vQ2!mz")
    assert report.failed == ("confirmation",)
    assert not report.ok
    assert policy.check("Kx7#vQ2!mZ", "Kx7#vQ2!mZ").ok


@pytest.mark.parametrize("password", ["Password1!", "Qwerty123!", "Passw0rd!", "Iloveyou1!"])
def test_common_passwords_are_refused_although_they_meet_the_rules(
    policy: reset.PasswordPolicy, password: str
) -> None:
    report = policy.check(password)
    assert failed_rules(report) == set()
    assert "common" in report.failed


def test_the_common_list_comes_from_the_installed_package() -> None:
    words = load_common_passwords()
    assert len(words) > 20_000
    assert {"123456", "password", "qwerty"} <= words


def test_context_words_are_refused(policy: reset.PasswordPolicy) -> None:
    report = policy.check("Mari.Barlund#7", context=("mari.barlund", "visma"))
    assert report.failed == ("context",)
    assert policy.check("Kx7#vQ2!mZ", context=("ab", "visma")).ok


def test_too_long_is_refused(policy: reset.PasswordPolicy) -> None:
    assert "max_length" in policy.check("Kx7#vQ2!mZ" * 20).failed


def test_policy_is_configurable() -> None:
    strict = reset.PasswordPolicy(min_length=12, min_digit=2, common=frozenset())
    report = strict.check("Password1!")
    assert failed_rules(report) == {"length", "digit"}
    assert "common" not in report.failed
    assert [t for _i, t, _o in report.texts("nb")][:4] == [
        "Minimum 12 tegn",
        "Minimum 1 store tegn",
        "Minimum 1 små tegn",
        "Minimum 2 numeriske tegn",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        strict.min_length = 4  # type: ignore[misc]


def test_policy_repr_does_not_dump_the_word_list(policy: reset.PasswordPolicy) -> None:
    assert len(repr(policy)) < 200
