"""A query that did not complete, as a value: the evidence a check keeps when a lookup fails in
transport, so that it can report ``temperror`` (or "not checked") instead of raising.

``DnsError`` is the exception a Resolver raises; ``QueryFailure`` is what a check holds on to.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.errors import DnsError


@dataclass(frozen=True)
class QueryFailure:
    """``qname`` ``rdtype`` failed for ``reason`` (timeout, servfail, refused, malformed, ...),
    never a statement about the record itself."""

    qname: str
    rdtype: str
    reason: str

    @classmethod
    def of(cls, error: DnsError) -> QueryFailure:
        """The failure a raised DnsError describes."""
        return cls(error.qname, error.rdtype, error.reason)

    def to_dict(self) -> dict[str, str]:
        return {"qname": self.qname, "rdtype": self.rdtype, "reason": self.reason}
