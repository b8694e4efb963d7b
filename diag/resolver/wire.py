"""DnsPythonResolver: queries over the wire through dns.asyncresolver, with a TTL cache,
coalesced lookups and a query log per instance; transport failures raise DnsError."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import dns._asyncbackend
import dns.asyncbackend
import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver

from diag.errors import DnsError
from diag.resolver import codec
from diag.resolver.answer import (
    DEFAULT_NEGATIVE_TTL,
    MAX_CACHE_TTL,
    MX,
    TXT,
    Answer,
    QueryLogEntry,
    Rcode,
    Record,
    normalize_name,
)
from diag.resolver.nameserver import parse_nameserver

log = logging.getLogger(__name__)


def _rdata_to_record(rdata: object, rdtype: str) -> Record:
    if rdtype in ("TXT", "SPF"):
        return TXT(tuple(rdata.strings))  # type: ignore[attr-defined]
    if rdtype == "MX":
        exchange = rdata.exchange.to_text(omit_final_dot=True).lower()  # type: ignore[attr-defined]
        return MX(int(rdata.preference), "" if exchange in ("", ".") else exchange)  # type: ignore[attr-defined]
    if rdtype in ("PTR", "CNAME", "NS"):
        return str(rdata.target.to_text(omit_final_dot=True)).lower()  # type: ignore[attr-defined]
    return str(rdata.to_text())  # type: ignore[attr-defined]


def _authenticated(response: object) -> bool:
    """The AD bit of a reply (RFC 4035 §3.2.3)."""
    return isinstance(response, dns.message.Message) and bool(response.flags & dns.flags.AD)


def _negative_ttl(response: dns.message.Message | None) -> int:
    if response is not None:
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(min(rrset.ttl, rrset[0].minimum))
    return DEFAULT_NEGATIVE_TTL


class _UdpSocket(dns._asyncbackend.DatagramSocket):
    """A plain non-blocking UDP socket read through the event loop's reader callbacks.

    dnspython's asyncio backend builds a datagram endpoint (transport, protocol, queue) for
    every query; this does the same exchange with one socket and one future. The method
    signatures (``timeout`` included) are dnspython's socket interface.
    """

    def __init__(self, family: int) -> None:
        super().__init__(family, socket.SOCK_DGRAM)
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    async def sendto(
        self,
        what: bytes,
        destination: tuple[Any, ...],
        timeout: float | None,  # noqa: ASYNC109 (dnspython's socket interface)
    ) -> int:
        try:
            return self._sock.sendto(what, destination)
        except BlockingIOError:
            await asyncio.get_running_loop().sock_sendto(self._sock, what, destination)
            return len(what)

    async def recvfrom(
        self,
        size: int,
        timeout: float | None,  # noqa: ASYNC109 (dnspython's socket interface)
    ) -> tuple[bytes, Any]:
        if timeout is not None and timeout <= 0:  # expired, as dnspython's own wait says
            raise dns.exception.Timeout(timeout=timeout)  # type: ignore[no-untyped-call]
        try:
            return self._sock.recvfrom(size)
        except BlockingIOError:
            pass
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bytes, Any]] = loop.create_future()

        def readable() -> None:
            if future.done():
                return
            try:
                future.set_result(self._sock.recvfrom(size))
            except BlockingIOError:
                return
            except OSError as exc:
                future.set_exception(exc)

        def expired() -> None:
            if not future.done():
                future.set_exception(dns.exception.Timeout(timeout=timeout))  # type: ignore[no-untyped-call]

        fd = self._sock.fileno()
        loop.add_reader(fd, readable)
        timer = loop.call_later(timeout, expired) if timeout is not None else None
        try:
            return await future
        finally:
            loop.remove_reader(fd)
            if timer is not None:
                timer.cancel()

    async def close(self) -> None:
        self._sock.close()


class _Do53(dns.nameserver.Do53Nameserver):
    """Do53 whose UDP exchanges use ``_UdpSocket``; TCP and bound sources stay dnspython's."""

    async def async_query(
        self,
        request: dns.message.QueryMessage,
        timeout: float,  # noqa: ASYNC109 (dnspython's nameserver interface)
        source: str | None,
        source_port: int,
        max_size: bool,
        backend: dns._asyncbackend.Backend,
        one_rr_per_rrset: bool = False,
        ignore_trailing: bool = False,
    ) -> dns.message.Message:
        if max_size or source or source_port:
            return await super().async_query(
                request,
                timeout,
                source,
                source_port,
                max_size,
                backend,
                one_rr_per_rrset,
                ignore_trailing,
            )
        udp = _UdpSocket(dns.inet.af_for_address(self.address))
        try:
            return await dns.asyncquery.udp(
                request,
                self.address,
                timeout=timeout,
                port=self.port,
                raise_on_truncation=True,
                sock=udp,
                one_rr_per_rrset=one_rr_per_rrset,
                ignore_trailing=ignore_trailing,
                ignore_errors=True,
                ignore_unexpected=True,
            )
        finally:
            await udp.close()


def _system_nameserver(
    resolver: dns.asyncresolver.Resolver, ns: str | dns.nameserver.Nameserver
) -> str | dns.nameserver.Nameserver:
    """A configured address as ``_Do53`` on the port dnspython would use; others unchanged."""
    if isinstance(ns, str) and dns.inet.is_address(ns):
        return _Do53(ns, resolver.nameserver_ports.get(ns, resolver.port))
    if type(ns) is dns.nameserver.Do53Nameserver:
        return _Do53(ns.address, ns.port)
    return ns


class DnsPythonResolver:
    """A resolver over ``dns.asyncresolver`` with a TTL cache and a query log per instance.

    ``nameservers`` take ``HOST`` or ``HOST:PORT``; none means the system configuration.
    Truncated UDP answers are retried over TCP. Concurrent identical queries share one lookup
    (the waiters' log entries are marked ``cached``). ``clock`` (seconds, monotonic) decides
    when cache entries expire; tests may pass their own.
    """

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        timeout: float = 2.0,
        *,
        cache: bool = True,
        port: int = 53,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if nameservers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            servers: list[str | dns.nameserver.Nameserver] = []
            for spec in nameservers:
                host, ns_port = parse_nameserver(spec, port)
                servers.append(_Do53(host, ns_port))
            self._resolver.nameservers = servers
        else:
            self._resolver = dns.asyncresolver.Resolver()
            self._resolver.nameservers = [
                _system_nameserver(self._resolver, ns) for ns in self._resolver.nameservers
            ]
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._resolver.retry_servfail = False
        # AD in the query asks a validating resolver to say whether it validated the answer
        # (RFC 6840 §5.7); the reply's AD bit becomes Answer.authenticated
        self._resolver.flags = dns.flags.RD | dns.flags.AD
        self._resolver.use_edns(0, 0, 1232)
        self.timeout = timeout
        self._use_cache = cache
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Answer]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[Answer]] = {}
        self.log: list[QueryLogEntry] = []

    async def query(self, name: str, rdtype: str) -> Answer:
        """Answer from the cache, from a lookup already in flight, or from the nameservers.

        Raises ``DnsError`` for transport failures (never for NXDOMAIN or NODATA).
        """
        qname = normalize_name(name)
        rdtype = rdtype.upper()
        key = (qname, rdtype)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._clock():
            self.log.append(QueryLogEntry(qname, rdtype, cached[1].rcode.value, 0.0, cached=True))
            return cached[1]
        pending = self._inflight.get(key)
        if pending is not None:
            started = time.perf_counter()
            try:
                answer = await asyncio.shield(pending)
            except DnsError as exc:
                elapsed = time.perf_counter() - started
                self.log.append(QueryLogEntry(qname, rdtype, f"error:{exc.reason}", elapsed, True))
                raise
            elapsed = time.perf_counter() - started
            self.log.append(QueryLogEntry(qname, rdtype, answer.rcode.value, elapsed, cached=True))
            return answer
        task = asyncio.get_running_loop().create_task(self._lookup_and_cache(qname, rdtype))
        self._inflight[key] = task
        task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # shield: a cancelled caller must not cancel the lookup others are waiting for
        return await asyncio.shield(task)

    async def _lookup_and_cache(self, qname: str, rdtype: str) -> Answer:
        answer = await self._lookup(qname, rdtype)
        if self._use_cache:
            ttl = min(answer.ttl, MAX_CACHE_TTL)
            if ttl > 0:
                self._cache[(qname, rdtype)] = (self._clock() + ttl, answer)
        return answer

    async def _lookup(self, qname: str, rdtype: str) -> Answer:
        started = time.perf_counter()
        tcp = False
        try:
            decoded = await self._fast_exchange(qname, rdtype)
        except codec.Truncated:
            decoded, tcp = None, True
        except DnsError as failure:
            self._log_error(qname, rdtype, failure, started)
            raise
        if decoded is not None:
            elapsed = time.perf_counter() - started
            self.log.append(QueryLogEntry(qname, rdtype, decoded.rcode.value, elapsed))
            return Answer(
                qname,
                rdtype,
                decoded.rcode,
                decoded.records,
                decoded.ttl,
                elapsed,
                decoded.canonical_name,
                decoded.authenticated,
            )
        try:
            result = await self._resolver.resolve(
                qname + ".", rdtype, tcp=tcp, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN as exc:
            elapsed = time.perf_counter() - started
            responses = list(exc.kwargs.get("responses", {}).values())
            ttl = _negative_ttl(responses[0] if responses else None)
            signed = bool(responses) and _authenticated(responses[0])
            self.log.append(QueryLogEntry(qname, rdtype, Rcode.NXDOMAIN.value, elapsed))
            return Answer(qname, rdtype, Rcode.NXDOMAIN, (), ttl, elapsed, authenticated=signed)
        except dns.exception.DNSException as exc:
            error = _classify(exc, qname, rdtype)
            self._log_error(qname, rdtype, error, started)
            raise error from exc
        elapsed = time.perf_counter() - started
        canonical = result.canonical_name.to_text(omit_final_dot=True).lower()
        signed = _authenticated(result.response)
        if result.rrset is None:
            ttl = _negative_ttl(result.response)
            self.log.append(QueryLogEntry(qname, rdtype, Rcode.NODATA.value, elapsed))
            return Answer(qname, rdtype, Rcode.NODATA, (), ttl, elapsed, canonical, signed)
        records = tuple(_rdata_to_record(rdata, rdtype) for rdata in result.rrset)
        self.log.append(QueryLogEntry(qname, rdtype, Rcode.NOERROR.value, elapsed))
        ttl = result.rrset.ttl
        return Answer(qname, rdtype, Rcode.NOERROR, records, ttl, elapsed, canonical, signed)

    def _log_error(self, qname: str, rdtype: str, error: DnsError, started: float) -> None:
        elapsed = time.perf_counter() - started
        self.log.append(QueryLogEntry(qname, rdtype, f"error:{error.reason}", elapsed))
        log.debug("dns.error qname=%s rdtype=%s reason=%s", qname, rdtype, error.reason)

    async def _fast_exchange(self, qname: str, rdtype: str) -> codec.Decoded | None:
        """The common case without dnspython's message objects: one UDP exchange with the
        first nameserver (the one dnspython asks first), read by ``diag.resolver.codec``.

        Returns None when it declines: a type or name it does not encode, a socket error, a
        reply it does not read exactly as dnspython would, an error rcode while other servers
        remain. The query then goes through dnspython, which asks again and decides.
        Raises ``codec.Truncated`` for a truncated reply (to be asked over TCP), and
        ``DnsError`` on timeout (dnspython's lifetime, the same timeout, would have expired on
        that first server too) or for an error rcode from the only server.
        """
        code = codec.TYPE_CODES.get(rdtype)
        servers = self._resolver.nameservers
        server = servers[0] if servers else None
        qname_wire = codec.encode_name(qname)
        # a scoped IPv6 source address comes back in another text form: left to dnspython
        if code is None or qname_wire is None or type(server) is not _Do53 or "%" in server.address:
            return None
        msg_id = secrets.randbits(16)
        where = f"{server.address} port {server.port}"
        try:
            async with asyncio.timeout(self.timeout):
                return await _udp_exchange(
                    (server.address, server.port),
                    codec.encode_query(msg_id, qname_wire, code),
                    lambda data: codec.decode_answer(data, msg_id, qname_wire, code),
                )
        except codec.Truncated:
            raise
        except TimeoutError:  # before OSError, its base class
            detail = f"no answer from {where} in {self.timeout:g} s"
            raise DnsError(qname=qname, rdtype=rdtype, reason="timeout", detail=detail) from None
        except codec.ServerFailure as exc:
            if len(servers) > 1:
                return None
            rcode = dns.rcode.Rcode.make(exc.rcode)
            reason = _rcode_reason(rcode)
            rcode_text = dns.rcode.to_text(rcode)
            detail = f"{where} answered {rcode_text}"
            raise DnsError(qname=qname, rdtype=rdtype, reason=reason, detail=detail) from None
        except (codec.Declined, OSError) as exc:
            log.debug("dns.fast_declined qname=%s rdtype=%s why=%s", qname, rdtype, exc)
            return None


async def _udp_exchange(
    server: tuple[str, int],
    query: bytes,
    read: Callable[[bytes], codec.Decoded | None],
) -> codec.Decoded:
    """Send ``query`` from a fresh socket (a random source port per query) and return the
    first datagram from ``server`` that ``read`` accepts; others are ignored, as dnspython's
    ``ignore_unexpected`` does. Raises what ``read`` raises and ``OSError``; the caller sets the
    deadline.
    """
    family = dns.inet.af_for_address(server[0])
    expected = (socket.inet_ntop(family, socket.inet_pton(family, server[0])), server[1])
    udp = _UdpSocket(family)
    try:
        await udp.sendto(query, server, None)
        while True:
            data, source = await udp.recvfrom(65535, None)
            if source[:2] == expected and (decoded := read(data)) is not None:
                return decoded
    finally:
        await udp.close()


def _classify(exc: dns.exception.DNSException, qname: str, rdtype: str) -> DnsError:
    if isinstance(exc, dns.exception.Timeout):
        return DnsError(qname=qname, rdtype=rdtype, reason="timeout", detail=str(exc))
    if isinstance(exc, dns.resolver.NoNameservers):
        reason = "no_nameservers"
        for error in exc.kwargs.get("errors", []):
            reason = _server_error_reason(error)
        return DnsError(qname=qname, rdtype=rdtype, reason=reason, detail=str(exc))
    if isinstance(exc, dns.message.ChainTooLong):
        return DnsError(qname=qname, rdtype=rdtype, reason="cname_loop", detail=str(exc))
    if isinstance(exc, dns.resolver.YXDOMAIN | dns.exception.FormError | dns.message.ShortHeader):
        return DnsError(qname=qname, rdtype=rdtype, reason="malformed", detail=str(exc))
    return DnsError(
        qname=qname, rdtype=rdtype, reason="error", detail=f"{type(exc).__name__}: {exc}"
    )


def _server_error_reason(error: Sequence[object]) -> str:
    """The reason one nameserver failed, from dnspython's ``(server, tcp, port, exc, response)``."""
    failure = error[3] if len(error) > 3 else None
    response = error[4] if len(error) > 4 else None
    if isinstance(failure, dns.message.ChainTooLong):
        return "cname_loop"
    if isinstance(response, dns.message.Message) and response.rcode() != dns.rcode.NOERROR:
        return _rcode_reason(response.rcode())
    if isinstance(failure, dns.exception.DNSException | ValueError | EOFError):
        return "malformed"
    if isinstance(failure, OSError):
        return "unreachable"
    return "error"


def _rcode_reason(code: dns.rcode.Rcode) -> str:
    """A server's error rcode as a reason: ``servfail``, ``refused``, or the rcode's name."""
    named = {dns.rcode.SERVFAIL: "servfail", dns.rcode.REFUSED: "refused"}
    return named.get(code, dns.rcode.to_text(code).lower())
