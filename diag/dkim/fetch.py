"""Key-record fetching through our Resolver, and the bridge that hands those keys to dkimpy.

dkimpy never does DNS of its own here: it gets a ``dnsfunc`` that serves only keys fetched
beforehand, concurrently, through the injected Resolver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from diag.dkim.parse import parse_key_record_cached
from diag.errors import DkimSyntaxError, DnsError
from diag.resolver import Rcode, Resolver, normalize_name

DnsFunc = Callable[..., bytes | None]


@dataclass(frozen=True)
class KeyLookup:
    """The outcome of one key-record query: the TXT texts, or the transport error."""

    name: str
    rcode: Rcode | None
    texts: tuple[str, ...] = ()
    error: DnsError | None = None

    @property
    def record(self) -> str | None:
        """The TXT text taken as the key record: the first that carries ``p=``, else the first."""
        for text in self.texts:
            if "p=" in text:
                return text
        return self.texts[0] if self.texts else None


async def fetch_key(resolver: Resolver, name: str) -> KeyLookup:
    """Query the TXT key record at ``name``. Never raises ``DnsError``: it is kept as data."""
    qname = normalize_name(name)
    try:
        answer = await resolver.query(qname, "TXT")
    except DnsError as exc:
        return KeyLookup(qname, None, (), exc)
    return KeyLookup(qname, answer.rcode, answer.texts)


async def fetch_keys(resolver: Resolver, names: Iterable[str]) -> dict[str, KeyLookup]:
    """Fetch several key records concurrently, each distinct name once, keyed by normalised name."""
    unique = list(dict.fromkeys(normalize_name(name) for name in names))
    if len(unique) == 1:  # the usual case: one signature; no task to schedule
        lookup = await fetch_key(resolver, unique[0])
        return {lookup.name: lookup}
    lookups = await asyncio.gather(*(fetch_key(resolver, name) for name in unique))
    return {lookup.name: lookup for lookup in lookups}


def prefetched_dnsfunc(lookups: Mapping[str, KeyLookup]) -> DnsFunc:
    """A dkimpy ``dnsfunc`` answering only from ``lookups``; any other name has no record.

    A record that parses is served in a canonical form rebuilt from the parse, so dkimpy's
    stricter reading (``k=RSA`` is refused as unknown, for instance) does not decide the result.
    """
    served = {
        name: _canonical(lookup.record)
        for name, lookup in lookups.items()
        if lookup.record is not None
    }

    def dnsfunc(name: bytes | str, timeout: float = 5.0) -> bytes | None:
        del timeout  # nothing is looked up here
        text = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        record = served.get(normalize_name(text))
        return record.encode("utf-8") if record is not None else None

    return dnsfunc


def _canonical(record: str) -> str:
    try:
        key = parse_key_record_cached(record)
    except DkimSyntaxError:
        return record  # dkimpy gets the text as published and judges it itself
    if key.revoked or key.key_type not in ("rsa", "ed25519"):
        return record
    tags = ["v=DKIM1", f"k={key.key_type}"]
    if key.service_types != ("*",):
        tags.append("s=" + ":".join(key.service_types))
    return "; ".join([*tags, f"p={key.public_key}"])


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


def capture_logger(name: str) -> tuple[logging.Logger, list[str]]:
    """A private logger (not in the logging registry) whose error messages land in a list.

    dkimpy reports some reasons (an unusable key, a failed ARC-Seal) only through its logger;
    handing it this logger keeps those reasons as evidence.
    """
    messages: list[str] = []
    logger = logging.Logger(name, logging.ERROR)
    logger.addHandler(_ListHandler(messages))
    logger.propagate = False
    return logger, messages


def to_crlf(message: bytes) -> bytes:
    """Canonicalise line endings to CRLF (RFC 5322 §2.1); lone CRs are kept."""
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
