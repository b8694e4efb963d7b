"""Errors raised by the reset-flow core.

Expected outcomes (a weak password, a used token, a failed captcha) are returned as values
wherever a caller must branch on them; these exceptions are for input that cannot be used at
all and for states the caller must not continue from.

    ResetError
    ├── InvalidAddressError   an e-mail address that cannot be normalized; carries the position
    ├── TokenError            a reset token that is unknown, expired or already used
    ├── PolicyViolationError  a new password that fails the policy; carries the report
    ├── AccountError          an account operation that cannot be done (duplicate, bad role)
    ├── OutboxError           an outbox row that is missing or cannot be sent as it is
    └── BounceAddressError    a Return-Path that is not one of our VERP bounce addresses

Every error takes keyword evidence and builds ``__str__`` from it. No error ever carries a
token or a password in clear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reset.policy import PolicyReport


class ResetError(Exception):
    """Base class of every error the reset-flow core raises."""


class InvalidAddressError(ResetError):
    """An address that is not ``local@domain``; ``position`` is a 0-based offset or None."""

    def __init__(self, *, reason: str, position: int | None = None) -> None:
        self.reason = reason
        self.position = position
        super().__init__(str(self))

    def __str__(self) -> str:
        where = "" if self.position is None else f" at position {self.position}"
        return f"invalid e-mail address: {self.reason}{where}"


class TokenError(ResetError):
    """A reset token that cannot be used. ``reason`` is ``unknown``, ``expired`` or ``used``."""

    def __init__(self, *, reason: str) -> None:
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"reset token rejected: {self.reason}"


class PolicyViolationError(ResetError):
    """A new password that fails the policy; ``report`` lists every failed rule by id."""

    def __init__(self, *, report: PolicyReport) -> None:
        self.report = report
        super().__init__(str(self))

    def __str__(self) -> str:
        return "password refused: " + ", ".join(self.report.failed)


class AccountError(ResetError):
    """An account operation that cannot be done. ``reason`` is a stable code."""

    def __init__(self, *, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"account error {self.reason}{tail}"


class OutboxError(ResetError):
    """An outbox row that cannot be worked on. ``reason`` is ``missing`` or ``no_message``."""

    def __init__(self, *, outbox_id: int, reason: str) -> None:
        self.outbox_id = outbox_id
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"outbox row {self.outbox_id}: {self.reason}"


class BounceAddressError(ResetError):
    """A bounce address that does not carry one of our outbox ids."""

    def __init__(self, *, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"not a VERP bounce address ({self.reason}): {self.address!r}"
