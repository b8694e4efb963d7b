"""The words reports are keyed on: languages, report kinds and formats, the checklist's
statuses, item keys and audiences, and the JSON a report becomes at its edge.

Values only; nothing here renders. A name read from outside (a command line, a query string,
a diag value) is checked here once, so the view models hold these types and never a bare
string that might be misspelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, TypeAlias, get_args

from diag.checklist import (
    AUDIENCES,
    ITEM_KEYS,
    STATUSES,
    Audience,
    ItemKey,
    Status,
    is_audience,
    is_item_key,
    is_status,
)
from diag.jsonvalue import Json, JsonObject

Language: TypeAlias = Literal["nb", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)

# The checklist's vocabularies (DESIGN.md: the checklist JSON) are diag.checklist's: diag
# decides them, the views hold them typed.

# What a report becomes at its edge (the CLI's --json, the API): plain JSON values, the
# same type diag's to_dict() shapes have.
JsonValue: TypeAlias = Json


class ReportKind(StrEnum):
    """One report, with its own view model and templates."""

    SPF = "spf"
    SENDER = "sender"
    RECIPIENT = "recipient"
    HEADERS = "headers"
    AUTHENTICATE = "authenticate"
    CHECKLIST = "checklist"
    TESTSEND = "testsend"
    SCAN = "scan"


class Format(StrEnum):
    """What a report is rendered as: ``page`` is an HTML fragment for a page of the app,
    ``html`` a document of its own."""

    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PAGE = "page"
    JSON = "json"


_DOCUMENTS = (Format.TEXT, Format.MARKDOWN, Format.HTML, Format.JSON)
FORMATS: Mapping[ReportKind, tuple[Format, ...]] = MappingProxyType(
    {
        ReportKind.SPF: _DOCUMENTS,
        ReportKind.SENDER: _DOCUMENTS,
        ReportKind.RECIPIENT: _DOCUMENTS,
        ReportKind.HEADERS: _DOCUMENTS,
        ReportKind.AUTHENTICATE: (Format.TEXT, Format.JSON),
        ReportKind.CHECKLIST: (Format.TEXT, Format.MARKDOWN, Format.HTML, Format.PAGE, Format.JSON),
        ReportKind.TESTSEND: _DOCUMENTS,
        ReportKind.SCAN: (Format.TEXT, Format.MARKDOWN, Format.HTML, Format.PAGE, Format.JSON),
    }
)


def language(lang: str) -> Language:
    """``lang`` as a report language. Raises ValueError for any other than nb and en."""
    for known in LANGUAGES:
        if lang == known:
            return known
    raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")


def report_format(kind: ReportKind, fmt: str) -> Format:
    """``fmt`` as one of ``kind``'s formats. Raises ValueError for any other."""
    for known in FORMATS[kind]:
        if fmt == known:
            return known
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS[kind])}")


__all__ = [
    "AUDIENCES",
    "FORMATS",
    "ITEM_KEYS",
    "LANGUAGES",
    "STATUSES",
    "Audience",
    "Format",
    "ItemKey",
    "JsonObject",
    "JsonValue",
    "Language",
    "ReportKind",
    "Status",
    "is_audience",
    "is_item_key",
    "is_status",
    "language",
    "report_format",
]
