"""The HTTP side of one mirror check: a session whose every socket is registered with the
pair's Watch (so the deadline can shut it), and which a mirror on a public address cannot
send to a private one.

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
from functools import cache

import requests
from requests.adapters import HTTPAdapter

from refuge.config.addresses import PrivateAddressRefused, is_public
from refuge.config.settings import Vantage

USER_AGENT = "Refuge-check/0.1"
local = threading.local()  # .watch: the Watch of the pair this worker thread is checking


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

    def register(self, sock: socket.socket) -> None:
        dup = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        with self._lock:
            self._socks.append(dup)
            if self.expired:
                _shut(dup)

    def admit(self, host: str, sock: socket.socket) -> None:
        """Refuse (PrivateAddressRefused) a direct connection to a non-public address once
        the mirror has been found on a public one."""
        if not self.direct:
            return
        address = sock.getpeername()[0]
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


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer or by us


def session_for(vantage: Vantage) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # HTTP_PROXY, NO_PROXY, .netrc must not change what a check sees
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "*/*",
                            "Accept-Encoding": "identity"})  # hash the bytes as published
    if vantage.proxy:
        session.proxies = {"http": vantage.proxy, "https": vantage.proxy}
    adapter = _TrackingAdapter(pool_connections=2, pool_maxsize=2, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _TrackingConnection:
    """Mixed into urllib3's connection classes: registers each new socket (direct, to an
    HTTP proxy, or through SOCKS) with the current pair's watch, which may refuse it."""

    def _new_conn(self):  # type: ignore[no-untyped-def]
        sock = super()._new_conn()  # type: ignore[misc]
        watch = getattr(local, "watch", None)
        if watch is not None:
            watch.register(sock)
            try:
                watch.admit(self.host, sock)  # type: ignore[attr-defined]
            except PrivateAddressRefused:
                sock.close()
                raise
        return sock


@cache
def _tracking_pool(pool_cls: type) -> type:
    conn_cls = type("Tracking" + pool_cls.ConnectionCls.__name__, (_TrackingConnection, pool_cls.ConnectionCls), {})
    return type("Tracking" + pool_cls.__name__, (pool_cls,), {"ConnectionCls": conn_cls})


def _track(manager):  # type: ignore[no-untyped-def]
    if not getattr(manager, "_refuge_tracking", False):
        manager.pool_classes_by_scheme = {s: _tracking_pool(c) for s, c in manager.pool_classes_by_scheme.items()}
        manager._refuge_tracking = True
    return manager


class _TrackingAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        _track(self.poolmanager)

    def proxy_manager_for(self, proxy, **kwargs):  # type: ignore[no-untyped-def]
        return _track(super().proxy_manager_for(proxy, **kwargs))
