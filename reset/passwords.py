"""argon2id password hashes (argon2-cffi) behind a small, explicit interface.

Owns hashing, verification and the "dummy" verification that keeps a login for an unknown
account as slow as one for a known account. It never logs a password or a hash.
"""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

# RFC 9106 §4 second recommended option (64 MiB, t=3, p=4) is the argon2-cffi default.
DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_COST_KIB = 65536
DEFAULT_PARALLELISM = 4


class PasswordHasher:
    """argon2id hashing with tunable cost; tests lower the cost through the constructor."""

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST_KIB,
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        self._hasher = _Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        self._dummy_hash = self._hasher.hash("not a password: equal-work placeholder")

    def __repr__(self) -> str:
        p = self._hasher
        return (
            f"PasswordHasher(time_cost={p.time_cost}, memory_cost={p.memory_cost}, "
            f"parallelism={p.parallelism})"
        )

    def hash(self, password: str) -> str:
        """Return an encoded argon2id hash (``$argon2id$...``) with a fresh salt."""
        return self._hasher.hash(password)

    def verify(self, encoded: str, password: str) -> bool:
        """True when ``password`` matches ``encoded``; False on a mismatch or an unreadable hash."""
        try:
            return self._hasher.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> bool:
        """Do the work of one verification against a placeholder hash; always False.

        Call it when no account matched, so that the response time does not tell.
        """
        self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, encoded: str) -> bool:
        """True when ``encoded`` was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except InvalidHashError:
            return True
