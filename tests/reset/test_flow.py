"""The forgot-password flow: equal work for every address, and completing a reset."""

from __future__ import annotations

import datetime as dt
import email
import json
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

import reset

PASSWORD = "Kx7#vQ2!mZ"


@pytest.fixture
def kari(db: Session, hasher: reset.PasswordHasher, now: dt.datetime) -> reset.User:
    user = reset.create_user(db, "Kari@kunde-ok.example", "Demo#2026lab", hasher=hasher, now=now)
    db.commit()
    return user


class StatementLog:
    def __init__(self, engine: Engine) -> None:
        self.statements: list[str] = []
        self.engine = engine

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)


@pytest.fixture
def statements(engine: Engine) -> Iterator[StatementLog]:
    log = StatementLog(engine)
    event.listen(engine, "before_cursor_execute", log)
    yield log
    event.remove(engine, "before_cursor_execute", log)


def test_known_and_unknown_addresses_do_identical_work(
    db: Session, kari: reset.User, now: dt.datetime, statements: StatementLog
) -> None:
    runs: list[list[str]] = []
    for address in ("KARI@kunde-ok.example", "nobody@kunde-ok.example"):
        statements.statements.clear()
        result = reset.request_reset(db, address, now=now, language="nb")  # type: ignore[func-returns-value]
        assert result is None
        db.commit()
        runs.append(list(statements.statements))
    assert runs[0] == runs[1]
    assert runs[0]
    assert not any("users" in s for s in runs[0])  # the request path never reads accounts
    rows = db.scalars(select(reset.OutboxMessage).order_by(reset.OutboxMessage.id)).all()
    assert [(r.kind, r.recipient, r.status) for r in rows] == [
        ("reset_request", "KARI@kunde-ok.example", "queued"),
        ("reset_request", "nobody@kunde-ok.example", "queued"),
    ]
    assert all(r.raw is None for r in rows)
    assert json.loads(rows[0].payload) == {"language": "nb"}


def test_garbage_is_refused_before_any_work(db: Session, now: dt.datetime) -> None:
    with pytest.raises(reset.InvalidAddressError):
        reset.request_reset(db, "not an address", now=now)
    assert db.scalars(select(reset.OutboxMessage)).all() == []


def test_worker_step_discards_unknown_and_mails_known(
    db: Session, kari: reset.User, now: dt.datetime
) -> None:
    composer = reset.MailComposer(
        public_base_url="https://reset.visma.example",
        sender="do.not.reply@connect.visma.com",
        bounce_domain="bounce.example",
    )
    reset.request_reset(db, "nobody@kunde-ok.example", now=now)
    reset.request_reset(db, "kari@KUNDE-OK.example", now=now, language="en")
    jobs = [reset.OutboxJob.from_row(r) for r in reset.claim_batch(db, 10, now)]
    assert reset.prepare_reset_mail(db, jobs[0], composer, now=now) is None
    mail = reset.prepare_reset_mail(db, jobs[1], composer, now=now)
    assert mail is not None
    assert mail.recipient == "Kari@kunde-ok.example"
    assert b"Reset your password" in mail.raw
    row = db.get(reset.OutboxMessage, jobs[1].id)
    assert row is not None
    assert row.raw == mail.redacted
    assert row.message_id == mail.message_id
    token = link_token(mail.raw)
    assert reset.peek_token(db, token, now=now) == kari.id


def link_token(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"/reset-password\?token=([A-Za-z0-9_-]+)", body.get_content())
    assert found is not None
    return found.group(1)


def issue(db: Session, user: reset.User, now: dt.datetime) -> str:
    return reset.issue_token(db, user.id, now=now).secret.reveal()


def test_complete_reset(
    db: Session,
    kari: reset.User,
    now: dt.datetime,
    hasher: reset.PasswordHasher,
    policy: reset.PasswordPolicy,
) -> None:
    s1 = reset.start_session(db, kari, now=now)
    reset.start_session(db, kari, now=now)
    token = issue(db, kari, now)
    assert reset.user_for_token(db, token, now=now) is kari
    later = now + dt.timedelta(minutes=10)
    outcome = reset.complete_reset(
        db, token, PASSWORD, PASSWORD, now=later, policy=policy, hasher=hasher
    )
    db.commit()
    assert outcome.user_id == kari.id
    assert outcome.sessions_ended == 2
    db.expire_all()
    assert reset.session_user(db, s1, now=later) is None
    assert reset.authenticate(db, "kari@kunde-ok.example", PASSWORD, hasher=hasher) is kari
    assert kari.password_changed_at == later
    notice = db.get(reset.OutboxMessage, outcome.notice_outbox_id)
    assert notice is not None
    assert (notice.kind, notice.recipient, notice.status) == (
        "password_changed",
        "Kari@kunde-ok.example",
        "queued",
    )
    with pytest.raises(reset.TokenError) as info:
        reset.complete_reset(db, token, PASSWORD, PASSWORD, now=later, policy=policy, hasher=hasher)
    assert info.value.reason == "used"


def test_a_refused_password_leaves_the_link_usable(
    db: Session,
    kari: reset.User,
    now: dt.datetime,
    hasher: reset.PasswordHasher,
    policy: reset.PasswordPolicy,
) -> None:
    token = issue(db, kari, now)
    with pytest.raises(reset.PolicyViolationError) as info:
        reset.complete_reset(db, token, "short", "short", now=now, policy=policy, hasher=hasher)
    assert set(info.value.report.failed) >= {"length", "upper", "digit", "special"}
    with pytest.raises(reset.PolicyViolationError) as info:
        reset.complete_reset(
            db, token, PASSWORD, PASSWORD + "x", now=now, policy=policy, hasher=hasher
        )
    assert info.value.report.failed == ("confirmation",)
    with pytest.raises(reset.PolicyViolationError) as info:
        reset.complete_reset(
            db, token, "Kari#2026x", "Kari#2026x", now=now, policy=policy, hasher=hasher
        )
    assert info.value.report.failed == ("context",)
    assert reset.peek_token(db, token, now=now) == kari.id
    assert PASSWORD not in str(info.value)


def test_expired_token_is_refused(
    db: Session,
    kari: reset.User,
    now: dt.datetime,
    hasher: reset.PasswordHasher,
    policy: reset.PasswordPolicy,
) -> None:
    token = issue(db, kari, now)
    with pytest.raises(reset.TokenError) as info:
        reset.complete_reset(
            db,
            token,
            PASSWORD,
            PASSWORD,
            now=now + dt.timedelta(hours=1),
            policy=policy,
            hasher=hasher,
        )
    assert info.value.reason == "expired"


def test_a_change_invalidates_all_tokens_and_keeps_the_current_session(
    db: Session,
    kari: reset.User,
    now: dt.datetime,
    hasher: reset.PasswordHasher,
    policy: reset.PasswordPolicy,
) -> None:
    current = reset.start_session(db, kari, now=now)
    other = reset.start_session(db, kari, now=now)
    token = issue(db, kari, now)
    outcome = reset.change_password(
        db, kari, PASSWORD, PASSWORD, now=now, policy=policy, hasher=hasher, keep_session=current
    )
    assert outcome.sessions_ended == 1
    db.expire_all()
    assert reset.peek_token(db, token, now=now) is None
    assert reset.session_user(db, current, now=now) is kari
    assert reset.session_user(db, other, now=now) is None
