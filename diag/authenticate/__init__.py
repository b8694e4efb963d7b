"""A receiver's verdict on one message: SPF + DKIM + DMARC (+ ARC) and the
``Authentication-Results`` header field, from a message and its SMTP envelope.
"""

from diag.authenticate.headers import (
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    FromDomains,
    HeaderBlock,
    from_domains,
    parse_header_block,
    split_header,
)
from diag.authenticate.verdict import SpfVerdict, Verdict, authenticate

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_FIELDS",
    "FromDomains",
    "HeaderBlock",
    "SpfVerdict",
    "Verdict",
    "authenticate",
    "from_domains",
    "parse_header_block",
    "split_header",
]
