"""THE guarded HTTP session: every socket it opens is shown to an admission callable
before a byte is sent on it.

Contract: guarded_session(admit, ...) returns a requests.Session that ignores the
environment (HTTP_PROXY, NO_PROXY, ~/.netrc: trust_env is off), sends the headers it is
given, goes through `proxy` if one is named, and never retries on its own unless told
to. Each new socket it connects -- directly, to an HTTP(S) proxy, or through SOCKS -- is
handed to admit(host, sock) once connected, host being the name the socket was opened
for. sock.getpeername() is then the server's address, or the HTTP(S) proxy's; through
SOCKS it is the destination as the proxy was asked for it (a name, with socks5h). admit
may raise, usually PrivateAddressRefused; the socket is then closed and the request fails
with that exception, no byte of it sent. refuse_private is the crawler's admission, for
direct connections.

Why the hook sits where it does: the peer address is known only once the socket is
connected, and checking it there -- after DNS, at every new connection, before any byte
of the request or of a TLS handshake -- leaves no way round it for a redirect, a hostile
link or DNS rebinding, as a check of the URL or of an earlier lookup would. urllib3
creates that socket in its connection classes' _new_conn, which has no public hook, so
this module subclasses them: it is the one place in Refuge that depends on urllib3's
connection class, and an urllib3 upgrade that changes it breaks here and nowhere else.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from urllib3 import PoolManager
from urllib3.connectionpool import HTTPConnectionPool

from refuge.config.addresses import PrivateAddressRefused, is_public, refusal

__all__ = ["Admit", "PrivateAddressRefused", "guarded_session", "refuse_private"]

Admit = Callable[[str, socket.socket], None]


def refuse_private(host: str, sock: socket.socket) -> None:
    """Refuse (PrivateAddressRefused) a socket connected to a loopback, private,
    link-local or reserved address."""
    address = sock.getpeername()[0]
    if not is_public(address):
        raise PrivateAddressRefused(refusal(host, address))


def guarded_session(admit: Admit | None, *, headers: Mapping[str, str], proxy: str | None = None,
                    pool: int = DEFAULT_POOLSIZE, retries: int = 0) -> requests.Session:
    """A session whose every new socket goes through admit first (None: no admission at
    all, for an operator who allowed private networks). pool is the number of hosts and
    of connections per host kept open; retries is urllib3's count of automatic retries."""
    session = requests.Session()
    # Proxies and credentials from the environment or ~/.netrc must not change what is fetched.
    session.trust_env = False
    session.headers.update(headers)
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    adapter = _AdmittingAdapter(admit, pool_connections=pool, pool_maxsize=pool, max_retries=retries)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _AdmittingAdapter(HTTPAdapter):
    """Puts admit into every pool manager requests makes: the direct one and one per proxy."""

    def __init__(self, admit: Admit | None, **kwargs: Any) -> None:
        self.admit = admit  # before HTTPAdapter.__init__, which makes the first pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _install(self.poolmanager, self.admit)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        made = proxy not in self.proxy_manager  # requests keeps one manager per proxy
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if made:
            _install(manager, self.admit)
        return manager


def _install(manager: PoolManager, admit: Admit | None) -> None:
    if admit is not None:
        manager.pool_classes_by_scheme = {scheme: _admitting_pool(pool_cls, admit)
                                          for scheme, pool_cls in manager.pool_classes_by_scheme.items()}


def _admitting_pool(pool_cls: type[HTTPConnectionPool], admit: Admit) -> type[HTTPConnectionPool]:
    """pool_cls (plain, TLS or SOCKS) with a connection class that admits each new socket."""
    base: Any = pool_cls.ConnectionCls

    class AdmittingConnection(base):  # type: ignore[misc, valid-type]
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            try:
                admit(self.host, sock)
            except BaseException:
                sock.close()
                raise
            return sock

    AdmittingConnection.__name__ = AdmittingConnection.__qualname__ = "Admitting" + base.__name__
    return type("Admitting" + pool_cls.__name__, (pool_cls,), {"ConnectionCls": AdmittingConnection})
