"""The TCP listening sockets maildiag binds itself (HTTP, the lab DNS server's TCP side).

asyncio turns Nagle's algorithm off (``TCP_NODELAY``) on an accepted connection only when the
listening socket's ``proto`` is ``IPPROTO_TCP`` (``asyncio.base_events._set_nodelay``), and a
socket made as ``socket.socket(family, SOCK_STREAM)`` has proto 0. Without it, a reply written
in two parts (uvicorn writes the head, then the body) waits for the client's delayed ACK: about
40 ms on every request after the first on a kept-alive connection. So every listening TCP
socket we make ourselves comes from ``bind_tcp``. Listeners made by ``loop.create_server(host=,
port=)`` (the SMTP sink's) get the protocol from ``getaddrinfo`` and need nothing more.
"""

from __future__ import annotations

import socket

BACKLOG = 128  # pending connections the kernel holds before accept


def bind_tcp(host: str, port: int, *, backlog: int = BACKLOG) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0 picks a free one), made with
    ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on each accepted connection.

    ``TCP_NODELAY`` is also set on the listener itself; Linux and the BSDs copy it to accepted
    sockets, which covers an event loop that does not set it. Raises OSError when it can't bind,
    naming the address and port it could not take.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise OSError(exc.errno, f"{exc.strerror or exc} ({where})") from exc
    return sock


__all__ = ["BACKLOG", "bind_tcp"]
