"""The ``maildiag`` command line: global options, then one command.

Exit status: 0 when the command ran; 1 when a diagnosis found an error-severity problem;
2 for bad usage or unreadable input, always with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from diag.errors import InputError
from diag.resolver import parse_nameserver
from maildiag import logs
from maildiag.commands import COMMANDS
from maildiag.runtime import serve_command, sink_command
from maildiag.services import build_services
from maildiag.services.wording import reason
from maildiag.settings import Settings, SettingsError, load_settings

PROCESSES = (serve_command, sink_command)  # commands that start servers
EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"maildiag: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="maildiag",
        description="Why reset mails don't arrive, and how to prove it.",
    )
    parser.add_argument(
        "--nameserver",
        action="append",
        metavar="HOST[:PORT]",
        help="send every DNS lookup to this server (repeatable)",
    )
    parser.add_argument("--timeout", type=_positive_float, metavar="SECONDS", help="DNS timeout")
    parser.add_argument("--lang", choices=("nb", "en"), help="language of human output")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug events")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for command in (*COMMANDS, *PROCESSES):
        command.add_parser(commands)
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 600: {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s %(message)s",
    )
    try:
        settings = settings_for(args)
        if settings.log_format == "json" or args.verbose:
            logs.configure(settings.log_format, verbose=args.verbose)
        given = build_services(settings) if getattr(args, "services", False) else settings
        return int(asyncio.run(args.run(args, given)) if _is_async(args) else args.run(args, given))
    except InputError as exc:  # worded in English unless --lang says otherwise
        print(f"maildiag: error: {reason(exc, args.lang or 'en')}", file=sys.stderr)
        return EXIT_USAGE
    except SettingsError as exc:
        print(f"maildiag: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a port that is taken, a directory that can't be written
        print(f"maildiag: error: {exc.strerror or exc}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings a command runs with: the config file, the environment, then the global
    options and the command's ``--data``. A lab's ``lab.toml`` in that data dir is read,
    except by ``serve``, which writes it (a stale one must not steer a new lab).

    Raises SettingsError, and InputError for a ``--nameserver`` that is not HOST[:PORT].
    """
    for given in args.nameserver or ():
        try:
            parse_nameserver(given)
        except ValueError as exc:
            raise InputError("usage.bad_nameserver", detail=str(exc)) from None
    return load_settings(
        args.config,
        nameservers=args.nameserver,
        dns_timeout=args.timeout,
        lang=args.lang,
        data_dir=getattr(args, "data", None),
        running_lab=getattr(args, "reads_running_lab", True),
    )


def _is_async(args: argparse.Namespace) -> bool:
    return asyncio.iscoroutinefunction(args.run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
