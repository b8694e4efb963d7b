"""Reading untrusted messages with the stdlib email package, within bounds on their structure.

The email package's feed parser recurses once per nested multipart or message part, and so do
``Message.walk`` and its callers: a message nested a thousand levels deep raises
RecursionError wherever it is read. ``parse_message`` refuses such a structure early instead
(``MimeStructureError``), after at most ``max_depth`` levels or ``max_parts`` parts, so no
caller ever meets the interpreter's recursion limit. Pure; no I/O. The parser is the stdlib
one; only its message factory (a public policy hook) counts what it builds.
"""

from __future__ import annotations

import email.policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import Policy
from typing import Any

from diag.errors import MimeStructureError

MAX_MIME_DEPTH = 32  # nested containers; real mail (forwards of forwards) stays far below
MAX_MIME_PARTS = 1000  # every part, containers included


class _Budget:
    """What one parse may still build: parts in all, levels of nesting."""

    def __init__(self, max_depth: int, max_parts: int) -> None:
        self.max_depth = max_depth
        self.max_parts = max_parts
        self.parts = 0

    def count_part(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise MimeStructureError(reason="parts", limit=self.max_parts)


class _BoundedMessage(Message):
    """A ``Message`` that knows its depth and refuses a child nested past the budget."""

    mime_depth = 0
    mime_budget: _Budget | None = None

    def attach(self, payload: Any) -> None:
        budget = self.mime_budget
        if budget is not None and isinstance(payload, _BoundedMessage):
            depth = self.mime_depth + 1
            if depth > budget.max_depth:
                raise MimeStructureError(reason="depth", limit=budget.max_depth)
            payload.mime_depth = depth
        super().attach(payload)


class _BoundedEmailMessage(_BoundedMessage, EmailMessage):
    """The same for ``email.policy.default`` (``EmailMessage`` and its content manager)."""


def _factory(budget: _Budget, cls: type[_BoundedMessage]) -> Any:
    def make(policy: Policy = email.policy.compat32) -> _BoundedMessage:
        budget.count_part()
        message = cls(policy=policy)
        message.mime_budget = budget
        return message

    return make


def parse_message(
    raw: bytes,
    *,
    policy: Policy = email.policy.compat32,
    max_depth: int = MAX_MIME_DEPTH,
    max_parts: int = MAX_MIME_PARTS,
) -> Message:
    """``raw`` read as a message with ``policy`` (an ``EmailMessage`` for the modern policies).

    Raises MimeStructureError when the containers nest deeper than ``max_depth`` or the
    message has more than ``max_parts`` parts; whatever else the lenient parser meets becomes
    its ``defects``, as with ``email.message_from_bytes``.
    """
    budget = _Budget(max_depth, max_parts)
    modern = isinstance(policy, email.policy.EmailPolicy)
    cls = _BoundedEmailMessage if modern else _BoundedMessage
    bounded = policy.clone(message_factory=_factory(budget, cls))
    return BytesParser(policy=bounded).parsebytes(raw)


def walk_parts(message: Message, limit: int = MAX_MIME_PARTS) -> list[Message]:
    """``message`` and its parts, depth first, at most ``limit`` of them."""
    found: list[Message] = []
    for part in message.walk():
        found.append(part)
        if len(found) >= limit:
            break
    return found


__all__ = ["MAX_MIME_DEPTH", "MAX_MIME_PARTS", "MimeStructureError", "parse_message", "walk_parts"]
