"""DKIM verification of every signature on a message: keys through our Resolver, checks by dkimpy.

Each signature is parsed and pre-checked here (algorithm, h=, timestamps against the caller's
clock, the key record), its key fetched concurrently through the injected Resolver, and only
then handed to dkimpy's ``DKIM`` object (``NativeDKIM``: RSA by OpenSSL, see
diag/dkim/verifier.py) with a ``dnsfunc`` serving those prefetched keys.
Nothing here raises for a bad message: every outcome is a ``DkimResult`` with a stable reason.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import dkim
import dkim.util

from diag.dkim.fetch import (
    DnsFunc,
    KeyLookup,
    capture_logger,
    fetch_keys,
    prefetched_dnsfunc,
    to_crlf,
)
from diag.dkim.parse import DkimKey, DkimSignature, parse_key_record_cached, parse_signature
from diag.dkim.verifier import NativeDKIM
from diag.errors import DkimSyntaxError
from diag.jsonvalue import JsonObject
from diag.resolver import Resolver, normalize_name

log = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = ("rsa-sha256", "ed25519-sha256")  # RFC 8301 §3.1, RFC 8463 §3
KEY_TYPES: Mapping[str, str] = MappingProxyType({"rsa-sha256": "rsa", "ed25519-sha256": "ed25519"})
CANONICALIZATIONS = ("simple", "relaxed")  # RFC 6376 §3.4
MIN_RSA_BITS = 1024  # RFC 8301 §3.2: verifiers MUST NOT accept RSA keys shorter than 1024 bits
FUTURE_SKEW = 36000  # seconds of clock skew tolerated for t= (RFC 6376 §3.5 t=; dkimpy's 10 h)

PASS, FAIL, NEUTRAL, POLICY, TEMPERROR, PERMERROR = (
    "pass",
    "fail",
    "neutral",
    "policy",
    "temperror",
    "permerror",
)  # RFC 8601 §2.7.1

# The stable reason codes and the RFC 8601 result each one gives.
REASON_RESULTS: Mapping[str, str] = MappingProxyType(
    {
        "": PASS,
        "body_hash_mismatch": FAIL,  # RFC 6376 §6.1.3
        "signature_mismatch": FAIL,  # RFC 6376 §6.1.3
        "key_revoked": FAIL,  # RFC 6376 §3.6.1 p= empty
        "expired": FAIL,  # RFC 6376 §3.5 x=
        "future_timestamp": NEUTRAL,  # RFC 6376 §3.5 t= (may be clock skew)
        "no_key": PERMERROR,  # RFC 6376 §6.1.2
        "key_syntax": PERMERROR,  # RFC 6376 §6.1.2
        "key_too_short": PERMERROR,  # RFC 8301 §3.2
        "key_algorithm_mismatch": PERMERROR,  # RFC 6376 §6.1.2
        "key_hash_restricted": PERMERROR,  # RFC 6376 §6.1.2
        "key_service_mismatch": PERMERROR,  # RFC 6376 §3.6.1 s=
        "identity_mismatch": PERMERROR,  # RFC 6376 §3.6.1 t=s
        "unsupported_algorithm": PERMERROR,  # RFC 8301 §3.1 (rsa-sha1), RFC 6376 §6.1.1
        "unsupported_canonicalization": PERMERROR,  # RFC 6376 §6.1.1
        "unsupported_query_method": PERMERROR,  # RFC 6376 §6.1.1
        "signature_syntax": PERMERROR,  # RFC 6376 §6.1.1
        "missing_from_in_h": PERMERROR,  # RFC 6376 §6.1.1: From must be signed
        "message_syntax": PERMERROR,  # the message itself cannot be read
        "dns_temperror": TEMPERROR,  # RFC 6376 §6.1.2
        "verifier_error": NEUTRAL,  # the verifier failed on input it should handle
    }
)


@dataclass(frozen=True)
class DkimResult:
    """The verdict on one DKIM-Signature, with its stable ``reason`` code as evidence."""

    result: str
    domain: str
    selector: str
    reason: str = ""
    detail: str = ""
    algorithm: str = ""
    key_bits: int | None = None
    header_i: str = ""
    testing: bool = False

    def to_dict(self) -> JsonObject:
        """The JSON shape of ``authenticate``'s ``dkim`` list."""
        return {
            "result": self.result,
            "domain": self.domain,
            "selector": self.selector,
            "reason": self.reason,
            "detail": self.detail,
            "algorithm": self.algorithm,
            "key_bits": self.key_bits,
            "header_i": self.header_i,
            "testing": self.testing,
        }


def _result(
    reason: str,
    sig: DkimSignature | None,
    detail: str = "",
    *,
    key: DkimKey | None = None,
    domain: str = "",
    selector: str = "",
) -> DkimResult:
    return DkimResult(
        result=REASON_RESULTS[reason],
        domain=sig.domain if sig else domain,
        selector=sig.selector if sig else selector,
        reason=reason,
        detail=detail,
        algorithm=sig.algorithm if sig else "",
        key_bits=key.bits if key else None,
        header_i=sig.agent_identifier if sig else "",
        testing=key.testing if key else False,
    )


_H_SEPARATOR = re.compile(rb"\s*:\s*")  # dkimpy's split of h=


class _Verifier(NativeDKIM):
    """dkimpy's verifier (with OpenSSL's RSA), t= and x= left to us so ``now`` is the clock.

    Identical to ``DKIM.verify_headerprep`` except that the signature fields handed to
    ``validate_signature_fields`` omit t= and x=, which ``_precheck`` has already judged.
    """

    def verify_headerprep(self, idx: int = 0) -> Any:
        sigheaders = [(n, v) for n, v in self.headers if n.lower() == b"dkim-signature"]
        if len(sigheaders) <= idx:
            return False
        try:
            sig = dkim.util.parse_tag_value(sigheaders[idx][1])
        except dkim.util.InvalidTagValueList as exc:
            raise dkim.MessageFormatError(exc) from exc
        self.signature_fields = sig
        dkim.validate_signature_fields({k: v for k, v in sig.items() if k not in (b"t", b"x")})
        self.domain = sig[b"d"]
        self.selector = sig[b"s"]
        include_headers = [x.lower() for x in _H_SEPARATOR.split(sig[b"h"])]
        self.include_headers = tuple(include_headers)
        return sig, include_headers, sigheaders


@dataclass(frozen=True)
class _Plan:
    index: int
    signature: DkimSignature | None
    verdict: DkimResult | None


async def verify_message(
    message: bytes, resolver: Resolver, *, now: float | None = None, max_signatures: int = 10
) -> tuple[DkimResult, ...]:
    """Verify every DKIM-Signature of ``message`` (up to ``max_signatures``, topmost first).

    Keys are fetched concurrently through ``resolver``; ``now`` (epoch seconds, default the
    current time) judges t= and x=. An unsigned message gives ``()``. Never raises for
    anything in the message; a ``DnsError`` from the resolver becomes ``temperror``.
    """
    clock = time.time() if now is None else now
    data = to_crlf(message)
    logger, messages = capture_logger("diag.dkim.verify")
    try:
        verifier = _Verifier(data, logger=logger, minkey=MIN_RSA_BITS)
    except Exception as exc:  # dkimpy's header parser fails on malformed header blocks
        return _unparseable(data, exc, max_signatures)
    values = [v for n, v in verifier.headers if n.lower() == b"dkim-signature"]
    if len(values) > max_signatures:
        log.info("dkim.too_many_signatures count=%d limit=%d", len(values), max_signatures)
    plans = [_precheck(i, v, clock) for i, v in enumerate(values[:max_signatures])]
    names = [p.signature.key_name for p in plans if p.signature and not p.verdict]
    lookups = await fetch_keys(resolver, names)
    dnsfunc = prefetched_dnsfunc(lookups)
    return tuple(_finish(verifier, plan, lookups, dnsfunc, messages) for plan in plans)


def _precheck(index: int, raw: bytes, clock: float) -> _Plan:
    text = raw.decode("utf-8", "replace")
    try:
        sig = parse_signature(text)
    except DkimSyntaxError as exc:
        domain, selector = _lenient_tags(text)
        verdict = _result(
            "signature_syntax", None, _describe(exc), domain=domain, selector=selector
        )
        return _Plan(index, None, verdict)
    reason, detail = _signature_problem(sig, clock)
    return _Plan(index, sig, _result(reason, sig, detail) if reason else None)


def _signature_problem(sig: DkimSignature, clock: float) -> tuple[str, str]:
    if sig.algorithm == "rsa-sha1":
        return "unsupported_algorithm", "rsa-sha1 must not be used (RFC 8301 §3.1)"
    if sig.algorithm not in SUPPORTED_ALGORITHMS:
        return "unsupported_algorithm", f"unknown algorithm {sig.algorithm}"
    canon = (sig.header_canonicalization, sig.body_canonicalization)
    if any(c not in CANONICALIZATIONS for c in canon):
        return "unsupported_canonicalization", f"c={sig.canonicalization}"
    if "dns/txt" not in sig.query_methods:
        return "unsupported_query_method", "q=" + ":".join(sig.query_methods)
    if "from" not in sig.headers:
        return "missing_from_in_h", "h=" + ":".join(sig.headers)
    if sig.timestamp is not None and sig.timestamp > clock + FUTURE_SKEW:
        return "future_timestamp", f"t={sig.timestamp} now={int(clock)}"
    if sig.expiration is not None and sig.expiration < clock:
        return "expired", f"x={sig.expiration} now={int(clock)}"
    return "", ""


def _key_problem(sig: DkimSignature, lookup: KeyLookup | None) -> tuple[str, str, DkimKey | None]:
    if lookup is None or lookup.error is not None:
        return "dns_temperror", str(lookup.error) if lookup else "key not fetched", None
    record = lookup.record
    if record is None:
        rcode = lookup.rcode.value if lookup.rcode else ""
        return "no_key", f"{sig.key_name} TXT: {rcode}", None
    try:
        key = parse_key_record_cached(record)
    except DkimSyntaxError as exc:
        return "key_syntax", _describe(exc), None
    if key.revoked:
        return "key_revoked", "p= is empty", key
    if key.key_type not in KEY_TYPES.values():
        return "unsupported_algorithm", f"unknown key type k={key.key_type}", key
    if KEY_TYPES[sig.algorithm] != key.key_type:
        return "key_algorithm_mismatch", f"a={sig.algorithm} k={key.key_type}", key
    if not key.for_email:
        return "key_service_mismatch", "s=" + ":".join(key.service_types), key
    if not key.allows_hash("sha256"):
        return "key_hash_restricted", "h=" + ":".join(key.hash_algorithms or ()), key
    if key.strict and sig.agent_identifier.rpartition("@")[2].lower() != sig.domain:
        return "identity_mismatch", f"t=s and i={sig.agent_identifier}", key
    if key.key_type == "rsa" and (key.bits or 0) < MIN_RSA_BITS:
        return "key_too_short", f"{key.bits} bits", key
    return "", "", key


def _finish(
    verifier: Any,
    plan: _Plan,
    lookups: Mapping[str, KeyLookup],
    dnsfunc: DnsFunc,
    messages: list[str],
) -> DkimResult:
    if plan.verdict is not None:
        return plan.verdict
    sig = plan.signature
    if sig is None:  # _precheck always sets one of the two
        return _result("verifier_error", None, "signature was not parsed")
    reason, detail, key = _key_problem(sig, lookups.get(normalize_name(sig.key_name)))
    if reason:
        return _result(reason, sig, detail, key=key)
    messages.clear()
    try:
        valid = verifier.verify(idx=plan.index, dnsfunc=dnsfunc)
    except dkim.DKIMException as exc:
        reason = _classify_exception(exc)
        return _result(reason, sig, f"{type(exc).__name__}: {exc}", key=key)
    except Exception as exc:  # a dkimpy defect must not take the diagnosis down
        log.warning("dkim.verifier_error error=%s", type(exc).__name__)
        return _result("verifier_error", sig, f"{type(exc).__name__}: {exc}", key=key)
    if valid:
        return _result("", sig, key=key)
    if messages:  # dkimpy refused the key and said why only in its log
        return _result("key_syntax", sig, messages[-1], key=key)
    return _result("signature_mismatch", sig, "b= does not verify with the published key", key=key)


def _classify_exception(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, dkim.ValidationError):
        if text.startswith("body hash mismatch"):
            return "body_hash_mismatch"
        if text.startswith("unknown signature algorithm"):
            return "unsupported_algorithm"
        return "signature_syntax"
    if isinstance(exc, dkim.KeyFormatError):
        return "key_too_short" if "too small" in text else "key_syntax"
    if isinstance(exc, dkim.MessageFormatError):
        return "signature_syntax" if "c= value" in text else "message_syntax"
    return "verifier_error"


def _describe(exc: DkimSyntaxError) -> str:
    if exc.position is None:
        return exc.message
    return f"{exc.message} at position {exc.position}"


_LENIENT_TAG = re.compile(r"(?:^|;)\s*([ds])\s*=\s*([^;\s]*)")


def _lenient_tags(text: str) -> tuple[str, str]:
    """d= and s= picked out of a signature that does not parse, for the report."""
    found = dict(_LENIENT_TAG.findall(text))
    return found.get("d", "").lower(), found.get("s", "").lower()


_HEADER_SIG = re.compile(
    rb"^dkim-signature[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", re.IGNORECASE | re.MULTILINE
)


def _unparseable(data: bytes, exc: Exception, max_signatures: int) -> tuple[DkimResult, ...]:
    """Results for a message whose header block dkimpy cannot read."""
    header_block = data.split(b"\r\n\r\n", 1)[0]
    detail = f"{type(exc).__name__}: {exc}"
    results = []
    for match in _HEADER_SIG.finditer(header_block):
        domain, selector = _lenient_tags(match.group(1).decode("utf-8", "replace"))
        results.append(_result("message_syntax", None, detail, domain=domain, selector=selector))
    return tuple(results[:max_signatures])
