"""SMTP TLS reports (RFC 8460 §4, JSON) into a TlsReport.

Every key is checked for its JSON type before it is used, so a report of the wrong shape is a
ReportRefused naming the key, never a TypeError. Pure: bytes in, a frozen value out.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import TypeGuard

from diag.errors import ReportRefused
from diag.feedback import values as v
from diag.feedback.limits import DEFAULT_LIMITS, Limits
from diag.feedback.model import TlsFailure, TlsPolicy, TlsReport

POLICY_TYPES = ("sts", "tlsa", "no-policy-found")  # RFC 8460 §4.4
# Result types are registered by IANA ("STARTTLS Validation Result Types", RFC 8460) and
# may grow, so any token of that shape is kept.
_RESULT_TYPE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def _decode(data: bytes) -> object:
    try:
        return json.loads(data)
    except RecursionError:
        raise ReportRefused(reason="json_malformed", detail="nested too deep") from None
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise ReportRefused(reason="json_malformed", detail=str(error)[:200]) from None


def is_tls_report(document: object) -> TypeGuard[Mapping[str, object]]:
    return isinstance(document, dict) and "policies" in document


def _object(value: object, name: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise ReportRefused(reason="missing_field" if value is None else "bad_value", detail=name)
    return value


def _list(value: object, name: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportRefused(reason="bad_value", detail=f"{name} is not a list")
    return value


def _string(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportRefused(reason="bad_value", detail=f"{name} is not a string")
    return v.safe_text(value)


def _text(document: Mapping[str, object], key: str, limit: int) -> str | None:
    return v.optional_text(_string(document.get(key), key), limit)


def _count(value: object, name: str) -> int:
    """A JSON integer count (a string of digits is not one here)."""
    if not isinstance(value, int):
        raise ReportRefused(reason="bad_value", detail=f"{name} is not a count")
    return v.count(value, name)


def _datetime(value: object, name: str) -> dt.datetime:
    """An RFC 3339 date-time (RFC 8460 §4.4, ``date-range``)."""
    text = _string(value, name)
    if not text:
        raise ReportRefused(reason="bad_date", detail=f"{name} is missing")
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReportRefused(reason="bad_date", detail=f"{name} {text[:40]!r}") from None
    return v.instant(parsed, name)


def parse_tls(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> TlsReport:
    """The TLS report in ``data`` (UTF-8 JSON).

    Raises ReportRefused: ``json_malformed``, ``unknown_format`` (JSON that is no TLS
    report), ``missing_field``, ``bad_value``, ``bad_date``, ``too_many_records``.
    """
    document = _decode(data)
    if not is_tls_report(document):
        raise ReportRefused(reason="unknown_format", detail="JSON without policies")
    return tls_report(document, limits)


def tls_report(document: Mapping[str, object], limits: Limits) -> TlsReport:
    dates = _object(document.get("date-range"), "date-range")
    begin = _datetime(dates.get("start-datetime"), "date-range/start-datetime")
    end = _datetime(dates.get("end-datetime"), "date-range/end-datetime")
    v.date_range(begin, end)
    policies = _list(document.get("policies"), "policies")
    if len(policies) > limits.max_records:
        raise ReportRefused(reason="too_many_records", detail=f"more than {limits.max_records}")
    return TlsReport(
        org_name=v.required_text(
            _string(document.get("organization-name"), "organization-name"), "organization-name"
        ),
        report_id=v.required_text(_string(document.get("report-id"), "report-id"), "report-id"),
        begin=begin,
        end=end,
        policies=tuple(_policy(p, f"policies/{i}", limits) for i, p in enumerate(policies)),
        contact_info=_text(document, "contact-info", limits.max_text),
    )


def _policy(value: object, name: str, limits: Limits) -> TlsPolicy:
    entry = _object(value, name)
    policy = _object(entry.get("policy"), f"{name}/policy")
    summary = _object(entry.get("summary"), f"{name}/summary")
    details = _list(entry.get("failure-details"), f"{name}/failure-details")
    if len(details) > limits.max_records:
        raise ReportRefused(reason="too_many_records", detail=f"more than {limits.max_records}")
    return TlsPolicy(
        policy_type=v.word(
            _string(policy.get("policy-type"), f"{name}/policy-type"),
            f"{name}/policy-type",
            POLICY_TYPES,
        ),
        policy_domain=v.domain(
            _string(policy.get("policy-domain"), f"{name}/policy-domain"), f"{name}/policy-domain"
        ),
        successful=_count(
            summary.get("total-successful-session-count"),
            f"{name}/summary/total-successful-session-count",
        ),
        failed=_count(
            summary.get("total-failure-session-count"),
            f"{name}/summary/total-failure-session-count",
        ),
        policy_strings=_strings(policy.get("policy-string"), f"{name}/policy-string", limits),
        mx_hosts=_strings(policy.get("mx-host"), f"{name}/mx-host", limits),
        failures=tuple(
            _failure(d, f"{name}/failure-details/{i}", limits) for i, d in enumerate(details)
        ),
    )


def _strings(value: object, name: str, limits: Limits) -> tuple[str, ...]:
    items = _list(value, name)
    if len(items) > limits.max_records:
        raise ReportRefused(
            reason="too_many_records", detail=f"{name}: more than {limits.max_records}"
        )
    texts = (v.optional_text(_string(item, name), limits.max_text) for item in items)
    return tuple(text for text in texts if text is not None)


def _failure(value: object, name: str, limits: Limits) -> TlsFailure:
    entry = _object(value, name)
    result_type = v.required_text(_string(entry.get("result-type"), name), f"{name}/result-type")
    if not _RESULT_TYPE.fullmatch(result_type.lower()):
        raise ReportRefused(reason="bad_value", detail=f"{name}/result-type {result_type[:64]!r}")
    return TlsFailure(
        result_type=result_type.lower(),
        failed_session_count=_count(
            entry.get("failed-session-count"), f"{name}/failed-session-count"
        ),
        sending_mta_ip=v.optional_ip(
            _string(entry.get("sending-mta-ip"), name), f"{name}/sending-mta-ip"
        ),
        receiving_mx_hostname=v.optional_domain(
            _string(entry.get("receiving-mx-hostname"), name), f"{name}/receiving-mx-hostname"
        ),
        receiving_mx_helo=_text(entry, "receiving-mx-helo", v.MAX_NAME),
        receiving_ip=v.optional_ip(
            _string(entry.get("receiving-ip"), name), f"{name}/receiving-ip"
        ),
        additional_information=_text(entry, "additional-information", limits.max_text),
        failure_reason_code=_text(entry, "failure-reason-code", limits.max_text),
    )
