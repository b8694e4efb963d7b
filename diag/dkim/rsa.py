"""RSA-SHA256 DKIM signing with dkimpy's canonicalization and hashing and OpenSSL's RSA.

dkimpy signs with its own pure-Python modular arithmetic (``dkim.crypto.rsa_decrypt``), which
takes about 10 ms per 2048-bit signature; ``cryptography`` takes well under 1 ms. Everything
else stays dkimpy's: the tag list, the header selection, both canonicalizations, the body and
header hashes and the folding of the field. RSASSA-PKCS1-v1_5 (RFC 8017 §8.2.1) is
deterministic, so for the same key, message and time the field is byte for byte the one dkimpy
writes (tests/diag/test_dkim_sign.py compares the two).

The seam is ``DKIM.gen_header``, which dkimpy's ``DKIM.sign`` calls with the tag list once
the body hash is in it; ``FastRsaDKIM`` overrides it for RSA-SHA256 only and leaves every other
case (Ed25519, RSA-SHA1, the "standardized" ARC form) to dkimpy.
"""

from __future__ import annotations

import base64
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

RSA_SHA256 = b"rsa-sha256"  # RFC 6376 §3.3.1 (RFC 8301 §3.1 makes it the only RSA choice)


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
