"""Reset tokens: hashed at rest, single use (also under concurrency), expiry, redaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import reset


@pytest.fixture
def user(db: Session, hasher: reset.PasswordHasher, now: dt.datetime) -> reset.User:
    user = reset.create_user(db, "kari@kunde-ok.example", "Demo#2026lab", hasher=hasher, now=now)
    db.commit()
    return user


def test_only_the_sha256_is_stored(db: Session, user: reset.User, now: dt.datetime) -> None:
    issued = reset.issue_token(db, user.id, now=now)
    secret = issued.secret.reveal()
    assert len(secret) >= 43  # 32 bytes, URL-safe base64
    stored = db.scalars(select(reset.ResetToken)).one()
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(stored.__dict__)
    assert issued.expires_at == now + dt.timedelta(minutes=30)


def test_peek_never_consumes(db: Session, user: reset.User, now: dt.datetime) -> None:
    issued = reset.issue_token(db, user.id, now=now)
    for _ in range(3):
        assert reset.peek_token(db, issued.secret, now=now) == user.id
    assert reset.consume_token(db, issued.secret.reveal(), now=now) == user.id
    assert reset.peek_token(db, issued.secret, now=now) is None


def test_single_use(db: Session, user: reset.User, now: dt.datetime) -> None:
    issued = reset.issue_token(db, user.id, now=now)
    reset.consume_token(db, issued.secret, now=now)
    with pytest.raises(reset.TokenError) as info:
        reset.consume_token(db, issued.secret, now=now)
    assert info.value.reason == "used"


def test_expiry_is_configurable(db: Session, user: reset.User, now: dt.datetime) -> None:
    issued = reset.issue_token(db, user.id, now=now, ttl=dt.timedelta(minutes=5))
    later = now + dt.timedelta(minutes=5)
    assert reset.peek_token(db, issued.secret, now=later) is None
    with pytest.raises(reset.TokenError) as info:
        reset.consume_token(db, issued.secret, now=later)
    assert info.value.reason == "expired"


@pytest.mark.parametrize("token", ["", "unknown-token", "x" * 5000])
def test_unknown_tokens(db: Session, user: reset.User, now: dt.datetime, token: str) -> None:
    assert reset.peek_token(db, token, now=now) is None
    with pytest.raises(reset.TokenError) as info:
        reset.consume_token(db, token, now=now)
    assert info.value.reason == "unknown"


def test_a_new_token_invalidates_older_ones(
    db: Session, user: reset.User, now: dt.datetime
) -> None:
    old = reset.issue_token(db, user.id, now=now)
    new = reset.issue_token(db, user.id, now=now + dt.timedelta(minutes=1))
    assert reset.peek_token(db, old.secret, now=now) is None
    assert reset.peek_token(db, new.secret, now=now) == user.id


def test_token_state(db: Session, user: reset.User, now: dt.datetime) -> None:
    issued = reset.issue_token(db, user.id, now=now)
    assert reset.token_state(db, issued.secret, now=now) == "usable"
    assert reset.token_state(db, issued.secret, now=now + dt.timedelta(hours=1)) == "expired"
    assert reset.token_state(db, "nope", now=now) == "unknown"
    assert reset.token_state(db, "", now=now) == "unknown"
    reset.consume_token(db, issued.secret, now=now)
    assert reset.token_state(db, issued.secret, now=now) == "used"


def test_invalidate_all(db: Session, user: reset.User, now: dt.datetime) -> None:
    issued = reset.issue_token(db, user.id, now=now)
    assert reset.invalidate_tokens(db, user.id, now=now) == 1
    assert reset.peek_token(db, issued.secret, now=now) is None


def test_concurrent_consumers_exactly_one_wins(
    engine: Engine, hasher: reset.PasswordHasher, now: dt.datetime
) -> None:
    factory = sessionmaker(engine)
    with factory() as session:
        user = reset.create_user(session, "race@kunde-ok.example", "pw", hasher=hasher, now=now)
        token = reset.issue_token(session, user.id, now=now).secret.reveal()
        session.commit()
    consumers = 4
    barrier = threading.Barrier(consumers)
    results: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        with factory() as session:
            barrier.wait()
            try:
                reset.consume_token(session, token, now=now)
                session.commit()
                outcome = "won"
            except reset.TokenError as exc:
                session.rollback()
                outcome = exc.reason
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["used"] * (consumers - 1) + ["won"]


def test_the_token_never_reaches_the_logs(
    db: Session, user: reset.User, now: dt.datetime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    issued = reset.issue_token(db, user.id, now=now)
    secret = issued.secret.reveal()
    logging.getLogger("test").info("issued %s %r", issued.secret, issued)
    logging.getLogger("test").info("formatted %s", f"{issued.secret}")
    reset.peek_token(db, issued.secret, now=now)
    reset.consume_token(db, secret, now=now)
    with pytest.raises(reset.TokenError) as info:
        reset.consume_token(db, secret, now=now)
    logging.getLogger("test").info("error %s", info.value)
    assert caplog.records
    assert secret not in caplog.text
    assert secret not in repr(issued)
    assert secret not in str(issued.secret)


def test_secret_cannot_be_pickled_or_leaked_by_equality() -> None:
    import pickle

    a, b = reset.Secret("same"), reset.Secret("same")
    assert a == b
    assert a != reset.Secret("other")
    assert hash(a) == hash(b)
    with pytest.raises(TypeError):
        pickle.dumps(a)
