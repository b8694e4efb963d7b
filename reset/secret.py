"""A wrapper for secret strings (reset tokens, session ids) whose repr never shows the secret.

Owns the redaction and the SHA-256 digest that is the only form stored. Code that needs the
clear value calls ``reveal()`` explicitly, so a stray ``%s`` in a log line prints a mask.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits of randomness (OWASP Forgot Password Cheat Sheet: "long enough")
_MASK = "Secret('**********')"


class Secret:
    """A secret string; ``str()``, ``repr()`` and formatting all print a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def generate(cls) -> Secret:
        """A fresh URL-safe random secret of 256 bits."""
        return cls(secrets.token_urlsafe(TOKEN_BYTES))

    def reveal(self) -> str:
        """The clear value, for the one place that must use it (the mail link, the cookie)."""
        return self._value

    def digest(self) -> str:
        """The hex SHA-256 of the secret: the only form that is stored."""
        return hash_secret(self._value)

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self.digest())

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not picklable")


def hash_secret(value: str) -> str:
    """The hex SHA-256 digest of ``value`` (tokens have 256 bits of entropy, so no salt)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
