"""``maildiag accounts``: add, import, list, change the role of, disable and delete accounts.

A new account gets no password here: the set-password mail (the reset flow's token and link)
is queued in the outbox, for the worker to send. Every change is audited with the operator's
login name as ``cli:<user>``. Bad input exits 2 with one line; an import that refused some
rows reports each (line number and reason) on stderr, goes on, and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.exc import SQLAlchemyError

import reset
from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.services import account_admin as admin
from maildiag.services.accounts import ResetServices, build_reset_services
from maildiag.services.wording import reason, text
from maildiag.settings import Settings

ACTIONS = ("add", "import", "list", "role", "enable", "disable", "delete")


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("accounts", help="add, import, list and change accounts")
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    add = actions.add_parser("add", help="add an account; it gets a set-password mail")
    add.add_argument("address")
    add.add_argument("--role", choices=reset.ROLES, default="user")
    add.add_argument("--lang", dest="account_lang", choices=reset.LANGUAGES, default="nb")
    load = actions.add_parser(
        "import", help="add the accounts of a CSV file (ADDRESS[,ROLE[,LANG]])"
    )
    load.add_argument("file", help="CSV file (- for stdin)")
    listing = actions.add_parser("list", help="list the accounts")
    listing.add_argument("--search", default="", help="only addresses containing this text")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    role = actions.add_parser("role", help="change an account's role")
    role.add_argument("address")
    role.add_argument("role", choices=reset.ROLES)
    for name, help_text in (
        ("enable", "let a disabled account sign in again"),
        ("disable", "stop an account from signing in and getting reset mail"),
        ("delete", "delete an account"),
    ):
        actions.add_parser(name, help=help_text).add_argument("address")
    parser.set_defaults(run=run)


def actor() -> str:
    """Who runs the command, as the audit records it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.data is not None:
        settings = settings.model_copy(update={"data_dir": args.data})
    lang = args.lang or settings.lang
    svc = build_reset_services(settings)
    try:
        return _dispatch(args, svc, lang)
    except SQLAlchemyError as exc:
        raise InputError("accounts.no_database", detail=type(exc).__name__) from exc
    finally:
        await svc.aclose()


def _dispatch(args: argparse.Namespace, svc: ResetServices, lang: str) -> int:
    who = actor()
    address = getattr(args, "address", "")
    if args.action == "import":
        return _import(svc, args.file, lang, who)
    if args.action == "list":
        return _list(svc, args.search, lang, as_json=args.json)
    if args.action == "add":
        wanted = admin.invitation(address, args.role, args.account_lang)
        admin.add_account(svc, wanted, actor=who)
        print(text("accounts.cli.added", lang, address=wanted.email, role=wanted.role))
        return 0
    if args.action == "role":
        admin.change_role(svc, address, args.role, actor=who)
    else:
        {"enable": admin.enable_account, "disable": admin.disable_account}.get(
            args.action, admin.delete_account
        )(svc, address, actor=who)
    print(
        text(f"accounts.cli.{args.action}", lang, address=address, role=getattr(args, "role", ""))
    )
    return 0


@contextlib.contextmanager
def _opened(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise InputError("usage.cannot_read", path=path, detail=str(exc.strerror or exc)) from exc
    with handle:
        yield handle


def _import(svc: ResetServices, path: str, lang: str, who: str) -> int:
    def refused(bad: admin.BadRow) -> None:
        print(
            text("usage.line", lang, line=bad.line, error=reason(bad.reason, lang)), file=sys.stderr
        )

    with _opened(path) as handle:
        report = admin.import_accounts(
            svc,
            handle,
            actor=who,
            source=Path(path).name if path != "-" else "stdin",
            on_refused=refused,
        )
    print(
        text(
            "accounts.cli.imported",
            lang,
            added=report.added,
            unchanged=report.unchanged,
            refused=report.refused,
        )
    )
    return 1 if report.refused else 0


def _list(svc: ResetServices, search: str, lang: str, *, as_json: bool) -> int:
    for row in admin.iter_accounts(svc, search=search):
        if as_json:
            print(
                json.dumps(
                    {
                        "address": row.email,
                        "role": row.role,
                        "language": row.language,
                        "created": row.created.isoformat(),
                        "disabled": row.disabled,
                        "password_set": row.password_set,
                    }
                )
            )
        else:
            state = "disabled" if row.disabled else "active" if row.password_set else "invited"
            print(
                f"{row.email}\t{row.role}\t{row.language}\t{text(f'accounts.state.{state}', lang)}"
            )
    return 0
