"""What the sink knows about one delivery, and the receiver's verdict on it.

The sink does not authenticate mail itself: it hands the raw bytes and the envelope facts to an
injected ``judge`` coroutine and acts on the ``Verdict`` it returns. This module holds only
those values and a judge that says nothing; it must not import the diagnostics engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from diag.jsonvalue import Json
from diag.jsonvalue import JsonObject as JsonObject

JsonValue: TypeAlias = Json  # one JSON type for the product: diag.jsonvalue's
"""A JSON value and object as ``json.loads`` gives them (the verdict's stored form)."""

DMARC_RESULTS = frozenset({"pass", "fail", "none", "temperror", "permerror"})
DMARC_POLICIES = frozenset({"none", "quarantine", "reject"})


@dataclass(frozen=True)
class TlsFacts:
    """The TLS session a message arrived over (after STARTTLS)."""

    version: str
    cipher: str
    bits: int | None = None


@dataclass(frozen=True)
class HeaderSummary:
    """The header fields the sink indexes for search (``smtp_sink.summarize_headers``)."""

    message_id: str = ""
    subject: str = ""
    from_header: str = ""


@dataclass(frozen=True)
class EnvelopeFacts:
    """The SMTP-level facts a receiver judges a message by.

    ``client_ip`` is the address given by a trusted PROXY header when there was one, otherwise
    the TCP peer.
    """

    client_ip: str
    helo: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    tls: TlsFacts | None = None


def _frozen_mapping(value: Mapping[str, JsonValue]) -> Mapping[str, JsonValue]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class Verdict:
    """A receiver's verdict on one message.

    ``authentication_results`` is the full header field value (without the field name), as
    RFC 8601 §2.2 defines it. ``data`` is any JSON-ready detail the judge wants stored.
    ``summary`` is ``summarize_headers`` of the message when the judge read it there (it has
    the message in hand, off the sink's event loop); when it is None the sink reads it itself.
    It is not part of the stored verdict.
    """

    authentication_results: str
    dmarc_result: str = "none"
    dmarc_policy: str = "none"
    data: Mapping[str, JsonValue] = field(default_factory=dict)
    summary: HeaderSummary | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _frozen_mapping(self.data))

    @property
    def dmarc_failed(self) -> bool:
        """True when DMARC evaluated to fail (not none, not an error)."""
        return self.dmarc_result.lower() == "fail"

    def as_json(self) -> JsonObject:
        """The verdict as stored: plain JSON types only."""
        return {
            "authentication_results": self.authentication_results,
            "dmarc_result": self.dmarc_result,
            "dmarc_policy": self.dmarc_policy,
            "data": dict(self.data),
        }


Judge = Callable[[bytes, EnvelopeFacts], Awaitable[Verdict]]
"""``async judge(raw, envelope) -> Verdict``: the receiver's authentication check."""


def null_judge(authserv_id: str) -> Judge:
    """A judge that checks nothing: ``authserv-id; none`` (RFC 8601 §2.2, no results)."""

    async def judge(raw: bytes, envelope: EnvelopeFacts) -> Verdict:
        return Verdict(authentication_results=f"{authserv_id}; none")

    return judge
