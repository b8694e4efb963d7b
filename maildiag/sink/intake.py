"""The sink's intake of receivers' reports: mail to a report address (the lab's rua and
TLS-RPT mailboxes, or wherever a deployment points ``rua=`` at the sink: the setting
``sink_report_addresses``) is imported into the feedback tables as it is stored.

The message is kept like any other; its reports are read in this intake's one worker thread,
so neither the SMTP reply nor the event loop waits for parsing. A refused report is kept as a
rejected upload, as for any import. ``close`` waits for the reports still being read.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import logging
from collections.abc import Sequence

import sqlalchemy as sa

from maildiag.feedback import Source, ingest
from maildiag.settings import Settings
from smtp_sink import CapturedMessage

log = logging.getLogger(__name__)
LAB_REPORT_ADDRESSES = ("dmarc-reports@visma.example", "tls-reports@visma.example")


def report_patterns(settings: Settings) -> tuple[str, ...]:
    """The configured report addresses (``fnmatch`` patterns), or in the lab its own rua and
    TLS-RPT mailboxes; empty: no intake."""
    if settings.sink_report_addresses:
        return tuple(p.lower() for p in settings.sink_report_addresses)
    return LAB_REPORT_ADDRESSES if settings.lab else ()


class ReportIntake:
    """Imports the reports in messages addressed to ``patterns``."""

    def __init__(self, engine: sa.Engine, patterns: Sequence[str]) -> None:
        self.engine = engine
        self.patterns = tuple(patterns)
        self._worker = concurrent.futures.ThreadPoolExecutor(1, "report-intake")

    def wanted(self, message: CapturedMessage) -> bool:
        return any(
            fnmatch.fnmatchcase(rcpt.lower(), pattern)
            for rcpt in message.rcpt_tos
            for pattern in self.patterns
        )

    def take(self, stored: Sequence[tuple[int, CapturedMessage]]) -> None:
        """Queue the report mail among ``stored`` (id, message) for import; returns at once."""
        sources = [Source(f"sink:{i}", m.raw) for i, m in stored if self.wanted(m)]
        if sources:
            self._worker.submit(self._import, sources)

    def _import(self, sources: list[Source]) -> None:
        try:
            results = ingest(self.engine, sources)
        except sa.exc.SQLAlchemyError as exc:  # the database failing: logged, mail kept
            log.error("sink.report_intake_failed error=%s", type(exc).__name__)
            return
        refused = sum(1 for r in results if r.refused)
        log.info("sink.report_intake results=%d refused=%d", len(results), refused)

    def close(self) -> None:
        """Wait for the reports being read, then stop the worker."""
        self._worker.shutdown(wait=True)


__all__ = ["LAB_REPORT_ADDRESSES", "ReportIntake", "report_patterns"]
