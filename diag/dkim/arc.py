"""ARC chain validation (RFC 8617) with dkimpy, on keys fetched through our Resolver.

The ARC-Seal and ARC-Message-Signature key names are read here, fetched concurrently, and
served to dkimpy's ``ARC.verify`` (``NativeARC``: RSA by OpenSSL, see diag/dkim/verifier.py).
Where dkimpy crashes or refuses (a header written ``ARC-Message-Signature:i=3;``, Ed25519
seals), the outcome is ``cv=fail`` with a reason code: this module never raises for anything in
the message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import dkim

from diag.dkim.fetch import KeyLookup, capture_logger, fetch_keys, prefetched_dnsfunc, to_crlf
from diag.dkim.parse import parse_tag_list
from diag.dkim.verifier import NativeARC
from diag.errors import DkimSyntaxError
from diag.jsonvalue import JsonObject
from diag.resolver import Resolver

log = logging.getLogger(__name__)

ARC_SIGNING_FIELDS = ("arc-seal", "arc-message-signature")  # RFC 8617 §4.1.2, §4.1.3
MAX_INSTANCE = 50  # RFC 8617 §4.2.1: i= is 1..50
CV_PASS, CV_FAIL, CV_NONE = "pass", "fail", "none"  # RFC 8617 §4.1.3 cv=


@dataclass(frozen=True)
class ArcSetResult:
    """What dkimpy found for one ARC set (instance)."""

    instance: int
    cv: str
    ams_domain: str
    ams_selector: str
    ams_valid: bool
    seal_domain: str
    seal_selector: str
    seal_valid: bool

    def to_dict(self) -> JsonObject:
        return {
            "instance": self.instance,
            "cv": self.cv,
            "ams_domain": self.ams_domain,
            "ams_selector": self.ams_selector,
            "ams_valid": self.ams_valid,
            "seal_domain": self.seal_domain,
            "seal_selector": self.seal_selector,
            "seal_valid": self.seal_valid,
        }


@dataclass(frozen=True)
class ArcResult:
    """Chain validation status (``cv``: pass, fail, none) with a stable ``reason`` code.

    Reasons: ``""`` (pass), ``arc.none`` (no ARC sets), ``arc.chain_failed`` (a seal says
    cv=fail), ``arc.ams_invalid``, ``arc.seal_invalid``, ``arc.invalid_cv``,
    ``arc.structure`` (missing/duplicate sets or fields, bad tags), ``arc.unsupported_algorithm``,
    ``arc.dns_temperror``, ``arc.verifier_error`` (dkimpy failed; ``detail`` has the text).
    """

    cv: str
    instances: int
    reason: str
    detail: str = ""
    sets: tuple[ArcSetResult, ...] = ()

    def to_dict(self) -> JsonObject:
        return {
            "cv": self.cv,
            "instances": self.instances,
            "reason": self.reason,
            "detail": self.detail,
            "sets": [s.to_dict() for s in self.sets],
        }


_INSTANCE = re.compile(rb"(?:^|[\s;])i\s*=\s*(\d+)")
_FIELD = re.compile(
    rb"^(arc-seal|arc-message-signature|arc-authentication-results)[ \t]*:"
    rb"([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)",
    re.IGNORECASE | re.MULTILINE,
)


def _arc_fields(data: bytes) -> list[tuple[str, bytes]]:
    header_block = data.split(b"\r\n\r\n", 1)[0]
    return [(m.group(1).decode("ascii").lower(), m.group(2)) for m in _FIELD.finditer(header_block)]


def _key_names(fields: list[tuple[str, bytes]]) -> list[str]:
    """The ``s._domainkey.d`` of every ARC-Seal and ARC-Message-Signature that parses."""
    names = []
    for name, value in fields:
        if name not in ARC_SIGNING_FIELDS:
            continue
        try:
            tags = {t.name: t.value for t in parse_tag_list(value.decode("utf-8", "replace"))}
        except DkimSyntaxError:
            continue
        if tags.get("s") and tags.get("d"):
            names.append(f"{tags['s']}._domainkey.{tags['d']}")
    return names


def _instance_count(fields: list[tuple[str, bytes]]) -> int:
    found = [int(m.group(1)) for _, value in fields if (m := _INSTANCE.search(value))]
    return max(found, default=0)


async def verify_arc(message: bytes, resolver: Resolver) -> ArcResult:
    """Validate the ARC chain of ``message`` (RFC 8617 §5.2). Never raises for the message.

    ``instances`` is the highest ``i=`` seen on an ARC field. A ``DnsError`` while fetching a
    key gives ``arc.dns_temperror`` when the chain does not pass.
    """
    data = to_crlf(message)
    fields = _arc_fields(data)
    instances = _instance_count(fields)
    if not fields:
        return ArcResult(CV_NONE, 0, "arc.none", "message is not ARC signed")
    lookups = await fetch_keys(resolver, _key_names(fields))
    logger, messages = capture_logger("diag.dkim.arc")
    try:
        verifier = NativeARC(data, logger=logger)
        cv, raw_sets, text = verifier.verify(dnsfunc=prefetched_dnsfunc(lookups))
    except Exception as exc:  # known dkimpy defects (IndexError on "ARC-...:i=3;") and others
        log.info("arc.verifier_error error=%s", type(exc).__name__)
        detail = f"{type(exc).__name__}: {exc}"
        return ArcResult(CV_FAIL, instances, "arc.verifier_error", detail)
    sets = tuple(_set_result(item) for item in raw_sets)
    status = {dkim.CV_Pass: CV_PASS, dkim.CV_None: CV_NONE}.get(cv, CV_FAIL)
    if status == CV_NONE:  # ARC fields are present, but dkimpy found no usable instance
        return ArcResult(CV_FAIL, instances, "arc.structure", f"ARC fields without i=: {text}")
    detail = str(text)
    if messages and status != CV_PASS:
        detail = f"{detail}; {messages[-1]}"
    return ArcResult(status, instances, _reason(status, str(text), lookups), detail, sets)


def _reason(status: str, text: str, lookups: dict[str, KeyLookup]) -> str:
    if status == CV_PASS:
        return ""
    if any(lookup.error is not None for lookup in lookups.values()):
        return "arc.dns_temperror"
    for prefix, reason in _REASON_PREFIXES:
        if prefix in text:
            return reason
    return "arc.structure"


_REASON_PREFIXES = (
    ("reported failure", "arc.chain_failed"),
    ("Message-Signature did not validate", "arc.ams_invalid"),
    ("did not validate", "arc.seal_invalid"),
    ("reported invalid status", "arc.invalid_cv"),
    ("unknown signature algorithm", "arc.unsupported_algorithm"),
)


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _set_result(item: dict[Any, Any]) -> ArcSetResult:
    return ArcSetResult(
        instance=int(item.get("instance", 0)),
        cv=_text(item.get("cv")).lower(),
        ams_domain=_text(item.get("ams-domain")).lower(),
        ams_selector=_text(item.get("ams-selector")).lower(),
        ams_valid=bool(item.get("ams-valid")),
        seal_domain=_text(item.get("as-domain")).lower(),
        seal_selector=_text(item.get("as-selector")).lower(),
        seal_valid=bool(item.get("as-valid")),
    )
