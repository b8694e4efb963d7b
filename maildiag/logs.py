"""Logging set-up for every process: text lines by default, or with ``log_format = "json"``
(``MAILDIAG_LOG_FORMAT=json``) one JSON object per line per event, from level INFO, each
with the id of the request it belongs to (``request_id``; ``-`` outside a request).

The id lives in a context variable that the web's request middleware sets; tasks and
``asyncio.to_thread`` copy the context, so the id follows the request's work. Messages are
event-style (``worker.handled outbox_id=%s status=%s``): the JSON form names the event and
lifts the ``key=value`` pairs into fields.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import secrets
import sys

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# An incoming X-Request-ID is kept when it is this (a UUID, a hex or base64url token, ...).
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
_PAIR = re.compile(r"(?<!\S)([a-z_][a-z0-9_]*)=(\S*)")
TEXT_FORMAT = "%(levelname)s %(name)s %(message)s"
_RESERVED = frozenset({"ts", "level", "logger", "event", "message", "request_id", "exception"})


def request_id_for(given: str | None) -> str:
    """``given`` when it is a well-formed id, else a fresh random one."""
    if given and WELL_FORMED_ID.fullmatch(given):
        return given
    return secrets.token_hex(16)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``record.request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, event, message, request id, the
    message's ``key=value`` pairs, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        event = message.split(" ", 1)[0] if message else ""
        entry: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event,
            "message": message,
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        for key, value in _PAIR.findall(message):
            if key not in _RESERVED:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: str = "text", *, verbose: bool = False) -> None:
    """Send the root logger's records to stderr as ``log_format`` (text or json), replacing
    handlers set before (a process configures this once, at start). Text shows warnings,
    JSON the INFO events too; ``verbose`` shows debug events in either."""
    level = logging.DEBUG if verbose else logging.INFO if log_format == "json" else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
