"""Accounts outside the lab: ``maildiag accounts`` and its service. A new account has no
password until its owner sets one through the set-password mail (the reset flow's token and
link, through the real outbox, worker and sink); imports are streamed and idempotent; every
change is audited; a disabled account can neither sign in nor get reset mail."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

import reset
from maildiag.cli import build_parser, main
from maildiag.db import create_engine, migrate
from maildiag.services import account_admin as admin
from maildiag.services.accounts import ResetServices, build_reset_services
from maildiag.settings import Settings
from tests.maildiag import test_reset_outbox as outbox_tests
from tests.maildiag.test_outbox_workers import postgres_schema_url
from tests.maildiag.test_reset_outbox import Stack, _link
from tests.maildiag.test_reset_support import CHEAP_HASHER, NEW_PASSWORD, reset_env

OPERATOR = "cli:tester"
lab_keys = outbox_tests.lab_keys  # fixtures: the lab's keys, and the outbox worker and sink
mail_stack = outbox_tests.stack


def _audit(stack_or_env: object) -> list[tuple[str, str, str]]:
    svc = stack_or_env.env.svc if isinstance(stack_or_env, Stack) else stack_or_env.svc  # type: ignore[attr-defined]
    return [(a.actor, a.action, a.address) for a in reversed(admin.audit_trail(svc))]


async def test_a_new_account_sets_its_password_through_the_reset_mail(mail_stack: Stack) -> None:
    stack = mail_stack
    svc = stack.env.svc
    wanted = admin.invitation("Ny.Bruker@kunde-ok.example", "support", "en")
    admin.add_account(svc, wanted, actor=OPERATOR)
    assert not stack.env.password_ok("ny.bruker@kunde-ok.example", "")  # no password yet
    async with stack.sink() as sink:
        assert await stack.worker.run_once() == 1
        [mail] = list(await asyncio.to_thread(sink.store.list, to="Ny.Bruker@kunde-ok.example"))
    message = email.message_from_bytes(mail.raw, policy=email.policy.default)
    assert message["Subject"] == "Set the password for your new account"
    link = _link(mail.raw)
    token = link.rpartition("=")[2]
    data = {
        "csrf_token": await stack.env.csrf(link.removeprefix("http://konto.visma.example")),
        "token": token,
        "password": NEW_PASSWORD,
        "confirmation": NEW_PASSWORD,
    }
    done = await stack.env.client.post("/reset-password", data=data)
    assert done.status_code in (200, 303)
    assert stack.env.password_ok("ny.bruker@kunde-ok.example", NEW_PASSWORD)
    assert _audit(stack)[-1] == (OPERATOR, "add", "Ny.Bruker@kunde-ok.example")
    [row] = [r for r in stack.rows() if r.kind == "reset_request"]
    assert row.status == "sent"


def test_no_command_takes_a_password() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["accounts", "add", "a@b.example", "--password", "x"])


async def test_import_is_idempotent_and_reports_bad_rows(tmp_path: Path) -> None:
    csv = (
        "address,role,lang\n"
        "kari@a.example\n"
        "per@b.example,admin,en\n"
        "not-an-address\n"
        "x@y.example,boss\n"
        "\n"
        "KARI@a.example\n"
        "a@b.example,user,nb,extra\n" + "z" * 2000 + "@c.example\n"
        "ola@c.example,support\n"
    ).encode()
    async with reset_env(tmp_path) as env:
        refused: list[tuple[int, str]] = []

        def run() -> admin.ImportReport:
            return admin.import_accounts(
                env.svc,
                io.BytesIO(csv),
                actor=OPERATOR,
                source="users.csv",
                on_refused=lambda bad: refused.append((bad.line, bad.reason.key)),
            )

        first = run()
        assert (first.added, first.unchanged, first.refused) == (3, 1, 4)
        assert refused == [
            (4, "address.invalid"),
            (5, "accounts.bad_role"),
            (8, "accounts.too_many_fields"),
            (9, "accounts.line_too_long"),
        ]
        outbox_before = len(env.outbox())
        second = run()
        assert (second.added, second.unchanged, second.refused) == (0, 4, 4)
        assert len(env.outbox()) == outbox_before == 3
        rows = {r.email: (r.role, r.language) for r in admin.iter_accounts(env.svc)}
        assert rows == {
            "kari@a.example": ("user", "nb"),
            "per@b.example": ("admin", "en"),
            "ola@c.example": ("support", "nb"),
        }
        assert [a[1:] for a in _audit(env)] == [("import", "users.csv")] * 2


def _cli(tmp_path: Path, *args: str) -> int:
    return main(["--lang", "en", "accounts", "--data", str(tmp_path), *args])


def test_cli_changes_are_audited_and_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'maildiag.sqlite3'}")
    migrate(engine)
    assert _cli(tmp_path, "add", "kari@kunde-ok.example", "--role", "support") == 0
    assert "set-password mail is queued" in capsys.readouterr().out
    for args in (
        ("add", "kari@kunde-ok.example"),
        ("add", "not an address"),
        ("role", "nobody@kunde-ok.example", "admin"),
        ("delete", "nobody@kunde-ok.example"),
        ("import", str(tmp_path / "missing.csv")),
    ):
        assert _cli(tmp_path, *args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("maildiag: error: "), err
        assert err.count("\n") == 1, err
    assert _cli(tmp_path, "role", "kari@kunde-ok.example", "admin") == 0
    assert _cli(tmp_path, "disable", "kari@kunde-ok.example") == 0
    assert _cli(tmp_path, "list", "--json") == 0
    listed = capsys.readouterr().out.splitlines()[-1]
    assert '"role": "admin"' in listed
    assert '"disabled": true' in listed
    assert _cli(tmp_path, "delete", "kari@kunde-ok.example") == 0
    with engine.connect() as conn:
        actions = conn.execute(
            select(reset.AccountAudit.action, reset.AccountAudit.detail).order_by(
                reset.AccountAudit.id
            )
        ).all()
        assert conn.execute(select(reset.User)).all() == []
    engine.dispose()
    assert [a for a, _ in actions] == ["add", "role", "disable", "delete"]
    assert actions[1][1] == "support -> admin"


async def test_a_disabled_account_cannot_sign_in_or_get_reset_mail(tmp_path: Path) -> None:
    async with reset_env(tmp_path) as env:
        env.add_user("kari@kunde-ok.example")
        with env.svc.sessions() as session, session.begin():
            user = reset.find_user(session, "kari@kunde-ok.example")
            assert user is not None
            live = reset.start_session(session, user, now=env.svc.clock())
        admin.disable_account(env.svc, "kari@kunde-ok.example", actor=OPERATOR)
        assert not env.password_ok("kari@kunde-ok.example", "Gammel#Passord1")
        with env.svc.sessions() as session:
            assert reset.session_user(session, live, now=env.svc.clock()) is None
        await env.forgot("kari@kunde-ok.example")
        [row] = env.outbox()
        job = reset.OutboxJob.from_row(row)
        composer = reset.MailComposer(
            public_base_url="http://x.example", sender="a@b.example", bounce_domain="b.example"
        )
        with env.svc.sessions() as session, session.begin():
            assert reset.prepare_reset_mail(session, job, composer, now=env.svc.clock()) is None
        admin.enable_account(env.svc, "kari@kunde-ok.example", actor=OPERATOR)
        assert env.password_ok("kari@kunde-ok.example", "Gammel#Passord1")


_MEMORY_PROBE = textwrap.dedent(
    """
    import io, resource, sys
    import reset
    from maildiag.db import create_engine, migrate
    from maildiag.services import account_admin as admin
    from maildiag.services.accounts import build_reset_services
    from maildiag.settings import Settings

    def rows(prefix, n):
        for i in range(n):
            yield f"{prefix}{i}@domain{i % 500}.example,user,nb\\n".encode()

    class Lines(io.RawIOBase):  # the CSV is made as it is read: only the import may grow
        def __init__(self, prefix, n):
            self._rows, self._rest = rows(prefix, n), b""
        def readable(self):
            return True
        def readinto(self, buffer):
            while len(self._rest) < len(buffer):
                more = next(self._rows, None)
                if more is None:
                    break
                self._rest += more
            size = min(len(buffer), len(self._rest))
            buffer[:size], self._rest = self._rest[:size], self._rest[size:]
            return size

    settings = Settings(data_dir=sys.argv[1])
    engine = create_engine(settings.database)
    migrate(engine)
    cheap = reset.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    svc = build_reset_services(settings, engine=engine, hasher=cheap)
    def load(prefix, n):
        handle = io.BufferedReader(Lines(prefix, n))
        return admin.import_accounts(svc, handle, actor="t", source=prefix)
    assert load("warm", 2_000).added == 2_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert load("bulk", int(sys.argv[2])).added == int(sys.argv[2])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(before, after)
    """
)


def test_an_import_of_100000_rows_runs_in_constant_memory(tmp_path: Path) -> None:
    """Peak RSS (a high-water mark, so no sampling and no clock) after importing 100,000
    rows is within a few MiB of the peak after a 2,000-row warm-up."""
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(tmp_path), "100000"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    before_kib, after_kib = map(int, done.stdout.split())
    assert after_kib - before_kib < 8 * 1024, (before_kib, after_kib)


@pytest.fixture
def postgres_services(tmp_path: Path) -> Iterator[ResetServices]:
    """The account services on a throw-away, migrated PostgreSQL schema."""
    urls = postgres_schema_url(f"accounts_{uuid.uuid4().hex[:12]}")
    engine = sa.create_engine(next(urls))
    migrate(engine)
    svc = build_reset_services(Settings(data_dir=tmp_path), engine=engine, hasher=CHEAP_HASHER)
    try:
        yield svc
    finally:
        engine.dispose()
        next(urls, None)  # drops the schema


def test_import_and_changes_on_postgresql(postgres_services: ResetServices) -> None:
    svc = postgres_services
    rows = b"".join(b"user%d@kunde-ok.example,user,en\n" % i for i in range(2_500))
    first = admin.import_accounts(svc, io.BytesIO(rows), actor=OPERATOR, source="a.csv")
    again = admin.import_accounts(svc, io.BytesIO(rows), actor=OPERATOR, source="a.csv")
    assert (first.added, again.added, again.unchanged) == (2_500, 0, 2_500)
    admin.change_role(svc, "USER7@kunde-ok.example", "support", actor=OPERATOR)
    admin.disable_account(svc, "user8@kunde-ok.example", actor=OPERATOR)
    admin.delete_account(svc, "user9@kunde-ok.example", actor=OPERATOR)
    last, total = admin.account_page(svc, search="user7", page=3)
    assert total == 111  # user7, user70..79, user700..799
    assert len(last) == 11
    assert (last[-1].email, last[-1].role) == ("user7@kunde-ok.example", "support")
    assert sum(1 for _ in admin.iter_accounts(svc)) == 2_499
    assert [a.action for a in admin.audit_trail(svc, limit=10)] == [
        "delete",
        "disable",
        "role",
        "import",
        "import",
    ]
