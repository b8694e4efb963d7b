"""Pure view helpers for the sink's pages: the readable parts of a captured message and the
verdict explained result by result.

Everything here takes untrusted bytes and returns plain strings for autoescaped templates; the
HTML part is additionally sanitized (nh3) before it is served, sandboxed, in an iframe. The
MIME tree is read within diag.mime's depth and part caps; a refused structure gives the raw
text. What costs time here runs off the event loop (``maildiag.web.sink_render``).
"""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import Any

import nh3

from diag.mime import MimeStructureError, parse_message, walk_parts
from smtp_sink import clean_text

MAX_PART_CHARS = 200_000  # what a page shows of one body part
_RESULT_CLASSES = {"pass": "ok", "fail": "bad", "permerror": "bad", "softfail": "warn"}


@dataclass(frozen=True)
class Parts:
    """The parts of a message a person reads."""

    text: str
    html: str | None
    attachments: tuple[str, ...]
    refused: str = ""  # why the MIME structure was not read (diag.mime); ``text`` is then raw


def _content(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        text = payload.decode("utf-8", "replace")
    return clean_text(text[:MAX_PART_CHARS])


def message_parts(raw: bytes) -> Parts:
    """The first text/plain and text/html parts and the attachment names. Pure and total."""
    try:
        message = parse_message(raw, policy=email.policy.default)
    except MimeStructureError as exc:
        return Parts(
            clean_text(raw.decode("utf-8", "replace")[:MAX_PART_CHARS]), None, (), exc.reason
        )
    except (ValueError, TypeError, LookupError):  # pragma: no cover - the parser is lenient
        return Parts(raw.decode("utf-8", "replace")[:MAX_PART_CHARS], None, ())
    text: str | None = None
    html: str | None = None
    attachments: list[str] = []
    for part in walk_parts(message):
        if part.is_multipart():
            continue
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except (ValueError, TypeError, LookupError):
            disposition, filename = None, None
        if disposition == "attachment" or filename:
            attachments.append(clean_text(str(filename or part.get_content_type()))[:200])
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and text is None:
            text = _content(part)
        elif kind == "text/html" and html is None:
            html = _content(part)
    if text is None and isinstance(message, EmailMessage) and not message.is_multipart():
        text = "" if html is not None else _content(message)
    return Parts(text or "", html, tuple(attachments))


def sanitize_html(html: str) -> str:
    """The HTML with scripts, event handlers, forms and unsafe URLs removed (nh3's allowlist).
    Every link opens in a new tab (the page's iframe allows that popup, out of its sandbox), so
    a link to one of our own pages is not refused inside the frame (``X-Frame-Options``)."""
    return nh3.clean(
        html,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )


@dataclass(frozen=True)
class ResultLine:
    """One authentication result explained: what was checked, the outcome, the reason code."""

    method: str
    result: str
    subject: str
    reason: str
    explain_key: str
    css: str


def _line(method: str, result: str, subject: str, reason: str) -> ResultLine:
    result = (result or "none").lower()
    return ResultLine(
        method=method,
        result=result,
        subject=subject,
        reason=reason,
        explain_key=f"sink.explain.{method}.{result}",
        css=_RESULT_CLASSES.get(result, "neutral"),
    )


def explain_verdict(verdict: Mapping[str, Any]) -> list[ResultLine]:
    """The stored verdict (``authenticate`` JSON in ``data``) as lines to explain.

    A verdict from a judge that checked nothing gives no lines.
    """
    data = verdict.get("data") or {}
    if not isinstance(data, Mapping) or "spf" not in data:
        return []
    lines: list[ResultLine] = []
    spf = data.get("spf") or {}
    lines.append(_line("spf", str(spf.get("result", "none")), str(spf.get("domain", "")), ""))
    for dkim in data.get("dkim") or [{"result": "none"}]:
        subject = str(dkim.get("domain") or "")
        if dkim.get("selector"):
            subject += f" (s={dkim['selector']})"
        lines.append(_line("dkim", str(dkim.get("result")), subject, str(dkim.get("reason") or "")))
    dmarc = data.get("dmarc") or {}
    policy = f"p={dmarc.get('policy', 'none')}"
    lines.append(
        _line("dmarc", str(dmarc.get("result")), str(dmarc.get("from_domain") or ""), policy)
    )
    arc = data.get("arc") or {}
    lines.append(_line("arc", str(arc.get("result")), "", str(arc.get("reason") or "")))
    return lines


__all__ = ["Parts", "ResultLine", "explain_verdict", "message_parts", "sanitize_html"]
