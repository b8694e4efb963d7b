"""Which certificate authorities our senders trust, and whether a server's chain leads to one.

MTA-STS (RFC 8461 §3.3, §4.2) asks for certificates that chain to "a set of trusted CAs
similar to those in widely deployed web browsers": the default is certifi's copy of Mozilla's
list, the one httpx trusts too. Chains are checked by ``cryptography``'s X.509 verifier.
"""

from __future__ import annotations

import functools
import ssl
import warnings
from collections.abc import Sequence
from datetime import datetime

import certifi
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import DNSName
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError


@functools.cache
def default_trust_store() -> Store:
    """The public CAs as a verifier store, read once per process and only read after.

    Raises OSError when certifi's bundle cannot be read.
    """
    with open(certifi.where(), "rb") as handle:
        pem = handle.read()
    return trust_store(pem)


def trust_store(pem: bytes) -> Store:
    """A verifier store of the PEM certificates in ``pem`` (a test's own CA, a bundle).

    Raises ValueError when ``pem`` holds no certificate.
    """
    with warnings.catch_warnings():
        # a root or two in the public bundles carries a non-positive serial number
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        certificates = x509.load_pem_x509_certificates(pem)
    return Store(certificates)


def default_ssl_context() -> ssl.SSLContext:
    """A client context that verifies against the same CAs (a new one for each caller)."""
    return ssl.create_default_context(cafile=certifi.where())


def chain_problem(chain: Sequence[bytes], host: str, store: Store, now: datetime) -> str | None:
    """Why ``chain`` (DER, the server's own certificate first) is not a valid chain for
    ``host`` at ``now`` from a CA in ``store``; None when it is. Never raises."""
    if not chain:
        return "no certificate"
    try:
        leaf, *rest = (x509.load_der_x509_certificate(der) for der in chain)
        verifier = PolicyBuilder().store(store).time(now).build_server_verifier(DNSName(host))
        verifier.verify(leaf, rest)
    except (ValueError, VerificationError) as exc:
        return str(exc) or type(exc).__name__
    return None


__all__ = ["chain_problem", "default_ssl_context", "default_trust_store", "trust_store"]
