import socket

import pytest

from tests.conftest import OutsideNetworkError


def test_guard_refuses_a_public_address() -> None:
    with socket.socket() as sock, pytest.raises(OutsideNetworkError):
        sock.connect(("192.0.2.1", 25))


def test_guard_refuses_a_private_datagram() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        pytest.raises(OutsideNetworkError),
    ):
        sock.sendto(b"x", ("10.0.0.1", 53))


def test_guard_allows_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
