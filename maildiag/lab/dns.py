"""The lab's authoritative DNS server: UDP and TCP on one loopback port, with fault injection.

It serves only the ``ZoneData`` it is given (the lab zones or a test's zone), never the live
DNS. Answers are built by ``dns_wire``; this module owns sockets, framing, faults and latency.
Faults are per query name: ``timeout`` (no answer), ``servfail``, ``refused``, ``truncate``
(TC over UDP, the answer over TCP) and ``garbage`` (a malformed reply, see ``dns_wire.garbage``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import logging
import socket
import struct
import threading
from collections.abc import Iterator, Mapping
from enum import StrEnum
from types import TracebackType
from typing import Any

import dns.flags
import dns.message
import dns.rcode

from diag.resolver import ZoneData, normalize_name
from maildiag.lab import dns_wire
from maildiag.lab.zonetext import parse_zone_text
from maildiag.listeners import bind_tcp

log = logging.getLogger(__name__)

TCP_MAX_MESSAGE = 65535  # RFC 1035 §4.2.2: two-octet length prefix
TCP_BACKLOG = 64  # pending TCP connections
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024  # bytes of queries queued unread (capped by net.core.rmem_max)
UDP_READS_PER_TURN = 512  # queries read at one turn of the event loop, at most
UDP_MAX_MESSAGE = 65535  # RFC 6891 §6.2.3: the largest payload a UDP message can carry
BIND_ATTEMPTS = 20  # port 0: tries to find a port free for both UDP and TCP
THREAD_START_TIMEOUT = 10.0
REPLY_CACHE_SIZE = 4096  # distinct messages whose replies are kept; then the cache starts over
# RFC 7766 §6.2.3: a server may close idle TCP connections and should limit them per client;
# it suggests an idle timeout of a few seconds.
TCP_IDLE_TIMEOUT = 5.0  # seconds for the next whole message (length prefix and body) to arrive
TCP_MAX_PER_CLIENT = 16  # open TCP connections from one client address
TCP_MAX_CONNECTIONS = 256  # open TCP connections in all


class Fault(StrEnum):
    """What the server does instead of answering a name normally."""

    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TRUNCATE = "truncate"
    GARBAGE = "garbage"


class LabDnsServer:
    """An authoritative DNS server for ``zone`` on ``host``:``port`` (UDP and TCP).

    Port 0 picks one port free for both transports; ``port`` holds it once ``start`` returns.
    Every response leaves ``latency`` seconds after its query arrived (a network's round
    trip: the server's own work overlaps it), without blocking other queries.
    ``query_count`` counts every message received, malformed ones included. All records are
    served with ``ttl`` seconds, which is also the negative-caching TTL of the synthetic SOA.
    ``set_zone`` and ``set_fault`` may be called from another thread (they swap whole values).
    Negative answers carry the SOA of the name's apex: see ``dns_wire`` for the apex rule.

    TCP connections are bounded: one that does not deliver its next whole message (length
    prefix and body) within ``tcp_idle_timeout`` seconds, or does not take its reply within
    that time, is closed; a client with ``tcp_max_per_client`` connections open, or any client
    while ``tcp_max_connections`` are open, has its new connection closed at once.
    """

    def __init__(
        self,
        zone: ZoneData,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Mapping[str, Fault | str] | None = None,
        latency: float = 0.0,
        ttl: int = 300,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        tcp_max_per_client: int = TCP_MAX_PER_CLIENT,
        tcp_max_connections: int = TCP_MAX_CONNECTIONS,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.tcp_idle_timeout = tcp_idle_timeout
        self.tcp_max_per_client = tcp_max_per_client
        self.tcp_max_connections = tcp_max_connections
        self._tcp_clients: collections.Counter[str] = collections.Counter()
        self.query_count = 0
        self._ttl = ttl
        self._zone = dns_wire.CompiledZone(zone, ttl)
        self._faults: dict[str, Fault] = {}
        for name, fault in (faults or {}).items():
            self.set_fault(name, fault)
        self._replies: dict[tuple[bool, bytes], bytes] = {}
        self._cache_zone: dns_wire.CompiledZone | None = None
        self._cache_faults: dict[str, Fault] | None = None
        self._udp: socket.socket | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """``HOST:PORT`` (``[V6]:PORT`` for IPv6), ready for ``DnsPythonResolver``."""
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def set_zone(self, zone: ZoneData) -> None:
        """Serve ``zone`` from now on. Raises ``ValueError`` for a record that fits no type."""
        self._zone = dns_wire.CompiledZone(zone, self._ttl)

    def set_fault(self, name: str, fault: Fault | str | None) -> None:
        """Make ``name`` misbehave (``None`` heals it). Raises ``ValueError`` for unknown faults."""
        faults = dict(self._faults)
        if fault is None:
            faults.pop(normalize_name(name), None)
        else:
            faults[normalize_name(name)] = Fault(fault)
        self._faults = faults

    async def start(self) -> None:
        """Bind UDP and TCP on the same port. Raises ``OSError`` when no port can be bound."""
        loop = asyncio.get_running_loop()
        udp_sock, tcp_sock = _bind_pair(self.host, self.port)
        self.port = udp_sock.getsockname()[1]
        try:
            loop.add_reader(udp_sock.fileno(), self._read_udp, udp_sock)
            self._udp = udp_sock
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
        except BaseException:
            await self.stop()
            udp_sock.close()
            tcp_sock.close()
            raise
        log.info("labdns.started address=%s", self.address)

    async def stop(self) -> None:
        """Close both sockets and cancel pending answers and connections."""
        if self._udp is not None:
            asyncio.get_running_loop().remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None
        log.info("labdns.stopped address=%s", self.address)

    async def __aenter__(self) -> LabDnsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, data: bytes, arrived: float, *, tcp: bool) -> bytes | None:
        """The reply to one received message, or None for no reply, once ``latency`` seconds
        have passed since it ``arrived`` (event-loop time)."""
        self.query_count += 1
        reply = self._cached_reply(data, tcp=tcp)
        if reply is not None and self.latency > 0:
            await asyncio.sleep(arrived + self.latency - asyncio.get_running_loop().time())
        return reply

    def _cached_reply(self, data: bytes, *, tcp: bool) -> bytes | None:
        """``_reply``, from a cache for a message seen before with the same zone and faults.

        A reply depends only on the message after its ID, the transport, the zone and the
        faults, so a repeated question costs a lookup instead of dnspython's parsing and
        rendering (about 0.3 ms, which a burst of queries would otherwise add up in the
        server's one loop). Faulty names and malformed messages are never cached.
        """
        zone, faults = self._zone, self._faults
        if self._cache_zone is not zone or self._cache_faults is not faults:
            self._replies, self._cache_zone, self._cache_faults = {}, zone, faults
        key = (tcp, data[2:])
        cached = self._replies.get(key)
        if cached is not None:
            return data[:2] + cached[2:]
        reply, cacheable = self._reply(data, zone, faults, tcp=tcp)
        if reply is not None and cacheable:
            if len(self._replies) >= REPLY_CACHE_SIZE:
                self._replies.clear()
            self._replies[key] = reply
        return reply

    def _reply(
        self, data: bytes, zone: dns_wire.CompiledZone, faults: Mapping[str, Fault], *, tcp: bool
    ) -> tuple[bytes | None, bool]:
        """The reply (None for none) and whether it may be cached."""
        try:  # a plain query without dnspython's parsing and rendering
            fast = dns_wire.fast_reply(zone, data, tcp_limit=TCP_MAX_MESSAGE if tcp else None)
        except Exception:  # a bug there: the general path answers
            log.exception("labdns.fast_path_failed size=%d", len(data))
            fast = None
        if fast is not None and fast[0] not in faults:
            return fast[1], True
        try:
            query = dns.message.from_wire(data)
        except Exception:  # untrusted input: any parse failure is answered, never raised
            log.debug("labdns.malformed_query size=%d", len(data))
            return dns_wire.header_only(data, dns.rcode.FORMERR), False
        if query.flags & dns.flags.QR:
            return None, False
        fault = faults.get(dns_wire.question_name(query))
        try:
            return self._reply_to(query, zone, fault, tcp=tcp), fault is None
        except Exception:  # a bug here must cost one answer, not the server
            log.exception("labdns.answer_failed qname=%s", dns_wire.question_name(query))
            return dns_wire.header_only(data, dns.rcode.SERVFAIL), False

    def _reply_to(
        self,
        query: dns.message.Message,
        zone: dns_wire.CompiledZone,
        fault: Fault | None,
        *,
        tcp: bool,
    ) -> bytes | None:
        if fault is Fault.TIMEOUT:
            return None
        if fault is Fault.SERVFAIL:
            return dns_wire.rcode_only(query, dns.rcode.SERVFAIL)
        if fault is Fault.REFUSED:
            return dns_wire.rcode_only(query, dns.rcode.REFUSED)
        if fault is Fault.GARBAGE:
            return dns_wire.garbage(query)
        response = dns_wire.answer(zone, query)
        if tcp:
            return dns_wire.to_wire_limited(response, TCP_MAX_MESSAGE)
        if fault is Fault.TRUNCATE:
            return dns_wire.truncated(response)
        return dns_wire.to_wire_limited(response, dns_wire.udp_limit(query))

    def _read_udp(self, sock: socket.socket) -> None:
        """Read every query waiting on the UDP socket, not only the first.

        asyncio's datagram transport reads one datagram per turn of the event loop; on a loop
        the app shares (``serve --lab``), a burst of queries sent while the loop was busy was
        read one turn at a time, so each reply left ``latency`` after a late read.
        """
        arrived = asyncio.get_running_loop().time()
        for _ in range(UDP_READS_PER_TURN):
            try:
                data, addr = sock.recvfrom(UDP_MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error for an earlier reply, for instance
                log.debug("labdns.udp_error error=%s", exc)
                return
            self._spawn(self._answer_udp(data, addr, arrived))

    async def _answer_udp(self, data: bytes, addr: Any, arrived: float) -> None:
        reply = await self._respond(data, arrived, tcp=False)
        sock = self._udp
        if reply is None or sock is None:
            return
        try:
            sock.sendto(reply, addr)
        except BlockingIOError:  # the send buffer is full: wait for room
            await asyncio.get_running_loop().sock_sendto(sock, reply, addr)
        except OSError as exc:
            log.debug("labdns.udp_send_failed error=%s", exc)

    @property
    def tcp_connections(self) -> int:
        """How many TCP connections are open now."""
        return self._tcp_clients.total()

    def _admit_tcp(self, client: str) -> bool:
        """Count a new connection from ``client``, or say it is over a cap."""
        if self._tcp_clients.total() >= self.tcp_max_connections:
            log.info("labdns.tcp_refused reason=total open=%d", self._tcp_clients.total())
            return False
        if self._tcp_clients[client] >= self.tcp_max_per_client:
            log.info("labdns.tcp_refused reason=per_client client=%s", client)
            return False
        self._tcp_clients[client] += 1
        return True

    def _release_tcp(self, client: str) -> None:
        self._tcp_clients[client] -= 1
        if self._tcp_clients[client] <= 0:
            del self._tcp_clients[client]

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else ""
        admitted = self._admit_tcp(client)
        if task is not None and admitted:
            self._tasks.add(task)
        try:
            while admitted:
                async with asyncio.timeout(self.tcp_idle_timeout):
                    length = struct.unpack("!H", await reader.readexactly(2))[0]
                    data = await reader.readexactly(length)
                arrived = asyncio.get_running_loop().time()
                reply = await self._respond(data, arrived, tcp=True)
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    async with asyncio.timeout(self.tcp_idle_timeout):
                        await writer.drain()
        except TimeoutError:
            log.debug("labdns.tcp_idle_closed client=%s", client)
            writer.transport.abort()  # a reply it does not read must not hold the close
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if admitted:
                self._release_tcp(client)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same port (one free for both when ``port`` is 0)."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    for _ in range(BIND_ATTEMPTS if port == 0 else 1):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
            udp.bind((host, port))
            tcp = bind_tcp(host, udp.getsockname()[1], backlog=TCP_BACKLOG)
        except OSError:
            udp.close()
            if port != 0:
                raise
            continue
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise OSError(f"no port free for both UDP and TCP on {host}")


@contextlib.contextmanager
def lab_dns_in_thread(zone: ZoneData, **kwargs: Any) -> Iterator[LabDnsServer]:
    """Run a ``LabDnsServer`` on its own event loop in a thread, for synchronous callers.

    Yields the started server (its ``port`` is bound). Raises what ``start`` raises.
    """
    server = LabDnsServer(zone, **kwargs)
    ready = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["loop"] = asyncio.get_running_loop()
        holder["stop"] = stop = asyncio.Event()
        try:
            await server.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            await stop.wait()
        finally:
            await server.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="lab-dns", daemon=True)
    thread.start()
    if not ready.wait(THREAD_START_TIMEOUT):
        raise TimeoutError("the lab DNS server did not start")
    if failure:
        thread.join()
        raise failure[0]
    try:
        yield server
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join()


__all__ = ["Fault", "LabDnsServer", "lab_dns_in_thread", "parse_zone_text"]
