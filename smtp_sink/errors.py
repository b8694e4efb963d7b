"""Errors raised by the SMTP sink library.

Problems with mail that a client sends are never raised to the caller: they become SMTP
replies. These exceptions are for configuration that cannot be used and for store failures.

    SinkError
    ├── ConfigError         a policy file, a policy entry or a server setting that cannot be used;
    │                       carries the source and the key
    ├── StoreError          the message store could not complete an operation
    │   └── MessageNotFound no stored message has that id
    └── BounceParseError    bytes that are not a delivery status notification at all

Every error takes keyword evidence and builds ``__str__`` from it.
"""

from __future__ import annotations


class SinkError(Exception):
    """Base class of every error the SMTP sink raises."""


class ConfigError(SinkError):
    """A setting or policy entry that cannot be used."""

    def __init__(self, message: str, *, source: str = "", key: str = "") -> None:
        self.message = message
        self.source = source
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ":".join(part for part in (self.source, self.key) if part)
        return f"{where}: {self.message}" if where else self.message


class StoreError(SinkError):
    """The message store could not complete an operation."""

    def __init__(self, message: str, *, operation: str = "") -> None:
        self.message = message
        self.operation = operation
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.operation}: {self.message}" if self.operation else self.message


class MessageNotFound(StoreError):
    """No stored message has the requested id."""

    def __init__(self, *, message_id: int) -> None:
        self.message_id = message_id
        super().__init__(f"no stored message with id {message_id}", operation="get")


class BounceParseError(SinkError):
    """Bytes that could not be read as a bounce at all."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        self.message = message
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.message}: {self.detail}" if self.detail else self.message
