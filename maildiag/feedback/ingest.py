"""Importing report files into the database: each report stored once, each refusal kept.

``ingest`` reads one source at a time and forgets it once its reports are written, so a batch
of any length holds one file and one transaction's worth of reports in memory. A report whose
identity (kind, reporter, report id) is already stored is counted and marked duplicate, never
stored twice, even when two imports race (the insert does nothing on conflict). A refused file
or part becomes a row in ``feedback_rejected`` and an IngestResult with its reason; the batch
goes on. Blocking SQLAlchemy Core; run it off the event loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from diag.feedback import (
    DEFAULT_LIMITS,
    AggregateReport,
    Extracted,
    FailureReport,
    Limits,
    Record,
    Report,
    ReportRefused,
    Summary,
    TlsReport,
    extract,
)
from maildiag.feedback import models as m

log = logging.getLogger(__name__)
KEEP_REJECTED_BYTES = 256 * 1024  # a refused file is kept whole up to this size
BATCH_SIZE = 100  # reports written per transaction


@dataclass(frozen=True)
class Source:
    """One file to import: its name (for the record) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class IngestResult:
    """What became of one report, or one refused file or part, of an import."""

    source: str
    where: str = ""
    summary: Summary | None = None
    duplicate: bool = False
    reason: str | None = None
    detail: str = ""

    @property
    def refused(self) -> bool:
        return self.reason is not None

    def to_json(self) -> dict[str, Any]:
        """The object ``reports import --json`` prints for this result (DESIGN.md)."""
        if self.summary is None:
            return {
                "source": self.source,
                "where": self.where,
                "refused": True,
                "reason": self.reason,
                "detail": self.detail,
            }
        return {"source": self.source, **self.summary.to_json(), "duplicate": self.duplicate}


def _utc(now: Callable[[], dt.datetime] | None) -> dt.datetime:
    return (now or (lambda: dt.datetime.now(dt.UTC)))().astimezone(dt.UTC)


def _read(source: Source | Path, limits: Limits) -> tuple[str, bytes | ReportRefused]:
    if isinstance(source, Source):
        return source.name, source.data
    name = str(source)
    try:
        if source.stat().st_size > limits.max_input_bytes:
            detail = f"more than {limits.max_input_bytes} bytes"
            return name, ReportRefused(reason="too_large", detail=detail)
        return name, source.read_bytes()
    except OSError as error:
        return name, ReportRefused(reason="unreadable", detail=error.strerror or str(error))


def ingest(
    engine: sa.Engine,
    sources: Iterable[Source | Path],
    *,
    limits: Limits = DEFAULT_LIMITS,
    now: Callable[[], dt.datetime] | None = None,
    batch_size: int = BATCH_SIZE,
) -> list[IngestResult]:
    """Import every report in ``sources`` (read lazily, one at a time), in order.

    Returns one IngestResult per report found and per refused file or part. Raises only
    SQLAlchemy errors (the database itself failing); nothing in a file stops the batch.
    """
    results: list[IngestResult] = []
    with engine.connect() as connection:
        writer = _Writer(connection, _utc(now))
        for source in sources:
            name, data = _read(source, limits)
            if isinstance(data, ReportRefused):
                results.append(writer.reject(name, None, Extracted(where="", error=data)))
                continue
            for item in extract(data, limits=limits):
                results.append(writer.write(name, data, item))
                if writer.pending >= batch_size:
                    writer.commit()
        writer.commit()
    log.info("feedback.ingest results=%d", len(results))
    return results


def _insert(connection: sa.Connection, table: sa.Table) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class _Writer:
    """Writes reports and refusals on one connection, committing every few reports."""

    def __init__(self, connection: sa.Connection, now: dt.datetime) -> None:
        self.connection = connection
        self.now = now
        self.pending = 0

    def commit(self) -> None:
        self.connection.commit()
        self.pending = 0

    def write(self, name: str, data: bytes, item: Extracted) -> IngestResult:
        self.pending += 1
        if item.report is None:
            return self.reject(name, data, item)
        summary = item.report.summary()
        report_id = self._report_row(name, item.report, summary)
        if report_id is None:
            return IngestResult(source=name, where=item.where, summary=summary, duplicate=True)
        if isinstance(item.report, AggregateReport):
            self._records(report_id, item.report)
        elif isinstance(item.report, TlsReport):
            self._tls(report_id, item.report)
        else:
            self._failure(report_id, item.report)
        return IngestResult(source=name, where=item.where, summary=summary)

    def reject(self, name: str, data: bytes | None, item: Extracted) -> IngestResult:
        error = item.error or ReportRefused(reason="no_report")
        self.connection.execute(
            m.rejected.insert().values(
                received_at=self.now,
                source=name[: m.MAX_NAME],
                location=item.where[: m.MAX_NAME],
                reason=error.reason,
                detail=error.detail[: m.MAX_TEXT],
                size=len(data) if data is not None else 0,
                sha256=hashlib.sha256(data).hexdigest() if data is not None else None,
                content=data if data is not None and len(data) <= KEEP_REJECTED_BYTES else None,
            )
        )
        log.info("feedback.refused source=%s where=%s reason=%s", name, item.where, error.reason)
        return IngestResult(source=name, where=item.where, reason=error.reason, detail=error.detail)

    def _report_row(self, name: str, report: Report, summary: Summary) -> int | None:
        statement = (
            _insert(self.connection, m.reports)
            .values(
                kind=report.kind,
                org_name=report.org_name,
                report_id=report.report_id,
                email_domain=_email_domain(report),
                policy_domain=_policy_domain(report),
                begin=report.begin,
                end=report.end,
                received_at=self.now,
                source=name[: m.MAX_NAME],
                record_count=summary.record_count,
                message_count=_message_count(summary),
                details=_details(report),
            )
            .on_conflict_do_nothing(index_elements=["kind", "org_name", "report_id"])
            .returning(m.reports.c.id)
        )
        row_id: int | None = self.connection.execute(statement).scalar_one_or_none()
        return row_id

    def _records(self, report_id: int, report: AggregateReport) -> None:
        day = _day(report.begin, report.end)
        rows = [
            {
                "report_id": report_id,
                "org_name": report.org_name,
                "day": day,
                "header_from": r.header_from,
                "source_ip": r.source_ip,
                "count": r.count,
                "disposition": r.disposition,
                "dkim": r.dkim,
                "spf": r.spf,
                "envelope_from": r.envelope_from,
                "envelope_to": r.envelope_to,
                "auth_results": _auth_results(r),
            }
            for r in report.records
        ]
        self.connection.execute(m.records.insert(), rows)

    def _tls(self, report_id: int, report: TlsReport) -> None:
        day = _day(report.begin, report.end)
        for policy in report.policies:
            policy_id = self.connection.execute(
                m.tls_policies.insert()
                .values(
                    report_id=report_id,
                    org_name=report.org_name,
                    day=day,
                    policy_type=policy.policy_type,
                    policy_domain=policy.policy_domain,
                    successful=policy.successful,
                    failed=policy.failed,
                    policy={
                        "policy_strings": list(policy.policy_strings),
                        "mx_hosts": list(policy.mx_hosts),
                    },
                )
                .returning(m.tls_policies.c.id)
            ).scalar_one()
            if policy.failures:
                self.connection.execute(
                    m.tls_failures.insert(),
                    [
                        {
                            "policy_id": policy_id,
                            "result_type": f.result_type,
                            "failed_session_count": f.failed_session_count,
                            "sending_mta_ip": f.sending_mta_ip,
                            "receiving_mx_hostname": f.receiving_mx_hostname,
                            "receiving_ip": f.receiving_ip,
                            "details": {
                                "receiving_mx_helo": f.receiving_mx_helo,
                                "additional_information": f.additional_information,
                                "failure_reason_code": f.failure_reason_code,
                            },
                        }
                        for f in policy.failures
                    ],
                )

    def _failure(self, report_id: int, report: FailureReport) -> None:
        self.connection.execute(
            m.failures.insert().values(
                report_id=report_id,
                arrival_date=report.arrival_date,
                source_ip=report.source_ip,
                reported_domain=report.reported_domain,
                auth_failure=",".join(report.auth_failure)[:64] or None,
                delivery_result=(report.delivery_result or "")[:64] or None,
                fields=[list(pair) for pair in report.fields],
                original_headers=[list(pair) for pair in report.original_headers],
            )
        )


def _message_count(summary: Summary) -> int:
    """Messages for DMARC reports; TLS sessions, successful or not, for TLS reports."""
    if summary.kind == "tls":
        return summary.total_successful_session_count + summary.total_failure_session_count
    return summary.message_count


def _day(begin: dt.datetime, end: dt.datetime) -> dt.date:
    """The UTC day a report's range mostly covers: the day of its middle."""
    return (begin + (end - begin) / 2).date()


def _email_domain(report: Report) -> str | None:
    if isinstance(report, FailureReport):
        return report.org_name
    contact = report.email if isinstance(report, AggregateReport) else report.contact_info
    if contact and "@" in contact:
        return contact.rsplit("@", 1)[1].strip().strip(">").lower()[: m.MAX_NAME] or None
    return None


def _policy_domain(report: Report) -> str | None:
    if isinstance(report, AggregateReport):
        return report.policy.domain
    if isinstance(report, FailureReport):
        return report.reported_domain
    return None


def _details(report: Report) -> dict[str, Any]:
    if isinstance(report, AggregateReport):
        policy = report.policy
        return {
            "email": report.email,
            "extra_contact_info": report.extra_contact_info,
            "errors": list(report.errors),
            "generator": report.generator,
            "version": report.version,
            "schema": report.schema,
            "policy_published": {
                "domain": policy.domain,
                "p": policy.p,
                "sp": policy.sp,
                "np": policy.np,
                "adkim": policy.adkim,
                "aspf": policy.aspf,
                "pct": policy.pct,
                "fo": policy.fo,
                "testing": policy.testing,
                "discovery_method": policy.discovery_method,
            },
        }
    if isinstance(report, TlsReport):
        return {"contact_info": report.contact_info}
    return {
        "feedback_type": report.feedback_type,
        "user_agent": report.user_agent,
        "incidents": report.incidents,
        "original_mail_from": report.original_mail_from,
        "original_rcpt_to": list(report.original_rcpt_to),
        "identity_alignment": report.identity_alignment,
        "dkim_domain": report.dkim_domain,
        "dkim_selector": report.dkim_selector,
        "authentication_results": list(report.authentication_results),
    }


def _auth_results(record: Record) -> dict[str, Any]:
    return {
        "dkim": [
            {"domain": d.domain, "selector": d.selector, "result": d.result}
            | ({"human_result": d.human_result} if d.human_result else {})
            for d in record.dkim_results
        ],
        "spf": [
            {"domain": s.domain, "scope": s.scope, "result": s.result}
            | ({"human_result": s.human_result} if s.human_result else {})
            for s in record.spf_results
        ],
        "reasons": [{"type": x.type, "comment": x.comment} for x in record.reasons],
    }
