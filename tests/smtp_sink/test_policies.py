"""Policy parsing, files, precedence, run-time changes and greylist counting (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtp_sink import (
    MAILBOX_FULL,
    MAX_DELAY,
    MAX_GREYLIST_ATTEMPTS,
    MAX_LIST_ENTRIES,
    MAX_WINDOW,
    SENDER_BLOCKED,
    USER_UNKNOWN,
    Action,
    ConfigError,
    Greylist,
    Policy,
    PolicyBook,
    Reply,
    Stage,
    load_policies,
    parse_policies,
    parse_policy,
    parse_reply,
)

TOML = """
[default]
action = "accept"

[domains."kunde-blokkerer.example"]
preset = "sender_blocked"
senders = ["do.not.reply@platform.visma.com", "do.not.reply@connect.visma.com"]

[domains."kunde-greylist.example"]
action = "greylist"
greylist_attempts = 1
greylist_window = 600

[domains."kunde-ukjent.example"]
action = "accept"

[addresses."kari@kunde-ukjent.example"]
preset = "user_unknown"

[domains."kunde-spam.example"]
action = "junk_unless_allowlisted"
allowlist = ["trusted.example", "boss@partner.example"]

[domains."kunde-sprett.example"]
action = "accept_then_bounce"
bounce_delay = 60
"""

YAML = """
domains:
  kunde-full.example:
    action: reject
    reply: "552 5.2.2 Mailbox full"
    delay: 0.5
    delay_stage: data
addresses:
  flaky@kunde-ok.example:
    tempfail_probability: 0.25
"""


def test_load_toml(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text(TOML)
    book = load_policies(path)
    blocked = book.for_recipient("kari@KUNDE-BLOKKERER.example")
    assert (blocked.action, blocked.stage, blocked.reply) == (
        Action.REJECT,
        Stage.MAIL,
        SENDER_BLOCKED,
    )
    assert blocked.applies_to_sender("Do.Not.Reply@platform.visma.com")
    assert not blocked.applies_to_sender("someone@else.example")
    assert book.for_recipient("kari@kunde-ukjent.example").reply == USER_UNKNOWN
    assert book.for_recipient("ola@kunde-ukjent.example").action is Action.ACCEPT
    assert book.for_recipient("x@kunde-greylist.example").greylist_window == 600
    spam = book.for_recipient("kari@kunde-spam.example")
    assert spam.allowlisted("anyone@trusted.example")
    assert spam.allowlisted("BOSS@partner.example")
    assert not spam.allowlisted("other@partner.example")
    assert book.for_recipient("kari@kunde-sprett.example").action is Action.ACCEPT_THEN_BOUNCE
    assert book.for_recipient("kari@unknown.example") == Policy()


def test_load_yaml(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(YAML)
    book = load_policies(path)
    full = book.for_recipient("a@kunde-full.example")
    assert full.reply == MAILBOX_FULL
    assert (full.delay, full.delay_stage) == (0.5, Stage.DATA)
    assert book.for_recipient("flaky@kunde-ok.example").tempfail_probability == 0.25


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"domains": {"x.example": {"action": "explode"}}}, "domains.x.example.action"),
        ({"domains": {"x.example": {"colour": "red"}}}, "domains.x.example.colour"),
        ({"domains": {"x.example": {"reply": "550 blocked"}}}, "domains.x.example.reply"),
        (
            {"domains": {"x.example": {"tempfail_probability": 2}}},
            "domains.x.example.tempfail_probability",
        ),
        ({"domains": {"x.example": {"delay": "soon"}}}, "domains.x.example.delay"),
        ({"domains": {"x.example": {"preset": "nope"}}}, "domains.x.example.preset"),
        ({"domains": {"x.example": "reject"}}, "domains.x.example"),
        ({"rules": {}}, ""),
    ],
)
def test_bad_entries_name_their_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policies(data, source="policies.toml")
    assert info.value.key == key
    assert str(info.value).startswith("policies.toml")


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("[domains\n")
    with pytest.raises(ConfigError):
        load_policies(bad)
    with pytest.raises(ConfigError):
        load_policies(tmp_path / "missing.yaml")
    other = tmp_path / "p.json"
    other.write_text("{}")
    with pytest.raises(ConfigError):
        load_policies(other)


def test_parse_reply() -> None:
    assert parse_reply("550 5.7.1 sender blocked") == Reply(550, "5.7.1", "sender blocked")
    for bad in ("550", "550 4.7.1 mismatched class", "650 6.0.0 no", "hello"):
        with pytest.raises(ConfigError):
            parse_reply(bad)


def test_address_beats_domain_and_runtime_changes() -> None:
    book = PolicyBook()
    book.set_domain("Kunde.example", parse_policy({"preset": "mailbox_full"}))
    book.set_address("kari@kunde.example", Policy())
    assert book.for_recipient("ola@kunde.example").reply == MAILBOX_FULL
    assert book.for_recipient("KARI@kunde.example").action is Action.ACCEPT
    book.remove_address("kari@kunde.example")
    assert book.for_recipient("kari@kunde.example").reply == MAILBOX_FULL
    book.remove_domain("kunde.example")
    assert book.for_recipient("kari@kunde.example") == Policy()
    book.remove_domain("never.example")  # no error
    assert book.as_json()["domains"] == {}


def test_as_json_round_trip() -> None:
    policy = parse_policy({"preset": "sender_blocked", "senders": ["a@b.example"]})
    book = PolicyBook(domains={"x.example": policy})
    data = book.as_json()
    entry = data["domains"]["x.example"]
    assert entry["reply"] == "550 5.7.1 Sender blocked by recipient policy"
    fields = {k: v for k, v in entry.items() if k in ("action", "stage", "reply", "senders")}
    again = parse_policies({"domains": {"x.example": fields}})
    assert again.for_domain("x.example") == policy


def test_greylist_counts_attempts_within_window() -> None:
    now = [0.0]
    grey = Greylist(clock=lambda: now[0])
    triplet = ("192.0.2.1", "a@x.example", "kari@kunde-greylist.example")
    assert grey.defer(triplet, attempts=2, window=100)
    assert grey.defer(triplet, attempts=2, window=100)
    assert not grey.defer(triplet, attempts=2, window=100)
    assert grey.defer(("192.0.2.2", *triplet[1:]), attempts=2, window=100)
    now[0] = 101.0  # window over: the triplet starts again
    assert grey.defer(triplet, attempts=2, window=100)


@pytest.mark.parametrize(
    ("entry", "sender", "applies"),
    [
        ("do.not.reply@platform.visma.com", "do.not.reply@platform.visma.com", True),
        ("do.not.reply@platform.visma.com", "bounce+7@platform.visma.com", False),
        ("platform.visma.com", "bounce+7@platform.visma.com", True),
        ("@platform.visma.com", "Do.Not.Reply@PLATFORM.visma.com", True),
        ("platform.visma.com", "x@sub.platform.visma.com", False),
        ("platform.visma.com", "x@connect.visma.com", False),
    ],
)
def test_sender_entries_are_addresses_or_domains(entry: str, sender: str, applies: bool) -> None:
    policy = Policy(action=Action.REJECT, senders=(entry,))
    assert policy.applies_to_sender(sender) is applies


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("delay", float("inf")),
        ("delay", float("nan")),
        ("delay", 1e300),
        ("delay", -0.5),
        ("greylist_window", float("inf")),
        ("greylist_window", 1e300),
        ("bounce_delay", float("inf")),
        ("bounce_delay", float("nan")),
        ("tempfail_probability", float("nan")),
        ("tempfail_probability", 1.5),
        ("greylist_attempts", 10**12),
        ("greylist_attempts", float("inf")),
        ("greylist_attempts", True),
        ("delay", "5"),
    ],
)
def test_every_number_is_finite_and_bounded(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policies({"domains": {"x.example": {field: value}}}, source="request")
    assert info.value.key == f"domains.x.example.{field}"


def test_the_bounds_admit_the_useful_range() -> None:
    entry = {
        "delay": MAX_DELAY,
        "greylist_window": MAX_WINDOW,
        "bounce_delay": MAX_WINDOW,
        "greylist_attempts": MAX_GREYLIST_ATTEMPTS,
        "tempfail_probability": 1,
    }
    policy = parse_policy(entry)
    assert (policy.delay, policy.greylist_attempts, policy.tempfail_probability) == (
        MAX_DELAY,
        MAX_GREYLIST_ATTEMPTS,
        1.0,
    )


def test_a_policy_file_cannot_hold_an_infinite_delay(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text('[domains."x.example"]\ndelay = inf\n')
    with pytest.raises(ConfigError) as info:
        load_policies(path)
    assert info.value.key == "domains.x.example.delay"


def test_lists_and_replies_are_bounded() -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy({"senders": ["a@b.example"] * (MAX_LIST_ENTRIES + 1)}, key="d")
    assert info.value.key == "d.senders"
    with pytest.raises(ConfigError) as info:
        parse_policy({"allowlist": ["x" * 1000]}, key="d")
    assert info.value.key.startswith("d.allowlist")
    with pytest.raises(ConfigError) as info:
        parse_policy({"reply": "550 5.7.1 " + "x" * 1000}, key="d")
    assert info.value.key == "d.reply"


def test_a_copy_is_separate_and_replace_with_works_in_place() -> None:
    book = PolicyBook(domains={"a.example": Policy(action=Action.GREYLIST)})
    copy = book.copy()
    copy.set_domain("b.example", Policy())
    assert "b.example" not in book.domains
    live = book.domains
    book.replace_with(PolicyBook(default=Policy(delay=1.0)))
    assert book.domains is live
    assert book.domains == {}
    assert book.default.delay == 1.0
    assert copy.for_domain("a.example").action is Action.GREYLIST
