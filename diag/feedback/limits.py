"""What reading one feedback file may cost, and the vocabulary of refusals.

Reports come from strangers (anyone can point ``rua=`` at us, or mail the sink), so every size
is bounded before it is spent: the bytes taken in, the bytes a gzip stream or a zip member may
inflate to, the members of an archive, the reports in one file, the records of one report.
RFC 9990's security considerations ("Report Contents as an Attack") name zip and XML bombs
as the attack on a report processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The bounds on one file. The defaults are far above real reports (a daily Google or
    Microsoft aggregate report of a busy domain is well under a megabyte of XML)."""

    max_input_bytes: int = 32 * MIB  # the file as given, before any decompression
    max_report_bytes: int = 32 * MIB  # one report (XML or JSON) after decompression
    max_total_bytes: int = 128 * MIB  # everything one file decompresses to
    max_members: int = 64  # members of one zip archive
    max_reports: int = 10_000  # reports (or refused parts) found in one file
    max_records: int = 100_000  # records of one aggregate report, policies of a TLS report
    max_text: int = 2048  # one text value (an error, a comment, a header) is cut here


DEFAULT_LIMITS = Limits()

REASONS = MappingProxyType(
    {
        "unreadable": "the file cannot be read (said by the caller that opens files)",
        "empty": "the file or part holds no bytes",
        "too_large": "the input is larger than max_input_bytes",
        "decompression_bomb": "a gzip stream or zip member inflates past the size limits",
        "too_many_members": "a zip archive has more members than max_members",
        "too_many_reports": "one file holds more than max_reports reports",
        "too_many_records": "one report has more than max_records records or policies",
        "nested_archive": "an archive inside an archive (only one level is read)",
        "archive_corrupt": "a gzip stream or zip archive that cannot be read to its end",
        "archive_encrypted": "a zip member that is encrypted",
        "xml_dtd": "the XML has a document type declaration (entities, external references)",
        "xml_entity": "the XML declares or references an entity",
        "xml_malformed": "the XML is not well-formed",
        "json_malformed": "the JSON cannot be read",
        "mime_structure": "the message nests too deep or has too many parts",
        "unknown_format": "neither a DMARC aggregate, DMARC failure nor SMTP TLS report",
        "no_report": "a message or archive that holds no report",
        "unsupported_feedback_type": "an ARF report that is not a DMARC authentication failure",
        "missing_field": "a field the format requires is absent or empty",
        "bad_value": "a field whose value the format does not allow",
        "bad_date": "a date that cannot be read, or a range that ends before it begins",
    }
)
"""Every refusal's ``reason``, with what it means. Tests assert codes, never wording."""
