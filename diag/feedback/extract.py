"""Every report in one file, whatever holds it: XML, JSON, gzip, zip, a message or an mbox.

``extract`` never raises: each report found, and each part refused, is one Extracted value, so
one bad report in an mbox or a zip loses nothing else. A file refused as a whole (too large, a
bomb, an unknown format) is one Extracted holding the refusal. Archives are read one level
deep: an archive inside an archive (or inside a mail's archive) is refused as nested. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from diag.errors import ReportRefused
from diag.feedback.aggregate import parse_aggregate
from diag.feedback.archive import GZIP_MAGIC, ZIP_MAGICS, Budget, gunzip, is_archive, unzip
from diag.feedback.failure import is_failure_report, parse_failure
from diag.feedback.limits import DEFAULT_LIMITS, Limits
from diag.feedback.mail import is_mail, is_mbox, read_message, report_parts, split_mbox
from diag.feedback.model import Report
from diag.feedback.tlsrpt import parse_tls

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-8, UTF-16 LE and BE


@dataclass(frozen=True)
class Extracted:
    """One report found in a file, or one part of it refused. ``where`` names the place in
    the file (empty for the file itself)."""

    where: str
    report: Report | None = None
    error: ReportRefused | None = None


def _body(data: bytes) -> bytes:
    for bom in _BOMS:
        if data.startswith(bom):
            return b"<" if bom != _BOMS[0] else data[len(bom) :].lstrip()
    return data.lstrip()


def _document(data: bytes, limits: Limits) -> Report:
    """A report that is an XML or JSON document (never an archive)."""
    if not data:
        raise ReportRefused(reason="empty")
    if is_archive(data):
        raise ReportRefused(reason="nested_archive")
    start = _body(data)[:1]
    if start == b"<":
        return parse_aggregate(data, limits=limits)
    if start == b"{":
        return parse_tls(data, limits=limits)
    raise ReportRefused(reason="unknown_format", detail=f"starts with {data[:8]!r}")


def _guarded(where: str, data: bytes, limits: Limits) -> Extracted:
    try:
        return Extracted(where=where, report=_document(data, limits))
    except ReportRefused as error:
        placed = error.at(where) if where else error
        return Extracted(where=placed.where, error=placed)


def _archive(where: str, data: bytes, budget: Budget) -> Iterator[Extracted]:
    """The reports in a gzip file or zip archive; whole-archive refusals are raised."""
    if data.startswith(GZIP_MAGIC):
        yield _guarded(where, gunzip(data, budget), budget.limits)
        return
    for name, member in unzip(data, budget):
        place = f"{where}, member {name}" if where else f"member {name}"
        if isinstance(member, ReportRefused):
            yield Extracted(where=place, error=member.at(place))
        else:
            yield _guarded(place, member, budget.limits)


def _message(where: str, message: Message, budget: Budget) -> Iterator[Extracted]:
    if is_failure_report(message):
        yield Extracted(where=where, report=parse_failure(message, limits=budget.limits))
        return
    found = False
    for place, payload in report_parts(message):
        found = True
        inner = f"{where}, {place}" if where else place
        if payload.startswith((GZIP_MAGIC, *ZIP_MAGICS)):
            try:
                yield from _archive(inner, payload, budget)
            except ReportRefused as error:
                if error.reason == "decompression_bomb":
                    raise
                yield Extracted(where=inner, error=error.at(inner))
        else:
            yield _guarded(inner, payload, budget.limits)
    if not found:
        raise ReportRefused(reason="no_report", detail="no part holds a report", where=where)


def _mail(where: str, data: bytes, budget: Budget) -> Iterator[Extracted]:
    try:
        yield from _message(where, read_message(data), budget)
    except ReportRefused as error:
        if error.reason == "decompression_bomb":
            raise
        yield Extracted(where=error.where or where, error=error)


def _file(data: bytes, limits: Limits) -> Iterator[Extracted]:
    if not data:
        raise ReportRefused(reason="empty")
    if len(data) > limits.max_input_bytes:
        raise ReportRefused(reason="too_large", detail=f"more than {limits.max_input_bytes} bytes")
    budget = Budget(limits)
    if is_archive(data):
        yield from _archive("", data, budget)
    elif is_mbox(data):
        for index, message in enumerate(split_mbox(data)):
            yield from _mail(f"message {index + 1}", message, budget)
    elif _body(data)[:1] in (b"<", b"{"):
        yield _guarded("", data, limits)
    elif is_mail(data):
        yield from _mail("", data, budget)
    else:
        raise ReportRefused(reason="unknown_format", detail=f"starts with {data[:8]!r}")


def extract(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Iterator[Extracted]:
    """Every report in ``data``, and every part of it that is refused, in file order.

    Never raises. A refusal of the whole file (``empty``, ``too_large``,
    ``decompression_bomb``, ``too_many_members``, ``too_many_reports``, ``archive_corrupt``,
    ``unknown_format``, ...) ends the iteration with one Extracted holding it; reports
    yielded before a bomb was found stay valid.
    """
    seen = 0
    try:
        for item in _file(data, limits):
            seen += 1
            if seen > limits.max_reports:
                raise ReportRefused(
                    reason="too_many_reports", detail=f"more than {limits.max_reports}"
                )
            yield item
    except ReportRefused as error:
        yield Extracted(where=error.where, error=error)


def parse_report(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Report:
    """The one report in ``data``.

    Raises ReportRefused: the first refusal ``extract`` meets, or ``too_many_reports`` when
    the file holds more than one report.
    """
    found = list(extract(data, limits=limits))
    for item in found:
        if item.error is not None:
            raise item.error
    if len(found) != 1 or found[0].report is None:
        raise ReportRefused(reason="too_many_reports", detail=f"{len(found)} reports")
    return found[0].report
