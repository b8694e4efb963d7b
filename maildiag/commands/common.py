"""What the CLI's commands share beyond the services: reading input files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TypeAlias

from diag.errors import InputError

# What each command's ``add_parser`` gets: argparse's subparsers action (a string, since the
# class is generic only to type checkers).
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def read_input(path: str, limit: int) -> bytes:
    """Bytes from a file or ``-`` (stdin), at most ``limit``. Raises InputError."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError("usage.cannot_read", path=path, detail=str(exc.strerror or exc)) from exc
    if len(data) > limit:
        raise InputError("usage.too_large", path=path, limit=limit)
    return data


__all__ = ["Subcommands", "read_input"]
