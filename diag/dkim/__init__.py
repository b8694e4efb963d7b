"""DKIM (RFC 6376, RFC 8463) and ARC (RFC 8617): parsing, verification, signing, key checks.

Parsing is pure; every DNS lookup goes through the injected Resolver, and dkimpy does the
cryptography on keys fetched beforehand. Results and findings carry stable reason codes.
"""

from diag.dkim.arc import ArcResult, ArcSetResult, verify_arc
from diag.dkim.fetch import KeyLookup, fetch_key, fetch_keys
from diag.dkim.keys import check_selector, public_key_record
from diag.dkim.parse import (
    DkimKey,
    DkimSignature,
    Tag,
    parse_key_record,
    parse_signature,
    parse_tag_list,
)
from diag.dkim.sign import DkimSignError, KeyPair, generate_keypair, sign_message
from diag.dkim.verify import REASON_RESULTS, DkimResult, verify_message

__all__ = [
    "REASON_RESULTS",
    "ArcResult",
    "ArcSetResult",
    "DkimKey",
    "DkimResult",
    "DkimSignError",
    "DkimSignature",
    "KeyLookup",
    "KeyPair",
    "Tag",
    "check_selector",
    "fetch_key",
    "fetch_keys",
    "generate_keypair",
    "parse_key_record",
    "parse_signature",
    "parse_tag_list",
    "public_key_record",
    "sign_message",
    "verify_arc",
    "verify_message",
]
