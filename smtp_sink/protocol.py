"""The sink's SMTP protocol: aiosmtpd's ``SMTP`` with the receiver behaviour the sink needs.

It adds enhanced status codes to every reply (RFC 2034 §4), keeps the PROXY-given client across
STARTTLS, asks only trusted peers for a PROXY header and refuses one from anyone else, caps
concurrent connections in all and per client address (421), gives a client less time to send
its first command than the ones after, limits a session's total time, and can drop a
connection without a reply (fault injection). It holds no policy logic: that is
``SinkHandler``'s.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session

from smtp_sink.policies import Policy

log = logging.getLogger(__name__)

_HAS_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}( |$)")
# RFC 3463 codes for the fixed replies aiosmtpd writes itself.
_ENHANCED_DEFAULTS = MappingProxyType(
    {
        "220": "2.0.0",
        "221": "2.0.0",
        "250": "2.0.0",
        "252": "2.0.0",
        "421": "4.3.0",
        "451": "4.3.0",
        "452": "4.5.3",
        "454": "4.7.0",
        "500": "5.5.2",
        "501": "5.5.4",
        "502": "5.5.1",
        "503": "5.5.1",
        "504": "5.5.4",
        "530": "5.7.0",
        "550": "5.0.0",
        "552": "5.3.4",
        "553": "5.1.3",
        "554": "5.0.0",
        "555": "5.5.4",
    }
)
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, try again later"
TOO_MANY_FROM_CLIENT = "421 4.7.0 Too many connections from your address, try again later"
SESSION_TOO_LONG = "421 4.4.2 Connection time limit exceeded"
AUTH_UNAVAILABLE = "502 5.5.1 AUTH not available"
PROXY_REFUSED = "554 5.7.0 PROXY header not accepted from this peer"
PATH_CACHE_SIZE = 1024  # distinct MAIL FROM / RCPT TO argument texts kept read

_Path = tuple[str | None, str | None]  # aiosmtpd's (address, parameters); (None, None): invalid


def with_enhanced_code(status: str) -> str:
    """``"501 Syntax: X"`` -> ``"501 5.5.4 Syntax: X"``; replies with a code stay as they are."""
    code, sep, rest = status.partition(" ")
    if not sep or not code.isdigit() or _HAS_ENHANCED.match(rest):
        return status
    enhanced = _ENHANCED_DEFAULTS.get(code)
    return f"{code} {enhanced} {rest}" if enhanced else status


class SinkSession(Session):
    """aiosmtpd's session plus the client as the sink judges it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.client_ip = ""
        self.client_port: int | None = None
        self.proxied = False
        self.local_ip = ""


class SinkEnvelope(Envelope):
    """aiosmtpd's envelope plus the policy chosen for each accepted recipient."""

    def __init__(self) -> None:
        super().__init__()
        self.policies: list[Policy] = []


class ConnectionGate:
    """Counts open connections for one server, in all and per client address, and refuses
    those over ``limit`` or ``per_client``."""

    def __init__(self, limit: int, per_client: int) -> None:
        self.limit = limit
        self.per_client = per_client
        self.open: set[SinkSMTP] = set()
        self.clients: collections.Counter[str] = collections.Counter()

    def take(self, client: str) -> bool:
        """Count one more connection of ``client``; False (nothing counted) over the cap."""
        if self.clients[client] >= self.per_client:
            return False
        self.clients[client] += 1
        return True

    def give_back(self, client: str) -> None:
        self.clients[client] -= 1
        if self.clients[client] <= 0:
            del self.clients[client]


class PathCache:
    """aiosmtpd's readings of MAIL FROM and RCPT TO arguments, shared by one server's connections.

    aiosmtpd reads each path with the email package's address parser and builds a class per
    call, about 0.1 ms: the largest part of its work for a message. A sink sees the same few
    paths again and again (its senders' bounce addresses, its test mailboxes), so the reading of
    an argument text seen recently is reused. The reading is a function of the text and the
    local-part limit only. Bounded: the least recently used reading goes first.
    """

    def __init__(self, size: int = PATH_CACHE_SIZE) -> None:
        self.size = max(1, size)
        self._readings: OrderedDict[tuple[str, int], _Path] = OrderedDict()

    def get(self, arg: str, local_part_limit: int, read: Callable[[str], _Path]) -> _Path:
        """The reading of ``arg``: a recent one, or ``read(arg)`` kept for next time."""
        key = (arg, local_part_limit)
        reading = self._readings.get(key)
        if reading is not None:
            self._readings.move_to_end(key)
            return reading
        reading = read(arg)
        self._readings[key] = reading
        if len(self._readings) > self.size:
            self._readings.popitem(last=False)
        return reading


class SinkSMTP(SMTP):
    """One SMTP connection of the sink."""

    def __init__(
        self,
        handler: object,
        *,
        gate: ConnectionGate,
        is_trusted: Callable[[str], bool],
        connection_timeout: float,
        first_command_timeout: float,
        paths: PathCache | None = None,
        **kwargs: Any,  # aiosmtpd SMTP options, passed through
    ) -> None:
        self._wanted_proxy_timeout = kwargs.pop("proxy_protocol_timeout", None)
        self._first_command_timeout = first_command_timeout
        self._commanded = False  # no command yet: the shorter idle limit applies
        super().__init__(handler, **kwargs)
        self._smtp_methods = {
            name: self._marks_first_command(method) for name, method in self._smtp_methods.items()
        }
        self._paths = paths if paths is not None else PathCache()
        self._gate = gate
        self._client: str | None = None  # the address counted against the per-client cap
        self._is_trusted = is_trusted
        self._connection_timeout = connection_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False
        self._dropped = False
        self._greeted = False
        self._verbatim = False

    def _create_session(self) -> Session:
        return SinkSession(self.loop)

    def _create_envelope(self) -> Envelope:
        return SinkEnvelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is not None:  # the TLS layer after STARTTLS
            previous = self.session
            super().connection_made(transport)
            if isinstance(previous, SinkSession) and isinstance(self.session, SinkSession):
                for name in ("client_ip", "client_port", "proxied", "local_ip"):
                    setattr(self.session, name, getattr(previous, name))
            return
        peer = transport.get_extra_info("peername") or ("", None)
        trusted = self._is_trusted(str(peer[0]))
        if len(self._gate.open) >= self._gate.limit:
            log.info("sink.refused reason=too_many_connections open=%d", len(self._gate.open))
            self._refuse(transport, TOO_MANY_CONNECTIONS)
            return
        if not trusted:  # a trusted proxy's client is counted once its PROXY header names it
            if not self._gate.take(str(peer[0])):
                log.info("sink.refused reason=too_many_from_client client=%s", peer[0])
                self._refuse(transport, TOO_MANY_FROM_CLIENT)
                return
            self._client = str(peer[0])
        self._gate.open.add(self)
        sock = transport.get_extra_info("sockname") or ("",)
        self._proxy_timeout = self._wanted_proxy_timeout if trusted else None
        super().connection_made(transport)
        session = self.session
        assert isinstance(session, SinkSession)
        session.client_ip, session.client_port = str(peer[0]), peer[1]
        session.local_ip = str(sock[0])
        self._deadline = self.loop.call_later(self._connection_timeout, self._session_expired)

    def _refuse(self, transport: asyncio.BaseTransport, reply: str) -> None:
        self._refused = True
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(reply.encode() + b"\r\n")
        transport.close()

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        """After the handler accepted a PROXY header, count the client it names against the
        per-client cap (a refused one gets 421 and is closed, as aiosmtpd closes on False)."""
        status = await super()._call_handler_hook(command, *args)
        if command != "PROXY" or not status or not isinstance(self.session, SinkSession):
            return status
        client = self.session.client_ip
        if self._client is None and not self._gate.take(client):
            log.info("sink.refused reason=too_many_from_client client=%s proxied=1", client)
            if isinstance(self.transport, asyncio.WriteTransport):
                self.transport.write(TOO_MANY_FROM_CLIENT.encode() + b"\r\n")
            return False
        self._client = self._client or client
        return status

    def _reset_timeout(self, duration: float | None = None) -> None:
        """aiosmtpd's idle timer, with ``first_command_timeout`` until the first command (or
        the command timeout, when that is shorter still)."""
        if duration is None and not self._commanded:
            duration = min(self._first_command_timeout, self._timeout_duration)
        super()._reset_timeout(duration)

    def _marks_first_command(
        self, method: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        """``method`` (an ``smtp_*`` command), which first switches to the idle timeout for
        clients that have sent a command (aiosmtpd looks commands up in ``_smtp_methods``)."""

        @functools.wraps(method)
        async def command(arg: str | None) -> None:
            if not self._commanded:
                self._commanded = True
                self._reset_timeout()
            await method(arg)

        return command

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self._gate.open.discard(self)
        if self._client is not None:
            self._gate.give_back(self._client)
            self._client = None
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        return super().eof_received()

    def _session_expired(self) -> None:
        if isinstance(self.transport, asyncio.WriteTransport) and not self._dropped:
            self.transport.write(SESSION_TOO_LONG.encode() + b"\r\n")
            self.transport.close()

    def _getaddr(self, arg: str) -> _Path:
        """aiosmtpd's reading of a MAIL FROM or RCPT TO argument, through the ``PathCache``."""
        return self._paths.get(arg, self.local_part_limit, super()._getaddr)

    def drop(self) -> None:
        """Close the connection at once, without another reply (fault injection)."""
        self._dropped = True
        if isinstance(self.transport, asyncio.Transport):
            self.transport.abort()

    def close(self) -> None:
        """Close the connection (server shutdown)."""
        if self.transport is not None:
            self.transport.close()

    async def push(self, status: AnyStr) -> None:
        if self._dropped:
            return
        if isinstance(status, str) and not self._verbatim:
            if self._greeted:
                status = with_enhanced_code(status)
            self._greeted = True
        await super().push(status)

    async def smtp_EHLO(self, hostname: str) -> None:
        self._verbatim = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._verbatim = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._verbatim = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._verbatim = False

    async def smtp_AUTH(self, arg: str) -> None:
        """The sink takes mail for anyone and never relays, so it offers no AUTH."""
        await self.push(AUTH_UNAVAILABLE)

    async def smtp_PROXY(self, arg: str) -> None:
        """A PROXY header from a peer that is not trusted: refuse it and hang up."""
        assert self.session is not None
        log.warning("sink.proxy_refused peer=%s", self.session.peer)
        await self.push(PROXY_REFUSED)
        if self.transport is not None:
            self.transport.close()
