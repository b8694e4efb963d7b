"""The CLI's commands. Each module has ``add_parser(subparsers)`` setting ``run`` on its parser;
``run(args, services)`` returns the exit status (sync or async). A command that composes
processes (``serve``, ``sink``, ``worker``, ``migrate``) takes the settings instead of the
services (``services=True`` on its parser says which).
"""

from __future__ import annotations

from types import ModuleType

from maildiag.commands import (
    accounts,
    authenticate,
    checklist,
    headers,
    lab,
    migrate,
    ready,
    recipient,
    reports,
    scan,
    sender,
    spf,
    testsend,
    watch,
    worker,
)

COMMANDS: tuple[ModuleType, ...] = (
    spf,
    authenticate,
    sender,
    worker,
    migrate,
    recipient,
    headers,
    checklist,
    testsend,
    scan,
    accounts,
    ready,
    reports,
    watch,
    lab,
)

__all__ = ["COMMANDS"]
