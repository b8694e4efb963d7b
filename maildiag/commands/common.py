"""What the CLI's commands share beyond the services: reading input files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TypeAlias

from maildiag.services.inputs import UsageError

# What each command's ``add_parser`` gets: argparse's subparsers action (a string, since the
# class is generic only to type checkers).
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def read_input(path: str, limit: int) -> bytes:
    """Bytes from a file or ``-`` (stdin), at most ``limit``. Raises UsageError."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise UsageError(f"{path} is larger than the {limit}-byte limit")
    return data


__all__ = ["Subcommands", "UsageError", "read_input"]
