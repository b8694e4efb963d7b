"""Checks of one published DKIM selector: is the key there, usable, strong, and ours.

``check_selector`` looks the key record up through the injected Resolver and turns what it
finds into findings with stable codes; it never raises for problems in the domain under test.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from diag.dkim.fetch import KeyLookup, fetch_key
from diag.dkim.parse import DkimKey, parse_key_record
from diag.errors import DkimSyntaxError
from diag.findings import ERROR, OK, WARNING, CheckResult, Finding, Severity, has_errors
from diag.resolver import Resolver

MIN_RSA_BITS = 1024  # RFC 8301 §3.2: keys below this MUST NOT be accepted
RECOMMENDED_RSA_BITS = 2048  # RFC 8301 §3.2: signers SHOULD use at least 2048 bits
ED25519_SEED_BYTES = 32  # RFC 8032 §5.1.5: the private key is a 32-byte seed
CHECK_NAME = "dkim.selector"


async def check_selector(
    domain: str, selector: str, resolver: Resolver, *, private_key: bytes | None = None
) -> CheckResult:
    """Check the key record at ``selector._domainkey.domain``.

    With ``private_key`` (PEM for RSA, base64 seed for Ed25519) also check that the published
    key is its public half. Findings: ``dkim.key_missing``, ``dkim.key_syntax``,
    ``dkim.key_revoked``, ``dkim.key_too_short``, ``dkim.key_weak``, ``dkim.testing``,
    ``dkim.hash_restricted``, ``dkim.service_restricted``, ``dkim.multiple_records``,
    ``dkim.key_mismatch``, ``dkim.private_key_invalid``, ``dkim.dns_temperror``,
    ``dkim.key_ok``. Never raises for what the DNS holds.
    """
    name = f"{selector}._domainkey.{domain}".lower().rstrip(".")
    lookup = await fetch_key(resolver, name)
    base: dict[str, object] = {"name": name, "domain": domain, "selector": selector}
    findings, key = _key_findings(lookup, base)
    if key is not None:
        base = {**base, "record": lookup.record, **_key_evidence(key)}
    if key is not None and private_key is not None and not key.revoked:
        findings.extend(_match_findings(key, private_key, base))
    if key is not None and not has_errors(findings):
        findings.append(_finding("dkim.key_ok", OK, "The DKIM key is published and usable.", base))
    data = {**base, "record": lookup.record, "bits": key.bits if key else None}
    return CheckResult(CHECK_NAME, tuple(findings), data)


def _finding(
    code: str, severity: Severity, summary: str, evidence: Mapping[str, object], **kw: str
) -> Finding:
    return Finding(code=code, severity=severity, summary=summary, evidence=dict(evidence), **kw)


def _key_findings(
    lookup: KeyLookup, base: dict[str, object]
) -> tuple[list[Finding], DkimKey | None]:
    if lookup.error is not None:
        evidence = {**base, "reason": lookup.error.reason, "detail": str(lookup.error)}
        summary = "The DNS query for the DKIM key failed; the key could not be checked."
        return [
            _finding("dkim.dns_temperror", WARNING, summary, evidence, rfc="RFC 6376 §6.1.2")
        ], None
    record = lookup.record
    if record is None:
        evidence = {**base, "rcode": lookup.rcode.value if lookup.rcode else ""}
        summary = "No DKIM key is published at this selector."
        fix = "Publish the selector's TXT record as given by the mail provider."
        return [
            _finding("dkim.key_missing", ERROR, summary, evidence, rfc="RFC 6376 §3.6.2.2", fix=fix)
        ], None
    findings: list[Finding] = []
    candidates = [text for text in lookup.texts if "p=" in text]
    if len(candidates) > 1:
        evidence = {**base, "records": list(candidates)}
        summary = "Several DKIM key records are published at one selector; results are undefined."
        findings.append(
            _finding("dkim.multiple_records", ERROR, summary, evidence, rfc="RFC 6376 §3.6.2.2")
        )
    try:
        key = parse_key_record(record)
    except DkimSyntaxError as exc:
        evidence = {**base, "record": record, "error": exc.message, "position": exc.position}
        summary = "The DKIM key record does not follow the key record syntax."
        findings.append(
            _finding("dkim.key_syntax", ERROR, summary, evidence, rfc="RFC 6376 §3.6.1")
        )
        return findings, None
    findings.extend(_usability_findings(key, {**base, "record": record, **_key_evidence(key)}))
    return findings, key


def _key_evidence(key: DkimKey) -> dict[str, object]:
    return {"bits": key.bits, "algorithm": key.key_type, "flags": list(key.flags)}


def _usability_findings(key: DkimKey, evidence: Mapping[str, object]) -> list[Finding]:
    if key.revoked:
        summary = "The DKIM key has been revoked (empty p=): every signature with it fails."
        return [_finding("dkim.key_revoked", ERROR, summary, evidence, rfc="RFC 6376 §3.6.1")]
    if key.key_type not in ("rsa", "ed25519"):
        summary = "The key type (k=) is unknown; verifiers ignore this key."
        return [_finding("dkim.key_syntax", ERROR, summary, {**evidence, "error": "unknown k="})]
    findings: list[Finding] = []
    if key.testing:
        summary = "The key is in testing mode (t=y): receivers may ignore failures."
        findings.append(_finding("dkim.testing", WARNING, summary, evidence, rfc="RFC 6376 §3.6.1"))
    if not key.allows_hash("sha256"):
        summary = "The key's h= excludes sha256, so rsa-sha256 and ed25519-sha256 cannot use it."
        findings.append(
            _finding("dkim.hash_restricted", ERROR, summary, evidence, rfc="RFC 6376 §3.6.1")
        )
    if not key.for_email:
        summary = "The key's s= does not include email or *."
        findings.append(
            _finding("dkim.service_restricted", ERROR, summary, evidence, rfc="RFC 6376 §3.6.1")
        )
    bits = key.bits or 0
    if key.key_type == "rsa" and bits < MIN_RSA_BITS:
        summary = "The RSA key is shorter than 1024 bits; receivers must reject it."
        fix = "Generate a 2048-bit key and publish it under a new selector."
        findings.append(
            _finding("dkim.key_too_short", ERROR, summary, evidence, rfc="RFC 8301 §3.2", fix=fix)
        )
    elif key.key_type == "rsa" and bits < RECOMMENDED_RSA_BITS:
        summary = "The RSA key is shorter than the recommended 2048 bits."
        fix = "Rotate to a 2048-bit key."
        findings.append(
            _finding("dkim.key_weak", WARNING, summary, evidence, rfc="RFC 8301 §3.2", fix=fix)
        )
    return findings


def _match_findings(key: DkimKey, private_key: bytes, base: Mapping[str, object]) -> list[Finding]:
    try:
        expected = _public_from_private(private_key)
    except ValueError as exc:
        evidence = {**base, "error": str(exc)}
        summary = "The configured private key cannot be read."
        return [_finding("dkim.private_key_invalid", ERROR, summary, evidence)]
    published = _published_public(key)
    if expected == published:
        return []
    evidence = {
        **base,
        "published_algorithm": key.key_type,
        "private_algorithm": expected[0],
        "published_key": key.public_key,
    }
    summary = "The published DKIM key is not the public half of the configured private key."
    fix = "Publish the public key that belongs to the signing key, or sign with the matching key."
    return [_finding("dkim.key_mismatch", ERROR, summary, evidence, rfc="RFC 6376 §3.6.1", fix=fix)]


def _published_public(key: DkimKey) -> tuple[str, bytes]:
    raw = key.public_key_bytes
    if key.key_type == "rsa":
        loaded = serialization.load_der_public_key(raw)  # validated by parse_key_record
        spki = loaded.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "rsa", spki
    return key.key_type, raw


def public_key_record(private_key: bytes) -> str:
    """The key record (``v=DKIM1; k=…; p=…``) that publishes ``private_key``'s public half.

    Takes the forms ``sign_message`` takes (PEM, or a base64 Ed25519 seed). Raises ``ValueError``.
    """
    kind, public = _public_from_private(private_key)
    return f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode('ascii')}"


def _public_from_private(private_key: bytes) -> tuple[str, bytes]:
    """``("rsa", SPKI DER)`` or ``("ed25519", raw 32 bytes)``. Raises ``ValueError``."""
    if b"-----BEGIN" in private_key:
        try:
            # Only the public half is derived (and compared with the published key), so the
            # slow RSA consistency check (~50 ms per key) is not needed here.
            loaded = serialization.load_pem_private_key(
                private_key, password=None, unsafe_skip_rsa_key_validation=True
            )
        except (TypeError, UnsupportedAlgorithm) as exc:
            raise ValueError(str(exc)) from exc
        if isinstance(loaded, rsa.RSAPrivateKey):
            spki = loaded.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return "rsa", spki
        if isinstance(loaded, ed25519.Ed25519PrivateKey):
            return "ed25519", loaded.public_key().public_bytes_raw()
        raise ValueError(f"unsupported private key type {type(loaded).__name__}")
    try:
        seed = base64.b64decode(private_key.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("neither PEM nor a base64 Ed25519 seed") from exc
    if len(seed) != ED25519_SEED_BYTES:
        raise ValueError("an Ed25519 seed must be 32 bytes")
    return "ed25519", ed25519.Ed25519PrivateKey.from_private_bytes(
        seed
    ).public_key().public_bytes_raw()
