"""``maildiag scan FILE``: many recipient domains (or addresses), one per line, ``#`` comments;
each domain's MX, null MX and mail provider, looked up concurrently with a progress bar on a
terminal. Exit 1 when any domain has an error-severity finding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from diag.errors import InputError
from diag.findings import ERROR, WARNING, has_errors, worst_severity
from diag.mx import MxReport, lookup_mx
from diag.resolver import Resolver
from maildiag.commands.common import Subcommands, read_input
from maildiag.services import Services
from maildiag.services.inputs import parse_address, parse_domain

MAX_LINES = 100_000  # entries in one scan file
MAX_CONCURRENCY = 100
DEFAULT_CONCURRENCY = 10
BAR_WIDTH = 30


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("scan", help="MX, null MX and provider of many domains")
    parser.add_argument("file", help="domains or addresses, one per line (- for stdin)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run, services=True)


def parse_scan_file(text: str) -> dict[str, int]:
    """Domain -> how many entries named it, in first-seen order. Pure.

    Blank lines and ``#`` comments (whole-line or trailing) are skipped. Raises InputError
    naming the line of an entry that is neither a domain nor an address.
    """
    domains: dict[str, int] = {}
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise InputError("usage.too_many_lines", n=MAX_LINES)
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            domain = (
                parse_address(entry).rpartition("@")[2] if "@" in entry else parse_domain(entry)
            )
        except InputError as exc:
            raise InputError("usage.line", line=number, error=exc) from None
        domains[domain] = domains.get(domain, 0) + 1
    return domains


class Progress:
    """A one-line progress bar on a terminal; silent when the stream is not a TTY."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.enabled = stream.isatty()

    def step(self) -> None:
        self.done += 1
        if self.enabled:
            filled = BAR_WIDTH * self.done // max(1, self.total)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total}")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()


async def scan_domains(
    domains: Sequence[str],
    resolver: Resolver,
    *,
    concurrency: int,
    allow_private: bool = False,
    on_done: Callable[[], None] | None = None,
) -> list[MxReport]:
    """MX reports for ``domains`` in their order, at most ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(domain: str) -> MxReport:
        async with gate:
            report = await lookup_mx(domain, resolver, allow_private=allow_private)
        if on_done is not None:
            on_done()
        return report

    return list(await asyncio.gather(*(one(d) for d in domains)))


def domain_summary(report: MxReport, entries: int) -> dict[str, Any]:
    """One domain's line in the scan: status, MX facts, provider and finding codes."""
    severity = worst_severity(report.findings)
    status = "problem" if severity is ERROR else "warning" if severity is WARNING else "ok"
    return {
        "domain": report.domain,
        "entries": entries,
        "status": status,
        "null_mx": report.null_mx,
        "implicit_mx": report.implicit,
        "can_receive": report.can_receive,
        "provider": report.provider if report.hosts else "unknown",
        "hosts": [h.name for h in report.hosts],
        "findings": [f.to_dict() for f in report.findings],
    }


def scan_json(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    providers = Counter(r["provider"] for r in rows)
    statuses = Counter(r["status"] for r in rows)
    return {
        "domains": list(rows),
        "summary": {
            "domains": len(rows),
            "entries": sum(r["entries"] for r in rows),
            "null_mx": sum(1 for r in rows if r["null_mx"]),
            "implicit_mx": sum(1 for r in rows if r["implicit_mx"]),
            "statuses": dict(sorted(statuses.items())),
            "providers": dict(sorted(providers.items())),
        },
        "findings": [f for r in rows for f in r["findings"]],
    }


def scan_text(data: dict[str, Any]) -> str:
    width = max([len(r["domain"]) for r in data["domains"]] + [6])
    lines = [f"{'domain':<{width}}  {'status':<8} {'provider':<13} mx"]
    for row in data["domains"]:
        if row["null_mx"]:
            mx = "null MX (RFC 7505)"
        elif row["implicit_mx"]:
            mx = "implicit MX"
        else:
            mx = ", ".join(row["hosts"]) or "-"
        codes = ",".join(
            f["code"] for f in row["findings"] if f["severity"] in ("error", "warning")
        )
        lines.append(
            f"{row['domain']:<{width}}  {row['status']:<8} {row['provider']:<13} {mx}"
            + (f"  [{codes}]" if codes else "")
        )
    summary = data["summary"]
    providers = ", ".join(f"{k} {v}" for k, v in summary["providers"].items())
    statuses = ", ".join(f"{k} {v}" for k, v in summary["statuses"].items())
    lines += [
        "",
        f"{summary['domains']} domains ({summary['entries']} entries): {statuses}",
        f"null MX {summary['null_mx']}, implicit MX {summary['implicit_mx']}; {providers}",
    ]
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise InputError("usage.concurrency", n=MAX_CONCURRENCY)
    raw = read_input(args.file, settings.max_input_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("usage.not_utf8", path=args.file, byte=exc.start) from None
    domains = parse_scan_file(text)
    if not domains:
        raise InputError("usage.no_domains", path=args.file)
    progress = Progress(len(domains), sys.stderr)
    reports = await scan_domains(
        list(domains),
        services.new_resolver(),
        concurrency=args.concurrency,
        allow_private=settings.allow_private_targets,
        on_done=progress.step,
    )
    data = scan_json([domain_summary(r, domains[r.domain]) for r in reports])
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else scan_text(data), end="")
    if args.json:
        print()
    return 1 if any(has_errors(r.findings) for r in reports) else 0
