"""RSA for DKIM by OpenSSL (``cryptography``) where dkimpy would do it in pure Python.

Signing: dkimpy signs with its own modular arithmetic (``dkim.crypto.rsa_decrypt``), which
takes about 10 ms per 2048-bit signature; ``cryptography`` takes well under 1 ms. Everything
else stays dkimpy's: the tag list, the header selection, both canonicalizations, the body and
header hashes and the folding of the field. RSASSA-PKCS1-v1_5 (RFC 8017 §8.2.1) is
deterministic, so for the same key, message and time the field is byte for byte the one dkimpy
writes (tests/diag/test_dkim_sign.py compares the two). The seam is ``DKIM.gen_header``, which
dkimpy's ``DKIM.sign`` calls with the tag list once the body hash is in it; ``FastRsaDKIM``
overrides it for RSA-SHA256 only and leaves every other case (Ed25519, RSA-SHA1, the
"standardized" ARC form) to dkimpy.

Verifying: ``OpenSslRsaKey.verify_sha256`` gives the answer of dkimpy's
``RSASSA_PKCS1_v1_5_verify`` (RFC 8017 §8.2.2) for every key ``openssl_public_key`` accepts
(those OpenSSL computes with exactly as dkimpy's ``pow`` does); diag/dkim/verifier.py uses it
at dkimpy's verification seam.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import dkim
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.crypto import DigestTooLargeError

RSA_SHA256 = b"rsa-sha256"  # RFC 6376 §3.3.1 (RFC 8301 §3.1 makes it the only RSA choice)
# RFC 8017 §9.2 note 1: the DER DigestInfo in front of a SHA-256 hash value.
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
_SHA256 = Prehashed(hashes.SHA256())
PKCS1_MIN_OVERHEAD = 11  # RFC 8017 §9.2 step 3: emLen >= tLen + 11
# OpenSSL refuses public-key operations beyond these (OPENSSL_RSA_MAX_MODULUS_BITS,
# OPENSSL_RSA_SMALL_MODULUS_BITS, OPENSSL_RSA_MAX_PUBEXP_BITS) and reports a bad signature.
OPENSSL_MAX_MODULUS_BITS = 16384
OPENSSL_SMALL_MODULUS_BITS = 3072
OPENSSL_MAX_PUBEXP_BITS = 64


def load_rsa_signing_key(private_key: bytes) -> rsa.RSAPrivateKey | None:
    """The RSA private key in ``private_key`` (PEM, PKCS#1 or PKCS#8), or ``None``.

    ``None`` for anything that is not an unencrypted RSA key ``cryptography`` can read: the
    caller then leaves the key to dkimpy, which reports what is wrong with it. OpenSSL's
    consistency check of the key (a primality test of both primes, ~60 ms for 2048 bits) is
    skipped: the key is the operator's own, and a key whose parts do not fit together yields a
    signature that fails verification, as it would with dkimpy.
    """
    if b"-----BEGIN" not in private_key:
        return None
    try:
        loaded = serialization.load_pem_private_key(
            private_key, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError):
        return None
    return loaded if isinstance(loaded, rsa.RSAPrivateKey) else None


@dataclass(frozen=True)
class OpenSslRsaKey:
    """An RSA public key OpenSSL verifies with exactly as dkimpy's arithmetic would."""

    key: rsa.RSAPublicKey
    modulus: int

    def verify_sha256(self, digest: bytes, signature: bytes) -> bool:
        """dkimpy's ``RSASSA_PKCS1_v1_5_verify`` of a SHA-256 ``digest``, computed by OpenSSL.

        dkimpy reads the signature as an integer: leading zero octets may be missing, extra
        ones are ignored and a value of the modulus or more counts modulo it. OpenSSL wants
        exactly the modulus's length and a value below it, so the signature is reduced and
        re-encoded first; both then compare the whole encoded message (RFC 8017 §9.2). Raises
        dkimpy's ``DigestTooLargeError`` when the modulus is too short for the DigestInfo, as
        dkimpy does.
        """
        length = (self.modulus.bit_length() + 7) // 8
        if len(SHA256_DIGEST_INFO_PREFIX) + len(digest) + PKCS1_MIN_OVERHEAD > length:
            raise DigestTooLargeError()
        value = int.from_bytes(signature, "big") % self.modulus
        try:
            self.key.verify(value.to_bytes(length, "big"), digest, padding.PKCS1v15(), _SHA256)
        except InvalidSignature:
            return False
        return True


def openssl_public_key(modulus: int, exponent: int) -> OpenSslRsaKey | None:
    """The key dkimpy parsed (``modulus``, ``exponent``) for OpenSSL, or ``None``.

    ``None`` where OpenSSL would not compute ``s^e mod n`` as dkimpy's ``pow`` does: an even
    modulus (Montgomery multiplication needs an odd one), an exponent that is even, below 3 or
    not below the modulus (``cryptography`` refuses those), a modulus over 16384 bits, or one
    over 3072 bits with an exponent over 64 bits (OpenSSL refuses those). dkimpy's own
    arithmetic judges such keys.
    """
    bits = modulus.bit_length()
    if modulus % 2 == 0 or bits > OPENSSL_MAX_MODULUS_BITS:
        return None
    if bits > OPENSSL_SMALL_MODULUS_BITS and exponent.bit_length() > OPENSSL_MAX_PUBEXP_BITS:
        return None
    try:
        return OpenSslRsaKey(rsa.RSAPublicNumbers(exponent, modulus).public_key(), modulus)
    except ValueError:
        return None


class FastRsaDKIM(dkim.DKIM):  # type: ignore[misc]  # dkimpy ships no type information
    """``dkim.DKIM`` whose RSA-SHA256 signatures are computed by ``cryptography``.

    ``rsa_key`` must be the key that is also passed to ``sign``; it is checked against the key
    dkimpy parsed (same modulus), and on any difference dkimpy signs as usual.
    """

    def __init__(self, message: bytes, *, rsa_key: rsa.RSAPrivateKey, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self._rsa_key = rsa_key

    def gen_header(
        self,
        fields: list[tuple[bytes, bytes]],
        include_headers: Any,
        canon_policy: Any,
        header_name: bytes,
        pk: Any,
        standardize: bool = False,
    ) -> bytes:
        """dkimpy's ``gen_header`` for the non-standardized form, with OpenSSL's RSA."""
        if (
            standardize
            or self.signature_algorithm != RSA_SHA256
            or not isinstance(pk, dict)
            or pk.get("modulus") != self._rsa_key.public_key().public_numbers().n
        ):
            return super().gen_header(  # type: ignore[no-any-return]
                fields, include_headers, canon_policy, header_name, pk, standardize
            )
        # From here to the hash, dkimpy's own steps: the field with an empty b= is hashed last.
        header_value = b"; ".join(b"=".join(x) for x in fields)
        header_value = dkim.fold(header_value, namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        header = (header_name, b" " + header_value)
        hasher = dkim.HashThrough(self.hasher(), self.debug_content)
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(
            hasher, canon_policy, headers, include_headers, header, dict(fields)
        )
        try:
            signature = self._rsa_key.sign(
                hasher.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256())
            )
        except ValueError as exc:  # a modulus too short for the DigestInfo, as dkimpy says
            raise dkim.ParameterError("digest too large for modulus") from exc
        index = next(i for i, (tag, _) in enumerate(fields) if tag == b"b")
        fields[index] = (b"b", base64.b64encode(signature))
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        return dkim.fold(  # type: ignore[no-any-return]
            header_value, namelen=len(header_name), linesep=self.linesep
        )
