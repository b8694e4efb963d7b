"""Pasted-header analysis: Received hops and delays, Authentication-Results and ARC results,
receivers' spam verdicts (Microsoft 365, SpamAssassin, rspamd, Gmail, gateways) and the
conclusion about which folder the message landed in. Parsing is pure and never raises for
bad input; only the optional DKIM re-verification uses DNS.
"""

from diag.headers.authresults import (
    AuthenticationEntry,
    MethodResult,
    parse_authentication_results,
)
from diag.headers.conclusion import FOLDERS, REASONS, Conclusion, conclude
from diag.headers.fields import HeaderBlock, parse_header_block
from diag.headers.microsoft import parse_forefront
from diag.headers.model import SYSTEMS, Detail, Verdict
from diag.headers.received import Hop, parse_date, parse_hops, parse_received
from diag.headers.report import HeaderReport, analyze_headers, parse_headers
from diag.headers.verdicts import decode_verdicts

__all__ = [
    "FOLDERS",
    "REASONS",
    "SYSTEMS",
    "AuthenticationEntry",
    "Conclusion",
    "Detail",
    "HeaderBlock",
    "HeaderReport",
    "Hop",
    "MethodResult",
    "Verdict",
    "analyze_headers",
    "conclude",
    "decode_verdicts",
    "parse_authentication_results",
    "parse_date",
    "parse_forefront",
    "parse_header_block",
    "parse_headers",
    "parse_hops",
    "parse_received",
]
