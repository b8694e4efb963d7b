"""The recipient's transport security: MTA-STS (RFC 8461), TLS-RPT (RFC 8460), DANE TLSA for
the MX hosts (RFC 7672) and the probe's STARTTLS, judged as our senders meet them.

Parsers are pure; ``check_transport`` does its lookups through the injected Resolver and
fetches an MTA-STS policy only through the fetcher it is given (never in the lab).
"""

from diag.transport.check import check_transport
from diag.transport.dane import Tlsa, matches, parse_tlsa, tlsa_name, unusable_reason
from diag.transport.fetch import FETCH_TIMEOUT, HttpsPolicyFetcher, PolicyFetcher
from diag.transport.mtasts import (
    MAX_AGE_LIMIT,
    MAX_POLICY_BYTES,
    MtaStsPolicy,
    MtaStsRecord,
    is_sts_record,
    mx_matches,
    parse_policy,
    policy_url,
)
from diag.transport.mtasts import parse_record as parse_sts_record
from diag.transport.report import DaneHost, MtaSts, TlsRpt, TransportReport
from diag.transport.starttls import EXPIRY_WARNING_DAYS, StartTls, judge_starttls
from diag.transport.tlsrpt import TlsRptRecord, is_tlsrpt_record
from diag.transport.tlsrpt import parse_record as parse_tlsrpt_record
from diag.transport.trust import chain_problem, default_trust_store, trust_store

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "FETCH_TIMEOUT",
    "MAX_AGE_LIMIT",
    "MAX_POLICY_BYTES",
    "DaneHost",
    "HttpsPolicyFetcher",
    "MtaSts",
    "MtaStsPolicy",
    "MtaStsRecord",
    "PolicyFetcher",
    "StartTls",
    "TlsRpt",
    "TlsRptRecord",
    "Tlsa",
    "TransportReport",
    "chain_problem",
    "check_transport",
    "default_trust_store",
    "is_sts_record",
    "is_tlsrpt_record",
    "judge_starttls",
    "matches",
    "mx_matches",
    "parse_policy",
    "parse_sts_record",
    "parse_tlsa",
    "parse_tlsrpt_record",
    "policy_url",
    "tlsa_name",
    "trust_store",
    "unusable_reason",
]
