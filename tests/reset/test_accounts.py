"""Accounts, addresses, sessions, hashes, and the package's public surface."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

import reset


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("Kari.Nordmann@Kunde-OK.Example", "Kari.Nordmann@kunde-ok.example"),
        ("  kari@kunde-ok.example.  ", "kari@kunde-ok.example"),
        ("x+tag@EXAMPLE.com", "x+tag@example.com"),
    ],
)
def test_normalize_lowercases_the_domain_only(given: str, normalized: str) -> None:
    assert reset.normalize_address(given) == normalized


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("no-at-sign", "missing_local_part"),
        ("@example.com", "missing_local_part"),
        ("a b@example.com", "forbidden_character"),
        ("kari@", "bad_domain"),
        ("kari@a..b", "bad_domain"),
        ("a@b@c.example", "forbidden_character"),
        ("x" * 65 + "@example.com", "local_part_too_long"),
        ("k@" + "a" * 260, "too_long"),
        ("kari\r\n@example.com", "forbidden_character"),
    ],
)
def test_bad_addresses_raise_with_a_reason(bad: str, reason: str) -> None:
    with pytest.raises(reset.InvalidAddressError) as info:
        reset.normalize_address(bad)
    assert info.value.reason == reason


def test_address_key_is_case_insensitive() -> None:
    assert reset.address_key("Kari@X.Example") == reset.address_key("kARI@x.example")


def test_users_are_found_case_insensitively(
    db: Session, hasher: reset.PasswordHasher, now: dt.datetime
) -> None:
    user = reset.create_user(db, "Kari@Kunde-OK.example", "Demo#2026lab", hasher=hasher, now=now)
    assert user.email == "Kari@kunde-ok.example"
    assert user.password_hash.startswith("$argon2id$")
    assert reset.find_user(db, "kari@KUNDE-ok.example") is user
    assert reset.find_user(db, "other@kunde-ok.example") is None
    assert reset.find_user(db, "not an address") is None
    with pytest.raises(reset.AccountError) as info:
        reset.create_user(db, "KARI@kunde-ok.example", "x", hasher=hasher, now=now)
    assert info.value.reason == "duplicate"
    # the failed insert did not spoil the session
    assert reset.find_user(db, "kari@kunde-ok.example") is user


def test_roles_and_languages_are_checked(
    db: Session, hasher: reset.PasswordHasher, now: dt.datetime
) -> None:
    with pytest.raises(reset.AccountError):
        reset.create_user(db, "a@b.example", "x", hasher=hasher, now=now, role="root")
    with pytest.raises(reset.AccountError):
        reset.create_user(db, "a@b.example", "x", hasher=hasher, now=now, language="sv")
    staff = reset.create_user(
        db, "support@visma.example", "x", hasher=hasher, now=now, role="support"
    )
    assert staff.role == "support"


def test_authenticate(db: Session, hasher: reset.PasswordHasher, now: dt.datetime) -> None:
    user = reset.create_user(db, "kari@b.example", "Demo#2026lab", hasher=hasher, now=now)
    assert reset.authenticate(db, "KARI@b.example", "Demo#2026lab", hasher=hasher) is user
    assert reset.authenticate(db, "kari@b.example", "wrong", hasher=hasher) is None
    assert reset.authenticate(db, "nobody@b.example", "Demo#2026lab", hasher=hasher) is None


def test_rehash_when_parameters_change(
    db: Session, hasher: reset.PasswordHasher, now: dt.datetime
) -> None:
    user = reset.create_user(db, "kari@b.example", "pw", hasher=hasher, now=now)
    stronger = reset.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    assert stronger.needs_rehash(user.password_hash)
    assert reset.authenticate(db, "kari@b.example", "pw", hasher=stronger) is user
    assert "t=2" in user.password_hash
    assert not stronger.needs_rehash(user.password_hash)
    assert stronger.needs_rehash("not a hash")
    assert not stronger.verify("not a hash", "pw")


def test_sessions_start_resolve_and_end(
    db: Session, hasher: reset.PasswordHasher, now: dt.datetime
) -> None:
    user = reset.create_user(db, "kari@b.example", "pw", hasher=hasher, now=now)
    first = reset.start_session(db, user, now=now)
    second = reset.start_session(db, user, now=now)
    assert "Secret(" in repr(first)
    assert reset.session_user(db, first, now=now) is user
    assert reset.session_user(db, first.reveal(), now=now) is user
    assert reset.session_user(db, "forged", now=now) is None
    late = now + dt.timedelta(hours=9)
    assert reset.session_user(db, first, now=late) is None
    assert reset.end_sessions(db, user.id, now=now, keep=second) == 1
    db.expire_all()
    assert reset.session_user(db, first, now=now) is None
    assert reset.session_user(db, second, now=now) is user


def test_dummy_verification_is_always_false(hasher: reset.PasswordHasher) -> None:
    assert hasher.verify_dummy("anything") is False
    assert "memory_cost=8" in repr(hasher)


def test_public_surface_is_exactly_all() -> None:
    public = {name for name in vars(reset) if not name.startswith("_")}
    modules = {
        "accounts", "admin", "captcha", "delivery", "errors", "flow", "mail", "models", "outbox",
        "passwords", "policy", "ratelimit", "replay", "secret", "siteverify", "tokens", "worker",
    }  # fmt: skip
    assert public - modules == set(reset.__all__)
    for name in reset.__all__:
        assert getattr(reset, name) is not None


def test_tables_live_on_the_package_metadata() -> None:
    assert set(reset.metadata.tables) == {
        "users",
        "sessions",
        "reset_tokens",
        "outbox",
        "delivery_log",
        "account_audit",
    }
