"""Server settings for the sink: limits, timeouts, TLS, PROXY trust, bounce addresses, DMARC.

Plain frozen values passed to ``SinkServer``; nothing here reads the environment or files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

MIN_RECIPIENTS = 100  # RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients
SERVER_TIMEOUT = 300.0  # RFC 5321 §4.5.3.2.7: server timeout of at least 5 minutes
# Before the first command the sink waits less than RFC 5321 §4.5.3.2.7's five minutes: a
# client that connects and says nothing is holding a slot, not sending mail (Postfix's
# postscreen waits seconds for it too). After the first command SERVER_TIMEOUT applies.
FIRST_COMMAND_TIMEOUT = 30.0
MAX_CONNECTIONS = 100  # open connections on one listener
MAX_CONNECTIONS_PER_CLIENT = 20  # ... from one client address, so one client cannot fill it
DEFAULT_MAX_SIZE = 25 * 1024 * 1024


@dataclass(frozen=True)
class DmarcDecision:
    """What the sink does, as a receiver, with mail that fails DMARC (RFC 7489 §6.3 ``p=``).

    ``quarantine_to_junk``: a failure under ``p=quarantine`` is filed in the junk folder.
    ``enforce_reject``: a failure under ``p=reject`` is refused at end of DATA with 550 5.7.1.
    """

    quarantine_to_junk: bool = True
    enforce_reject: bool = True


@dataclass(frozen=True)
class SinkConfig:
    """Settings of one sink listener.

    ``tls_cert``/``tls_key`` name a certificate; otherwise, with ``tls_dir`` set, a self-signed
    one is generated there. With neither, STARTTLS is not offered.
    ``proxy_trusted`` lists networks whose connections must start with a PROXY header.
    ``max_connections`` caps the open connections, ``max_connections_per_client`` those of one
    client address: the peer's, or for a trusted proxy the client its PROXY header names.
    ``first_command_timeout`` is the idle limit until the first command, ``command_timeout``
    the one after it.
    ``bounce_addresses`` are ``fnmatch`` patterns (``bounce+*@example.com``) for bounce intake.
    ``local_domains`` maps a local listening IP to the domain it is the MX of, so a MAIL FROM
    stage policy can answer at MAIL FROM; without it such a policy answers at RCPT.
    """

    hostname: str = "sink.localhost"
    max_message_size: int = DEFAULT_MAX_SIZE
    max_recipients: int = MIN_RECIPIENTS
    command_timeout: float = SERVER_TIMEOUT
    first_command_timeout: float = FIRST_COMMAND_TIMEOUT
    connection_timeout: float = 3600.0
    max_connections: int = MAX_CONNECTIONS
    max_connections_per_client: int = MAX_CONNECTIONS_PER_CLIENT
    proxy_trusted: tuple[str, ...] = ()
    proxy_timeout: float = 5.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_dir: Path | None = None
    bounce_addresses: tuple[str, ...] = ()
    dmarc: DmarcDecision = field(default_factory=DmarcDecision)
    local_domains: Mapping[str, str] = field(default_factory=dict)
    store_workers: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "local_domains", MappingProxyType(dict(self.local_domains)))
