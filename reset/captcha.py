"""Captcha verification behind one protocol, with ALTCHA proof-of-work as the default.

Owns the ``CaptchaVerifier`` protocol, the ALTCHA challenge/verify pair (``altcha`` package,
v1 payload: base64 JSON in the ``altcha`` form field), the replay store that refuses a solved
challenge the second time, and a brute-force solver for tests. The siteverify providers
(reCAPTCHA, hCaptcha, Turnstile) live in ``reset.siteverify``. Never raises for bad input:
a malformed payload is an outcome with a reason.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import urllib.parse
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol, cast

from altcha import v1 as altcha_v1

from diag.jsonvalue import JsonObject

MAX_PAYLOAD_LENGTH = 4096  # input size limit for the posted form field
DEFAULT_MAX_NUMBER = 100_000
DEFAULT_CHALLENGE_TTL = dt.timedelta(minutes=10)
ALGORITHM: altcha_v1.AlgoType = "SHA-256"
_REQUIRED: Mapping[str, type] = MappingProxyType(
    {"algorithm": str, "challenge": str, "number": int, "salt": str, "signature": str}
)


@dataclasses.dataclass(frozen=True)
class CaptchaOutcome:
    """A verdict. ``reason`` is a stable code: ok, missing, malformed, invalid, expired,
    replayed, or (siteverify) unreachable, bad_response, or the provider's first error code.
    """

    ok: bool
    reason: str
    error_codes: tuple[str, ...] = ()


class CaptchaVerifier(Protocol):
    """What the forgot-password page calls with the posted solution and the client's IP."""

    async def verify(self, solution: str, remote_ip: str | None) -> CaptchaOutcome: ...


class ReplayStore(Protocol):
    """Remembers solved challenges until they expire; a DB or Redis store fits the same shape."""

    async def claim(self, key: str, *, expires_at: dt.datetime, now: dt.datetime) -> bool:
        """True the first time ``key`` is seen before ``expires_at``; False after that."""
        ...


class MemoryReplayStore:
    """A per-process replay store; entries are dropped once their challenge has expired."""

    def __init__(self) -> None:
        self._seen: dict[str, dt.datetime] = {}

    def __len__(self) -> int:
        return len(self._seen)

    async def claim(self, key: str, *, expires_at: dt.datetime, now: dt.datetime) -> bool:
        for old in [k for k, until in self._seen.items() if until <= now]:
            del self._seen[old]
        if key in self._seen:
            return False
        self._seen[key] = expires_at
        return True


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def decode_payload(solution: str) -> altcha_v1.PayloadType | None:
    """The ALTCHA payload dict from the posted field, or None when it is not one; pure."""
    if not solution or len(solution) > MAX_PAYLOAD_LENGTH:
        return None
    try:
        data = json.loads(base64.b64decode(solution, validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            return None
    return cast(altcha_v1.PayloadType, data)  # every field checked above


def _expires(salt: str) -> dt.datetime | None:
    query = salt.partition("?")[2]
    values = urllib.parse.parse_qs(query).get("expires", [])
    if len(values) != 1 or not values[0].isdigit():
        return None
    return dt.datetime.fromtimestamp(int(values[0]), dt.UTC)


class AltchaVerifier:
    """ALTCHA proof-of-work: issue signed challenges, verify solutions once each.

    ``hmac_key`` signs challenges (keep it secret and stable across replicas); ``max_number``
    sets the work (the widget tries up to that many hashes); ``challenge_ttl`` the expiry.
    Raises ValueError for an empty key.
    """

    def __init__(
        self,
        *,
        hmac_key: str,
        max_number: int = DEFAULT_MAX_NUMBER,
        challenge_ttl: dt.timedelta = DEFAULT_CHALLENGE_TTL,
        replay_store: ReplayStore | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        if not hmac_key:
            raise ValueError("hmac_key must not be empty")
        self._hmac_key = hmac_key
        self.max_number = max_number
        self.challenge_ttl = challenge_ttl
        self.replay_store: ReplayStore = (
            replay_store if replay_store is not None else MemoryReplayStore()
        )
        self.clock = clock

    def __repr__(self) -> str:
        return f"AltchaVerifier(max_number={self.max_number}, challenge_ttl={self.challenge_ttl})"

    def create_challenge(self) -> JsonObject:
        """A new challenge as the JSON the widget fetches from GET /captcha/challenge."""
        challenge = altcha_v1.create_challenge(
            algorithm=ALGORITHM,
            max_number=self.max_number,
            salt_length=12,
            hmac_key=self._hmac_key,
            salt="",
            number=None,
            expires=self.clock() + self.challenge_ttl,
            params=None,
        )
        return {
            "algorithm": challenge.algorithm,
            "challenge": challenge.challenge,
            "maxnumber": challenge.max_number,
            "maxNumber": challenge.max_number,
            "salt": challenge.salt,
            "signature": challenge.signature,
        }

    async def verify(self, solution: str, remote_ip: str | None) -> CaptchaOutcome:
        """Check a posted ``altcha`` field; the same solved challenge passes only once."""
        if not solution:
            return CaptchaOutcome(False, "missing")
        data = decode_payload(solution)
        if data is None:
            return CaptchaOutcome(False, "malformed")
        expires_at = _expires(data["salt"])
        if data["algorithm"] != ALGORITHM or expires_at is None:
            return CaptchaOutcome(False, "invalid")
        now = self.clock()
        if expires_at <= now:
            return CaptchaOutcome(False, "expired")
        payload = altcha_v1.Payload.from_dict(data)
        ok, _error = altcha_v1.verify_solution(payload, self._hmac_key, check_expires=False)
        if not ok:
            return CaptchaOutcome(False, "invalid")
        if not await self.replay_store.claim(data["challenge"], expires_at=expires_at, now=now):
            return CaptchaOutcome(False, "replayed")
        return CaptchaOutcome(True, "ok")


def solve_challenge(challenge: Mapping[str, object]) -> str:
    """Brute-force a challenge (as ``create_challenge`` returns it) into the posted payload.

    For tests and the lab; raises ValueError when no number up to maxnumber solves it.
    """
    max_number = int(str(challenge.get("maxnumber", challenge.get("maxNumber", 0))))
    text = {key: str(challenge[key]) for key in ("algorithm", "challenge", "salt", "signature")}
    algorithm = cast(altcha_v1.AlgoType, text["algorithm"])  # altcha refuses any other
    solution = altcha_v1.solve_challenge(text["challenge"], text["salt"], algorithm, max_number)
    if solution is None:
        raise ValueError("challenge has no solution up to maxnumber")
    payload = altcha_v1.Payload(
        algorithm, text["challenge"], solution.number, text["salt"], text["signature"]
    )
    return payload.to_base64()
