"""``maildiag lab dkim break|restore``: switch the lab's planted DKIM fault off and on.

``restore`` publishes the key the legacy identity signs with, so its DKIM passes; ``break``
publishes the mismatched key again (the lab's default). The switch lives in the lab's data
dir, and a running ``maildiag serve --lab`` serves the change at once, so ``maildiag watch``
sees the recovery and the fail offline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.services.wording import text
from maildiag.settings import Settings


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("lab", help="change the lab's planted faults")
    parser.add_argument("area", choices=("dkim",), help="the fault to change")
    parser.add_argument(
        "action", choices=("break", "restore"), help="plant the fault again, or repair it"
    )
    parser.add_argument("--data", type=Path, help="the lab's data directory (default ./data)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from maildiag.lab.kit import BROKEN, is_lab_data, set_legacy_dkim

    data_dir = args.data if args.data is not None else settings.data_dir
    if not is_lab_data(data_dir):
        raise InputError("lab.not_lab_data", path=str(data_dir))
    restored = args.action == "restore"
    changed = set_legacy_dkim(data_dir, restored=restored)
    key = "lab.dkim_restored" if restored else "lab.dkim_broken"
    print(text(key, settings.lang, domain=BROKEN), flush=True)
    if not changed:
        print(text("lab.unchanged", settings.lang), flush=True)
    return 0
