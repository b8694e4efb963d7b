"""``maildiag reports import FILE...``: DMARC aggregate and failure reports and SMTP TLS reports
(.xml, .xml.gz, .zip, .json, .json.gz, and .eml or mbox files holding them) into the database.

Every file is read in turn: a refused file or part is kept as a rejected upload with its reason
and the batch goes on; a report already stored (same org and report id) is counted as a
duplicate. The summary says how many were accepted, duplicate and rejected, and why. Exit 2
for arguments that are no readable files (before anything is imported), and after the summary
when any file or part was refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from diag.errors import InputError
from maildiag.commands.common import Subcommands
from maildiag.db import create_engine, migrate
from maildiag.services.feedback import ImportSummary, import_sources
from maildiag.services.wording import text
from maildiag.settings import Settings

EXIT_REFUSED = 2


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("reports", help="DMARC and SMTP TLS reports from receivers")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    importing = actions.add_parser(
        "import", help="import report files (.xml .gz .zip .json .eml .mbox)"
    )
    importing.add_argument("files", nargs="+", metavar="FILE", type=Path)
    importing.add_argument("--json", action="store_true", help="print the summary as JSON")
    importing.add_argument("--data", type=Path, help="data directory (default ./data)")
    importing.set_defaults(run=run)


def _usable(paths: list[Path]) -> list[Path]:
    """``paths`` when every one is a readable file. Raises InputError naming the first that
    is not (nothing is imported then)."""
    for path in paths:
        if not path.is_file():
            raise InputError("usage.not_a_file", path=str(path))
    return paths


def run(args: argparse.Namespace, settings: Settings) -> int:
    paths = _usable(list(args.files))
    engine = create_engine(settings.database)
    try:
        migrate(engine)
        summary = import_sources(engine, paths)
    finally:
        engine.dispose()
    lang = settings.lang
    if args.json:
        print(json.dumps(summary.to_json(), ensure_ascii=False, indent=2))
    else:
        print(summary_text(summary, lang), end="")
    if summary.refused:
        reasons = ", ".join(summary.reasons)
        line = text("reports.import_refused", lang, n=len(summary.refused), reasons=reasons)
        print(f"maildiag: error: {line}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def summary_text(summary: ImportSummary, lang: str) -> str:
    """The import's summary for people: one line per report, per refusal, then the counts."""
    lines = []
    for result in summary.results:
        where = f"{result.source}{f' [{result.where}]' if result.where else ''}"
        if result.summary is None:
            reason = text(f"reports.reason.{result.reason}", lang)
            detail = f" ({result.detail})" if result.detail else ""
            lines.append(text("reports.line_refused", lang, where=where, reason=reason) + detail)
            continue
        key = "reports.line_duplicate" if result.duplicate else "reports.line_accepted"
        report = result.summary
        lines.append(
            text(
                key,
                lang,
                where=where,
                kind=text(f"reports.kind.{report.kind}", lang),
                org=report.org_name,
                report_id=report.report_id,
            )
        )
    counts = text(
        "reports.import_summary",
        lang,
        accepted=summary.accepted,
        duplicate=summary.duplicates,
        rejected=len(summary.refused),
    )
    return "".join(f"{line}\n" for line in [*lines, counts])
