"""``maildiag scan FILE | --from-accounts``: many recipient domains (or addresses, reduced to
their domains, each domain once), one per line with ``#`` comments; each domain's MX, null MX
and mail provider, looked up concurrently with progress on stderr. Exit 1 when any domain
has an error-severity finding.

Output: a line per domain as it is done (``text``, or JSON lines with ``--format jsonl``),
then the summary by status, provider and problem (also ``markdown`` and ``html``, with a
chart). ``--resume`` keeps the scan in the database and continues an interrupted scan of the
same input; ``--queue`` splits it into jobs for ``maildiag worker`` and waits for them.
``--json`` prints one JSON document and is meant for short lists run here.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.commands.progress import CountProgress
from maildiag.services import Services
from maildiag.services.inputs import parse_address, parse_domain
from maildiag.services.scans import (
    CHUNK_SIZE,
    Tallier,
    account_addresses,
    fingerprint,
    numbered,
    run_recorded,
    scan_counts,
    scan_stream,
    utc_now,
)
from reports import ScanCounts, render_scan, scan_row, scan_view

MAX_LINES = 1_000_000  # entries in one scan input
MAX_LINE = 1024  # characters in one line of it
MAX_STDIN = 64 * 1024 * 1024  # bytes of a scan list read from stdin (kept to be read twice)
MAX_CONCURRENCY = 100
MAX_CHUNK = 100_000  # domains in one job of a queued scan
DEFAULT_CONCURRENCY = 10
FORMATS = ("text", "markdown", "html", "jsonl")
WAIT_POLL = 0.5  # seconds between progress reads while workers scan a queued scan
Entries = Callable[[], Iterator[str]]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("scan", help="MX, null MX and provider of many domains")
    parser.add_argument("file", nargs="?", help="domains or addresses, one per line (- for stdin)")
    parser.add_argument(
        "--from-accounts", action="store_true", help="scan the domains of every registered user"
    )
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output (default text)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--resume", action="store_true", help="keep the scan in the database; continue it if cut"
    )
    parser.add_argument(
        "--queue", action="store_true", help="split into jobs for `maildiag worker` and wait"
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=CHUNK_SIZE,
        metavar="N",
        help=f"domains per job with --queue (default {CHUNK_SIZE})",
    )
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    parser.set_defaults(run=run, services=True)


def scan_entries(lines: Iterable[str]) -> Iterator[str]:
    """The domain of each entry in ``lines``: blank lines and ``#`` comments (whole-line or
    trailing) skipped, an address reduced to its domain. Raises InputError naming the line."""
    for number, line in enumerate(lines, 1):
        if number > MAX_LINES:
            raise InputError("usage.too_many_lines", n=MAX_LINES)
        if len(line) > MAX_LINE:
            raise InputError("usage.line_too_long", line=number, n=MAX_LINE)
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            yield parse_address(entry).rpartition("@")[2] if "@" in entry else parse_domain(entry)
        except InputError as exc:
            raise InputError("usage.line", line=number, error=exc) from None


def parse_scan_file(text: str) -> dict[str, int]:
    """Domain -> how many entries named it, in first-seen order. Pure. Raises InputError."""
    return dict(Counter(scan_entries(text.splitlines())))


def _lines(handle: BinaryIO, path: str) -> Iterator[str]:
    """``handle``'s lines as text, each read with a bound; raises InputError for a line that
    is too long or not UTF-8 (naming the byte)."""
    offset = 0
    number = 0
    while raw := handle.readline(MAX_LINE * 4 + 2):
        number += 1
        if not raw.endswith(b"\n") and len(raw) > MAX_LINE * 4:
            raise InputError("usage.line_too_long", line=number, n=MAX_LINE)
        try:
            yield raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise InputError("usage.not_utf8", path=path, byte=offset + exc.start) from None
        offset += len(raw)


def file_entries(path: str) -> Entries:
    """A way to read the domains of ``path`` (``-``: stdin, kept in memory) more than once."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_STDIN + 1)
        if len(data) > MAX_STDIN:
            raise InputError("usage.too_large", path=path, limit=MAX_STDIN)
        return lambda: scan_entries(_lines(io.BytesIO(data), path))

    def read() -> Iterator[str]:
        try:
            handle = Path(path).open("rb")  # noqa: SIM115 - closed when the generator ends
        except OSError as exc:
            raise InputError(
                "usage.cannot_read", path=path, detail=str(exc.strerror or exc)
            ) from exc
        with handle:
            yield from scan_entries(_lines(handle, path))

    return read


def _check(args: argparse.Namespace) -> None:
    if (args.file is None) == (not args.from_accounts):
        raise InputError("usage.scan_source")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise InputError("usage.concurrency", n=MAX_CONCURRENCY)
    if not 1 <= args.chunk_size <= MAX_CHUNK:
        raise InputError("usage.detail", detail=f"--chunk-size must be between 1 and {MAX_CHUNK}")
    if args.json and (args.resume or args.queue):
        raise InputError("usage.scan_queue_resume")


async def run(args: argparse.Namespace, services: Services) -> int:
    _check(args)
    settings = services.settings
    if args.data is not None:
        settings = settings.model_copy(update={"data_dir": args.data})
        services.settings = settings
    engine = None
    if args.from_accounts or args.resume or args.queue:
        from maildiag.db import create_engine, migrate

        engine = create_engine(settings.database)
        await asyncio.to_thread(migrate, engine)
    try:
        source = "accounts" if args.from_accounts else str(args.file)
        entries: Entries = (
            account_addresses(engine)
            if engine is not None and args.from_accounts
            else file_entries(str(args.file))
        )
        if engine is not None and (args.resume or args.queue):
            return await _recorded(args, services, engine, entries, source)
        return await _here(args, services, entries, source)
    finally:
        if engine is not None:
            engine.dispose()


async def _here(args: argparse.Namespace, services: Services, entries: Entries, source: str) -> int:
    """Scan in this process without the database; domains are counted in memory."""
    domains = await asyncio.to_thread(lambda: Counter(entries()))
    if not domains:
        raise InputError("usage.no_domains", path=source)
    progress = CountProgress(len(domains), sys.stderr, label="scan", unit="domains")
    tallier, rows = Tallier(), []
    out = Output(args.format, sys.stdout, services.settings.lang)
    try:
        async for outcome in scan_stream(
            numbered(domains.items()),
            services.new_resolver,
            concurrency=args.concurrency,
            allow_private=services.settings.allow_private_targets,
        ):
            tallier.add(outcome)
            progress.advance()
            if args.json:
                rows.append(outcome.result)
            else:
                out.row(outcome.result)
    finally:
        progress.close()
    tally = tallier.tally()
    if args.json:
        print(json.dumps(scan_json(rows), ensure_ascii=False, indent=2))
    else:
        out.summary(scan_counts(tally, len(domains), None, source), services.settings.lang)
    return 1 if tally.statuses["problem"] else 0


async def _recorded(
    args: argparse.Namespace, services: Services, engine: sa.Engine, entries: Entries, source: str
) -> int:
    """Scan through the database: a new scan, or (``--resume``) the unfinished one of the same
    input; here, or (``--queue``) by the workers while this process shows the progress."""
    from maildiag import scans

    digest, count = await asyncio.to_thread(_fingerprint, entries)
    if not count:
        raise InputError("usage.no_domains", path=source)
    scan_id = (
        await asyncio.to_thread(scans.unfinished_scan, engine, digest) if args.resume else None
    )
    if scan_id is None:
        scan_id = await asyncio.to_thread(
            lambda: scans.create_scan(
                engine,
                entries(),
                source=source,
                fingerprint=digest,
                chunk_size=args.chunk_size,
                queued=args.queue,
                now=utc_now(),
            )
        )
    if args.queue and engine.dialect.name == "postgresql":
        await _enqueue(services, engine, scan_id)
    info = await asyncio.to_thread(scans.scan_info, engine, scan_id)
    assert info is not None
    verb = "resuming" if info.done else "queued" if args.queue else "started"
    print(
        f"maildiag: scan {scan_id} {verb}: {info.done} of {info.total} domains done;"
        f" /scans/{scan_id}",
        file=sys.stderr,
        flush=True,
    )
    out = Output(args.format, sys.stdout, services.settings.lang)
    progress = CountProgress(
        info.total, sys.stderr, label=f"scan {scan_id}", unit="domains", done=info.done
    )
    try:
        if args.queue:
            await _wait(engine, scan_id, progress, out)
        else:

            async def saved(group: Sequence[scans.Outcome]) -> None:
                for outcome in group:
                    out.row(outcome.result)
                progress.advance(len(group))

            await run_recorded(
                engine,
                scan_id,
                services.new_resolver,
                concurrency=args.concurrency,
                allow_private=services.settings.allow_private_targets,
                on_saved=saved,
            )
    finally:
        progress.close()
    tally = await asyncio.to_thread(scans.tally, engine, scan_id)
    out.summary(scan_counts(tally, info.total, scan_id, source), services.settings.lang)
    return 1 if tally.statuses["problem"] else 0


async def _enqueue(services: Services, engine: sa.Engine, scan_id: int) -> None:
    """PostgreSQL: a job on the job engine for each chunk not done yet (SQLite's workers
    claim the chunks from their table)."""
    from maildiag.jobs import build_jobs
    from maildiag.services.scans import queue_scan

    async with build_jobs(services.settings).opened() as jobs:
        await queue_scan(jobs, engine, scan_id)


def _fingerprint(entries: Entries) -> tuple[str, int]:
    """The input's fingerprint and how many entries it has (every line is checked here,
    before anything is stored)."""
    count = 0

    def counted() -> Iterator[tuple[str, int]]:
        nonlocal count
        for domain in entries():
            count += 1
            yield domain, 1

    return fingerprint(counted()), count


async def _wait(engine: sa.Engine, scan_id: int, progress: CountProgress, out: Output) -> None:
    """Show the workers' progress and print the results in input order as they come: each
    line as soon as every domain before it has its result, the rest once the scan is done."""
    from maildiag import scans

    printed = -1  # the position of the last line printed
    while True:
        info = await asyncio.to_thread(scans.scan_info, engine, scan_id)
        assert info is not None
        progress.update(info.done)
        while page := await asyncio.to_thread(
            scans.results_in_order, engine, scan_id, after=printed
        ):
            for _, row in page:
                out.row(row)
            printed = page[-1][0]
        if info.finished:  # read before the lines: every result was there to print
            return
        await asyncio.sleep(WAIT_POLL)


class Output:
    """Where a scan's lines go as they come: a text line per domain or a JSON line; nothing
    per domain for the Markdown and HTML summaries."""

    def __init__(self, fmt: str, stream: Any, lang: str) -> None:
        self.fmt, self.stream, self.lang = fmt, stream, lang

    def row(self, row: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            self.stream.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        elif self.fmt == "text":
            self.stream.write(text_row(row, self.lang) + "\n")

    def summary(self, counts: ScanCounts, lang: str) -> None:
        view = scan_view(counts, lang=lang)
        if self.fmt == "jsonl":
            line = json.loads(render_scan(view, fmt="json"))
            self.stream.write(json.dumps({"summary": line}, ensure_ascii=False) + "\n")
        else:
            if self.fmt == "text":
                self.stream.write("\n")
            self.stream.write(render_scan(view, fmt=self.fmt))
        self.stream.flush()


def text_row(row: dict[str, Any], lang: str) -> str:
    """One domain as a line in ``lang``: domain, status, mail provider (by name), MX and its
    problem codes."""
    shown = scan_row(row, lang=lang)
    line = f"{shown.domain:<32}  {row['status']:<8} {shown.provider:<20} {shown.mx}"
    return line + (f"  [{','.join(shown.codes)}]" if shown.codes else "")


def scan_json(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``--json`` document: every domain's line, the counts, and all findings."""
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
