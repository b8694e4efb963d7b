"""Fetching an MTA-STS policy over HTTPS (RFC 8461 §3.3), through the SSRF guard.

The policy host's addresses come from the injected Resolver and each is asked of
``diag.netguard`` before any connection; the connection goes to exactly those addresses,
with TLS verified for ``mta-sts.<domain>`` (httpcore, SNI and Host from the URL). Redirects
are not followed, the whole fetch has one deadline, and the body is capped.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable, Sequence
from typing import Protocol

import httpcore

from diag.errors import DnsError, PolicyFetchError
from diag.netguard import ForbiddenTarget, check_target
from diag.resolver import Answer, Resolver
from diag.transport.mtasts import MAX_POLICY_BYTES, POLICY_HOST_PREFIX, POLICY_PATH
from diag.transport.trust import default_ssl_context

FETCH_TIMEOUT = 60.0  # RFC 8461 §3.3 leaves it to the sender; a minute is what MTAs use
HTTPS_PORT = 443
MEDIA_TYPE = "text/plain"  # RFC 8461 §3.3: senders SHOULD check the media type
USER_AGENT = b"maildiag (MTA-STS policy check)"


class PolicyFetcher(Protocol):
    """What the MTA-STS check needs to fetch a policy; None in the lab, which never fetches."""

    async def fetch(self, domain: str) -> bytes:
        """The policy body of ``domain``. Raises PolicyFetchError."""
        ...


class HttpsPolicyFetcher:
    """Fetches ``https://mta-sts.<domain>/.well-known/mta-sts.txt``.

    ``allow_private`` and ``allow_loopback`` are the SSRF guard's (the lab and the tests);
    ``ssl_context`` defaults to the public CAs of ``diag.transport.trust``; ``port`` is for
    tests (the URL names it when it is not 443).
    """

    def __init__(
        self,
        resolver: Resolver,
        *,
        allow_private: bool = False,
        allow_loopback: bool = False,
        timeout: float = FETCH_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        port: int = HTTPS_PORT,
        max_bytes: int = MAX_POLICY_BYTES,
    ) -> None:
        self.resolver = resolver
        self.allow_private = allow_private
        self.allow_loopback = allow_loopback
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.port = port
        self.max_bytes = max_bytes

    def url(self, domain: str) -> str:
        netloc = f"{POLICY_HOST_PREFIX}.{domain}"
        if self.port != HTTPS_PORT:
            netloc += f":{self.port}"
        return f"https://{netloc}{POLICY_PATH}"

    async def fetch(self, domain: str) -> bytes:
        """The policy body. Raises PolicyFetchError (never for a body it could read)."""
        url = self.url(domain)
        try:
            async with asyncio.timeout(self.timeout):
                addresses = await self._addresses(url, f"{POLICY_HOST_PREFIX}.{domain}")
                return await self._get(url, addresses)
        except TimeoutError:
            detail = f"no policy within {self.timeout:g} s"
            raise PolicyFetchError(url=url, reason="timeout", detail=detail) from None

    async def _addresses(self, url: str, host: str) -> list[str]:
        results = await asyncio.gather(
            self.resolver.query(host, "A"),
            self.resolver.query(host, "AAAA"),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, DnsError):
                raise result
        found = [s for r in results if isinstance(r, Answer) for s in r.strings]
        failed = [r for r in results if isinstance(r, DnsError)]
        if not found:
            reason, detail = ("dns", str(failed[0])) if failed else ("no_address", host)
            raise PolicyFetchError(url=url, reason=reason, detail=detail)
        allowed, refused = _guarded(found, self.allow_private, self.allow_loopback)
        if not allowed:
            detail = ", ".join(refused)
            raise PolicyFetchError(url=url, reason="forbidden_target", detail=detail)
        return allowed

    async def _get(self, url: str, addresses: Sequence[str]) -> bytes:
        context = self.ssl_context or default_ssl_context()
        pool = httpcore.AsyncConnectionPool(
            ssl_context=context, network_backend=_Pinned(addresses), retries=0
        )
        headers = [(b"Accept", MEDIA_TYPE.encode()), (b"User-Agent", USER_AGENT)]
        try:
            async with pool, pool.stream("GET", url, headers=headers) as response:
                _check_response(url, response, self.max_bytes)
                return await _read(url, response, self.max_bytes)
        except httpcore.ConnectError as exc:
            raise _connect_failure(url, exc) from None
        except httpcore.TimeoutException as exc:
            raise PolicyFetchError(url=url, reason="timeout", detail=str(exc)) from None
        except (httpcore.ProtocolError, httpcore.NetworkError) as exc:
            detail = str(exc) or type(exc).__name__
            raise PolicyFetchError(url=url, reason="protocol", detail=detail) from None


def _guarded(
    addresses: Iterable[str], allow_private: bool, allow_loopback: bool
) -> tuple[list[str], list[str]]:
    allowed: list[str] = []
    refused: list[str] = []
    for address in dict.fromkeys(addresses):
        try:
            check_target(address, allow_private=allow_private, allow_loopback=allow_loopback)
        except ForbiddenTarget as exc:
            refused.append(f"{address} ({exc.category})")
            continue
        allowed.append(address)
    return allowed, refused


def _header(response: httpcore.Response, name: bytes) -> str:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _check_response(url: str, response: httpcore.Response, limit: int) -> None:
    """Status 200 (RFC 8461 §3.3: no redirects), ``text/plain``, no announced oversize."""
    status = response.status
    if 300 <= status < 400:
        detail = f"{status} to {_header(response, b'location') or '?'}"
        raise PolicyFetchError(url=url, reason="redirect", detail=detail)
    if status != 200:
        raise PolicyFetchError(url=url, reason="http_status", detail=str(status))
    media_type = _header(response, b"content-type").partition(";")[0].strip().lower()
    if media_type != MEDIA_TYPE:
        raise PolicyFetchError(url=url, reason="content_type", detail=media_type or "none")
    length = _header(response, b"content-length")
    if length.isdigit() and int(length) > limit:
        raise PolicyFetchError(url=url, reason="too_large", detail=f"{length} bytes")


async def _read(url: str, response: httpcore.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_stream():
        body += chunk
        if len(body) > limit:
            raise PolicyFetchError(url=url, reason="too_large", detail=f"over {limit} bytes")
    return bytes(body)


def _connect_failure(url: str, exc: httpcore.ConnectError) -> PolicyFetchError:
    """A certificate that does not verify, another TLS failure, or no connection at all."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or str(cause)
            return PolicyFetchError(url=url, reason="tls_certificate", detail=detail)
        if isinstance(cause, ssl.SSLError):
            return PolicyFetchError(url=url, reason="tls", detail=str(cause))
        cause = cause.__cause__ or cause.__context__
    return PolicyFetchError(url=url, reason="connect", detail=str(exc) or "refused")


class _Pinned(httpcore.AsyncNetworkBackend):
    """Connects to the guard-approved addresses, in order, whatever host httpcore names."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self._addresses = tuple(addresses)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in self._addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no unix sockets for policy fetches")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


__all__ = ["FETCH_TIMEOUT", "HttpsPolicyFetcher", "PolicyFetcher"]
