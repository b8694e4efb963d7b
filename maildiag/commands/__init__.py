"""The CLI's commands. Each module has ``add_parser(subparsers)`` setting ``run`` on its parser;
``run(args, settings)`` returns the exit status (sync or async).
"""

from __future__ import annotations

from types import ModuleType

from maildiag.commands import (
    authenticate,
    checklist,
    headers,
    migrate,
    recipient,
    scan,
    sender,
    serve,
    sink,
    spf,
    testsend,
    worker,
)

COMMANDS: tuple[ModuleType, ...] = (
    spf,
    serve,
    authenticate,
    sender,
    sink,
    worker,
    migrate,
    recipient,
    headers,
    checklist,
    testsend,
    scan,
)

__all__ = ["COMMANDS"]
