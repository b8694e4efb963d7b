"""``maildiag lab dkim break|restore``: switch the lab's planted DKIM fault off and on.

``restore`` publishes the key the legacy identity signs with, so its DKIM passes; ``break``
publishes the mismatched key again (the lab's default). The switch lives in the lab's data
dir; a running ``maildiag serve --lab`` serves the change within a second, and this command
waits until the lab's DNS server answers with it, so ``maildiag watch`` run next sees it.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from diag.errors import DnsError, InputError
from diag.resolver import TXT, DnsPythonResolver
from maildiag.commands.common import Subcommands
from maildiag.services.wording import text
from maildiag.settings import Settings

SERVED_WAIT = 5.0  # seconds to wait for a running lab's DNS server to serve the switch
SERVED_POLL = 0.1


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("lab", help="change the lab's planted faults")
    parser.add_argument("area", choices=("dkim",), help="the fault to change")
    parser.add_argument(
        "action", choices=("break", "restore"), help="plant the fault again, or repair it"
    )
    parser.add_argument("--data", type=Path, help="the lab's data directory (default ./data)")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    from maildiag.lab.kit import BROKEN, is_lab_data, set_legacy_dkim

    data_dir = args.data if args.data is not None else settings.data_dir
    if not is_lab_data(data_dir):
        raise InputError("lab.not_lab_data", path=str(data_dir))
    restored = args.action == "restore"
    changed = await asyncio.to_thread(set_legacy_dkim, data_dir, restored=restored)
    key = "lab.dkim_restored" if restored else "lab.dkim_broken"
    print(text(key, settings.lang, domain=BROKEN), flush=True)
    if not changed:
        print(text("lab.unchanged", settings.lang), flush=True)
    if settings.lab and settings.nameservers:
        served = await _served(settings.nameservers, data_dir)
        shown = settings.nameservers[0]
        print(text("lab.served" if served else "lab.not_served", settings.lang, dns=shown))
    return 0


async def _served(nameservers: list[str], data_dir: Path) -> bool:
    """Whether the lab DNS server at ``nameservers`` serves the legacy key the data dir's
    switch asks for, waiting up to ``SERVED_WAIT`` seconds."""
    from maildiag.lab.kit import BROKEN, LAB_SELECTOR, prepare_lab

    _, zone = await asyncio.to_thread(prepare_lab, data_dir)
    name = f"{LAB_SELECTOR}._domainkey.{BROKEN}"
    wanted = {r.text for r in zone[name]["TXT"] if isinstance(r, TXT)}
    for _ in range(round(SERVED_WAIT / SERVED_POLL)):
        resolver = DnsPythonResolver(nameservers, timeout=SERVED_POLL * 5)  # no cached answer
        try:
            answer = await resolver.query(name, "TXT")
        except DnsError:
            return False  # no lab DNS server answers there
        if {r.text for r in answer.records if isinstance(r, TXT)} == wanted:
            return True
        await asyncio.sleep(SERVED_POLL)
    return False
