"""A safety net for tests whose pages name addresses off this machine (10.x, 169.254.169.254,
NAT64): put this directory on a child process's PYTHONPATH and its sockets may connect to
loopback only. Should the guard under test ever let such a URL through, the connection fails
here at once instead of leaving the machine; the test still fails, on the reason recorded.
"""

from __future__ import annotations

import ipaddress
import socket

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # a Unix socket path: local by nature
    try:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    except ValueError:
        return False  # a name: every test server is addressed by IP
    inner = getattr(ip, "ipv4_mapped", None)
    return (inner or ip).is_loopback


def _check(address: object) -> None:
    if not _loopback(address):
        raise ConnectionRefusedError(f"loopback_only test tripwire: not connecting to {address}")


def connect(self: socket.socket, address: object) -> None:
    _check(address)
    _connect(self, address)


def connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _connect_ex(self, address)


socket.socket.connect = connect  # type: ignore[method-assign, assignment]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign, assignment]
