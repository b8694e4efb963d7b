"""Account administration for the ``maildiag accounts`` commands and ``/admin/accounts``:
add (no password; a set-password mail is queued), import a CSV file streamed, list and
search, change the role, disable, delete, and the audit of who changed what and when.

Every change is audited in the same transaction that makes it. Refusals are
``diag.errors.InputError``, which the CLI words as exit 2 and the page as a 4xx. Synchronous:
the page runs these in a worker thread.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

import reset
from diag.errors import InputError
from maildiag.services.accounts import ResetServices, transaction
from maildiag.services.inputs import clean_address

IMPORT_BATCH = 1_000  # rows per transaction of an import: memory stays flat, progress is kept
MAX_IMPORT_LINE = 1_024  # bytes; an address is at most 254
PAGE_SIZE = 50


@dataclasses.dataclass(frozen=True)
class AccountRow:
    """An account as an operator sees it (no hash, no sessions)."""

    email: str
    role: str
    language: str
    created: dt.datetime
    disabled: bool
    password_set: bool

    @classmethod
    def of(cls, user: reset.User) -> AccountRow:
        return cls(
            user.email,
            user.role,
            user.language,
            user.created,
            user.disabled_at is not None,
            reset.has_password(user),
        )


@dataclasses.dataclass(frozen=True)
class AuditRow:
    """One audited change: when, who, what, to which account, and its detail."""

    at: dt.datetime
    actor: str
    action: str
    address: str
    detail: str


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A row of an import that was refused: its line number and why."""

    line: int
    reason: InputError


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What an import did: accounts added, rows that named an existing account, rows refused."""

    added: int
    unchanged: int
    refused: int


def _account_error(exc: reset.AccountError, address: str) -> InputError:
    return InputError(f"accounts.{exc.reason}", address=address, detail=exc.detail)


def _option(value: str, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise InputError(key, value=value, allowed=", ".join(allowed))
    return value


def invitation(address: str, role: str = "user", language: str = "nb") -> reset.Invitation:
    """A checked account to add. Raises InputError (address, role or language)."""
    email = clean_address(address)
    _option(role, reset.ROLES, "accounts.bad_role")
    _option(language, reset.LANGUAGES, "accounts.bad_language")
    return reset.Invitation(email, role, language)


def _change(
    svc: ResetServices, actor: str, action: str, address: str, work: Callable[[Session], str]
) -> None:
    def run(session: Session) -> None:
        detail = work(session)
        reset.audit(
            session, actor=actor, action=action, address=address, now=svc.clock(), detail=detail
        )

    try:
        transaction(svc, run)
    except reset.AccountError as exc:
        raise _account_error(exc, address) from None


def add_account(svc: ResetServices, wanted: reset.Invitation, *, actor: str) -> None:
    """Create the account with no password and queue its set-password mail, audited.
    Raises InputError("accounts.duplicate") when the address has an account."""

    def work(session: Session) -> str:
        if not reset.invite(session, [wanted], now=svc.clock()):
            raise reset.AccountError(reason="duplicate", detail=wanted.email)
        return f"role={wanted.role} lang={wanted.language}"

    _change(svc, actor, "add", wanted.email, work)


def change_role(svc: ResetServices, address: str, role: str, *, actor: str) -> None:
    """Give the account ``role``, audited. Raises InputError."""
    _option(role, reset.ROLES, "accounts.bad_role")

    def work(session: Session) -> str:
        old = reset.set_role(session, reset.existing_user(session, address), role)
        return f"{old} -> {role}"

    _change(svc, actor, "role", clean_address(address), work)


def disable_account(svc: ResetServices, address: str, *, actor: str) -> None:
    """Disable the account (no sign-in, no reset mail; its sessions end), audited."""

    def work(session: Session) -> str:
        ended = reset.disable(session, reset.existing_user(session, address), now=svc.clock())
        return f"sessions_ended={ended}"

    _change(svc, actor, "disable", clean_address(address), work)


def enable_account(svc: ResetServices, address: str, *, actor: str) -> None:
    """Let a disabled account sign in and get reset mail again, audited."""

    def work(session: Session) -> str:
        reset.enable(session, reset.existing_user(session, address))
        return ""

    _change(svc, actor, "enable", clean_address(address), work)


def delete_account(svc: ResetServices, address: str, *, actor: str) -> None:
    """Delete the account with its sessions and tokens, audited. Raises InputError."""

    def work(session: Session) -> str:
        reset.remove(session, reset.existing_user(session, address))
        return ""

    _change(svc, actor, "delete", clean_address(address), work)


def _matching(search: str) -> sa.Select[reset.User]:
    query = sa.select(reset.User)
    if search:
        escaped = search.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(reset.User.email_key.like(f"%{escaped}%", escape="\\"))
    return query


def account_page(
    svc: ResetServices, *, search: str = "", page: int = 1, size: int = PAGE_SIZE
) -> tuple[list[AccountRow], int]:
    """One page of accounts whose address contains ``search``, by address, and the total."""

    def work(session: Session) -> tuple[list[AccountRow], int]:
        query = _matching(search)
        total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        rows = session.scalars(
            query.order_by(reset.User.email_key).offset((page - 1) * size).limit(size)
        )
        return [AccountRow.of(user) for user in rows], int(total or 0)

    return transaction(svc, work)


def iter_accounts(svc: ResetServices, *, search: str = "") -> Iterator[AccountRow]:
    """Every account whose address contains ``search``, by address, read a page at a time
    (keyset paging, so memory stays flat however many there are)."""
    after = ""
    while True:

        def work(session: Session, after: str = after) -> list[AccountRow]:
            query = _matching(search).where(reset.User.email_key > after)
            rows = session.scalars(query.order_by(reset.User.email_key).limit(IMPORT_BATCH))
            return [AccountRow.of(user) for user in rows]

        batch = transaction(svc, work)
        yield from batch
        if len(batch) < IMPORT_BATCH:
            return
        after = batch[-1].email.casefold()


def audit_trail(svc: ResetServices, *, limit: int = PAGE_SIZE) -> list[AuditRow]:
    """The newest audited changes, newest first."""

    def work(session: Session) -> list[AuditRow]:
        return [
            AuditRow(a.at, a.actor, a.action, a.address, a.detail)
            for a in reset.audit_trail(session, limit=limit)
        ]

    return transaction(svc, work)


def import_lines(handle: BinaryIO) -> Iterator[tuple[int, list[str] | InputError]]:
    """``(line number, fields)`` of each CSV line of ``handle`` (``ADDRESS[,ROLE[,LANG]]``),
    or the reason the line cannot be read, one line at a time; blank lines, ``#`` comments
    and a header line are skipped. A line longer than MAX_IMPORT_LINE is refused, not read."""
    number = 0
    while line := handle.readline(MAX_IMPORT_LINE + 1):
        number += 1
        if len(line) > MAX_IMPORT_LINE and not line.endswith(b"\n"):
            while (rest := handle.readline(MAX_IMPORT_LINE)) and not rest.endswith(b"\n"):
                pass
            yield number, InputError("accounts.line_too_long", n=MAX_IMPORT_LINE)
            continue
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError as exc:
            yield number, InputError("accounts.not_utf8", byte=exc.start)
            continue
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in next(csv.reader([text]), [])]
        if number == 1 and fields and fields[0].casefold() in ("address", "email", "e-mail"):
            continue
        yield number, fields


def _row_invitation(fields: list[str]) -> reset.Invitation:
    if len(fields) > 3:
        raise InputError("accounts.too_many_fields", n=len(fields))
    address, role, language = [*fields, "", ""][:3]
    return invitation(address, role or "user", language or "nb")


def import_accounts(
    svc: ResetServices,
    handle: BinaryIO,
    *,
    actor: str,
    source: str,
    on_refused: Callable[[BadRow], None] = lambda bad: None,
) -> ImportReport:
    """Add the accounts a CSV file names (``ADDRESS[,ROLE[,LANG]]``), streamed: one batch
    of IMPORT_BATCH rows per transaction, so memory does not grow with the file. An address
    that has an account is left as it is, so importing a file again changes nothing. A bad
    row goes to ``on_refused`` and never stops the others. The import is audited once."""
    added = unchanged = refused = 0
    batch: list[reset.Invitation] = []

    def flush() -> None:
        nonlocal added, unchanged
        if batch:
            created = len(transaction(svc, lambda s: reset.invite(s, batch, now=svc.clock())))
            added, unchanged = added + created, unchanged + len(batch) - created
            batch.clear()

    for number, fields in import_lines(handle):
        try:
            if isinstance(fields, InputError):
                raise fields
            batch.append(_row_invitation(fields))
        except InputError as exc:
            refused += 1
            on_refused(BadRow(number, exc))
        if len(batch) >= IMPORT_BATCH:
            flush()
    flush()
    report = ImportReport(added, unchanged, refused)
    detail = f"added={added} unchanged={unchanged} refused={refused}"
    transaction(
        svc,
        lambda s: reset.audit(
            s, actor=actor, action="import", address=source, now=svc.clock(), detail=detail
        ),
    )
    return report
