"""The HTTP side of one mirror check: a Watch over one (mirror, vantage) pair, and a session
(net.session's) whose every socket the Watch admits -- registering it, so the pair's deadline
can shut it, and refusing a private address once the mirror was found on a public one.

Mirror URLs come from the operator, who may well check a gateway on their own network; but
what a mirror answers is not the operator's. A public gateway, CDN or bucket that redirects
the checker (or whose name is made to resolve) to loopback, the local network or a cloud
metadata service is refused, as the crawler refuses it: the first connection of a pair says
whether the mirror is public, and from a public one every later connection must be too.
Through a proxy the proxy resolves and connects, so there is nothing here to check.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import requests

from refuge.config.addresses import PrivateAddressRefused, is_public
from refuge.config.settings import Vantage
from refuge.net.session import guarded_session

USER_AGENT = "Refuge-check/0.1"
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*",
            "Accept-Encoding": "identity"}  # hash the bytes as published


class Watch:
    """The deadline of one pair, duplicates of the sockets it opened (a duplicate shares the
    connection, so shutting it down wakes any read on the original), and whether its mirror
    is on a public address (None until its first direct connection)."""

    def __init__(self, timeout: float, direct: bool = True) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.path = "index.html"  # being fetched now
        self.expired = False
        self.direct = direct
        self.public: bool | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def admit(self, host: str, address: str) -> None:
        """Refuse (PrivateAddressRefused) a direct connection to a non-public address once
        the mirror has been found on a public one."""
        public = is_public(address)
        if self.public is None:
            self.public = public
        elif self.public and not public:
            where = address if host.strip("[]") == address else f"{host} ({address})"
            raise PrivateAddressRefused(f"sent to {where}, a loopback, private, link-local or reserved address, "
                                        "from a mirror on a public one: not followed")

    def expire(self) -> None:
        with self._lock:
            if not self.expired:
                self.expired = True
                for s in self._socks:
                    _shut(s)

    def close(self) -> None:
        with self._lock:
            for s in self._socks:
                s.close()
            self._socks.clear()

    def register(self, sock: socket.socket) -> None:
        """Keep a duplicate of a new socket of the pair, to shut it at the deadline (at once
        if the deadline has passed)."""
        dup = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        with self._lock:
            self._socks.append(dup)
            if self.expired:
                _shut(dup)


def session_for(vantage: Vantage, watch: Watch) -> requests.Session:
    """The session of one pair: through the vantage's proxy if it has one, no automatic
    retries, every socket registered with the pair's watch and every direct connection's
    addresses admitted by it."""
    return guarded_session(watch.admit if watch.direct else None, headers=_HEADERS, proxy=vantage.proxy,
                           pool=2, retries=0, on_socket=watch.register)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer or by us
