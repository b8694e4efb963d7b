"""DKIM signing with dkimpy (RSA-SHA256, Ed25519-SHA256) and key-pair generation for the lab.

dkimpy builds, canonicalizes, hashes and folds the signature; the RSA operation itself is done
by ``cryptography`` (diag/dkim/rsa.py) whenever it can read the key, with a result identical to
dkimpy's pure-Python one. Signing is local computation only: no DNS. Private keys never appear
in reprs or logs.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from diag.dkim.fetch import capture_logger, to_crlf
from diag.dkim.rsa import FastRsaDKIM, load_rsa_signing_key
from diag.dkim.verify import SUPPORTED_ALGORITHMS
from diag.errors import DiagError

RSA_PUBLIC_EXPONENT = 65537  # RFC 8017 §3.1 common choice, as in every DKIM deployment
DEFAULT_RSA_BITS = 2048  # RFC 8301 §3.2: signers SHOULD use at least 2048 bits
MIN_RSA_BITS = 1024  # RFC 8301 §3.2: signers MUST use at least 1024 bits
SIGNING_CANONICALIZATION = (b"relaxed", b"relaxed")  # RFC 6376 §3.4: survives re-folding


class DkimSignError(DiagError):
    """A message could not be signed: bad key, bad parameters, or an unreadable message.

    ``reason`` is one of ``unsupported_algorithm``, ``key_invalid``, ``parameter``,
    ``message_syntax``.
    """

    def __init__(self, *, reason: str, detail: str = "", domain: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.domain = domain
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" for d={self.domain}" if self.domain else ""
        tail = f": {self.detail}" if self.detail else ""
        return f"DKIM signing failed{where} ({self.reason}){tail}"


@dataclass(frozen=True)
class KeyPair:
    """A fresh DKIM key pair.

    ``private_pem_or_seed`` is a PKCS#8 PEM for RSA or the base64 32-byte seed for Ed25519 (the
    form ``sign_message`` takes); ``public_txt`` is the key record to publish at
    ``selector._domainkey.domain``.
    """

    algorithm: str
    private_pem_or_seed: bytes = field(repr=False)
    public_txt: str


def generate_keypair(algorithm: str = "rsa-sha256", bits: int = DEFAULT_RSA_BITS) -> KeyPair:
    """Make a key pair for ``rsa-sha256`` (``bits`` long) or ``ed25519-sha256``.

    Raises ``ValueError`` for another algorithm or an RSA size below 1024 bits.
    """
    if algorithm == "ed25519-sha256":
        ed_key = ed25519.Ed25519PrivateKey.generate()
        seed = base64.b64encode(ed_key.private_bytes_raw())
        public = base64.b64encode(ed_key.public_key().public_bytes_raw()).decode("ascii")
        return KeyPair(algorithm, seed, f"v=DKIM1; k=ed25519; p={public}")
    if algorithm != "rsa-sha256":
        raise ValueError(f"unsupported DKIM algorithm {algorithm!r}")
    if bits < MIN_RSA_BITS:
        raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits (RFC 8301 §3.2)")
    rsa_key = rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=bits)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(algorithm, pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}")


def sign_message(
    message: bytes,
    *,
    domain: str,
    selector: str,
    private_key: bytes,
    algorithm: str = "rsa-sha256",
    headers: Sequence[bytes] | None = None,
    identity: str | None = None,
) -> bytes:
    """Return ``message`` (line endings made CRLF) with a DKIM-Signature field prepended.

    Signs relaxed/relaxed. ``headers`` names the fields to sign (default: dkimpy's RFC 6376
    §5.4.1 list, From signed twice). Raises ``DkimSignError`` for an unsupported algorithm,
    an unreadable private key, a message without From or with a malformed header block, an
    ``identity`` outside ``domain``, or headers that must not be signed.
    """
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise DkimSignError(reason="unsupported_algorithm", detail=algorithm, domain=domain)
    data = to_crlf(message)
    logger, _messages = capture_logger("diag.dkim.sign")
    rsa_key = load_rsa_signing_key(private_key) if algorithm == "rsa-sha256" else None
    options = {"logger": logger, "signature_algorithm": algorithm.encode("ascii")}
    try:
        if rsa_key is None:
            signer = dkim.DKIM(data, **options)
        else:
            signer = FastRsaDKIM(data, rsa_key=rsa_key, **options)
    except Exception as exc:  # dkimpy's header parser on a malformed header block
        raise DkimSignError(reason="message_syntax", detail=str(exc), domain=domain) from exc
    include = [name.lower() for name in headers] if headers is not None else None
    try:
        signature = signer.sign(
            selector.encode("ascii"),
            domain.encode("ascii"),
            private_key,
            identity=identity.encode("ascii") if identity is not None else None,
            canonicalize=SIGNING_CANONICALIZATION,
            include_headers=include,
        )
    except UnicodeError as exc:
        raise DkimSignError(reason="parameter", detail=str(exc), domain=domain) from exc
    except dkim.KeyFormatError as exc:
        raise DkimSignError(reason="key_invalid", detail=str(exc), domain=domain) from exc
    except dkim.DKIMException as exc:
        raise DkimSignError(reason="parameter", detail=str(exc), domain=domain) from exc
    except (ValueError, TypeError, IndexError) as exc:  # dkimpy's key decoders on garbage
        raise DkimSignError(reason="key_invalid", detail=str(exc), domain=domain) from exc
    return bytes(signature) + data
