"""The DNS layer every check goes through: the Resolver protocol and its implementations.

NXDOMAIN and NODATA are data (``Answer.rcode``); only transport failures raise ``DnsError``.
Caches and query logs belong to a resolver instance; nothing here is module-level state.
"""

from diag.resolver.answer import (
    MX,
    TXT,
    Answer,
    QueryLogEntry,
    Rcode,
    Record,
    Resolver,
    normalize_name,
)
from diag.resolver.failure import QueryFailure
from diag.resolver.memory import MemoryResolver, UnexpectedQuery, ZoneData
from diag.resolver.nameserver import parse_nameserver
from diag.resolver.wire import DnsPythonResolver

__all__ = [
    "MX",
    "TXT",
    "Answer",
    "DnsPythonResolver",
    "MemoryResolver",
    "QueryFailure",
    "QueryLogEntry",
    "Rcode",
    "Record",
    "Resolver",
    "UnexpectedQuery",
    "ZoneData",
    "normalize_name",
    "parse_nameserver",
]
