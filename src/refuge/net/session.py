"""THE guarded HTTP session: every address it would connect to is shown to an admission
callable before a socket is connected to it.

Contract: guarded_session(admit, ...) returns a requests.Session that ignores the
environment (HTTP_PROXY, NO_PROXY, ~/.netrc: trust_env is off), sends the headers it is
given, goes through `proxy` if one is named, and never retries on its own unless told
to. For each new connection -- to a server, or to an HTTP(S) proxy -- it resolves the
host, hands admit(host, address) every address found, and only if admit raised for none
connects, to those addresses and no others. admit usually raises PrivateAddressRefused;
the request then fails with it, no socket having been connected, so the answer is the same
whether anything listens at that address or not. refuse_private is the crawler's admission,
and refusing_private(allowed) the same with networks the operator allowed.
Through a SOCKS proxy the proxy resolves the name, so there is nothing to admit: admit must
be None with one. on_socket, if given, hears of every socket once it is connected.

Why the hook sits where it does: deciding on the addresses the socket will be connected
to, at every new connection, after DNS and before anything is sent, leaves no way round it
for a redirect, a hostile link or DNS rebinding, as a check of the URL or of an earlier
lookup would. urllib3 creates that socket in its connection classes' _new_conn, which has
no public hook, so this module subclasses them: it is the one place in Refuge that depends
on urllib3's connection class, and an urllib3 upgrade that changes it breaks here and
nowhere else.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from urllib3 import PoolManager
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from refuge.config.addresses import PrivateAddressRefused, is_admitted, refusal

__all__ = ["Admit", "PrivateAddressRefused", "guarded_session", "refuse_private", "refusing_private"]

Admit = Callable[[str, str], None]
OnSocket = Callable[[socket.socket], None]


def refusing_private(allowed: Sequence[str] = ()) -> Admit:
    """An admission refusing (PrivateAddressRefused) a loopback, private, link-local or
    reserved address outside the ALLOWED networks."""
    def admit(host: str, address: str) -> None:
        if not is_admitted(address, allowed):
            raise PrivateAddressRefused(refusal(host, address))
    return admit


refuse_private = refusing_private()


def guarded_session(admit: Admit | None, *, headers: Mapping[str, str], proxy: str | None = None,
                    pool: int = DEFAULT_POOLSIZE, retries: int = 0,
                    on_socket: OnSocket | None = None) -> requests.Session:
    """A session whose every connection's addresses go through admit first (None: no
    admission at all, for an operator who allowed private networks, or through a SOCKS
    proxy). pool is the number of hosts and of connections per host kept open; retries is
    urllib3's count of automatic retries."""
    if admit is not None and proxy and proxy.lower().startswith("socks"):
        raise ValueError("a SOCKS proxy resolves names itself: there are no addresses to admit")
    session = requests.Session()
    # Proxies and credentials from the environment or ~/.netrc must not change what is fetched.
    session.trust_env = False
    session.headers.update(headers)
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    adapter = _AdmittingAdapter(admit, on_socket, pool_connections=pool, pool_maxsize=pool, max_retries=retries)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _AdmittingAdapter(HTTPAdapter):
    """Puts admit into every pool manager requests makes: the direct one and one per proxy."""

    def __init__(self, admit: Admit | None, on_socket: OnSocket | None, **kwargs: Any) -> None:
        # Before HTTPAdapter.__init__, which makes the first pool manager.
        self.admit, self.on_socket = admit, on_socket
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _install(self.poolmanager, self.admit, self.on_socket)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        made = proxy not in self.proxy_manager  # requests keeps one manager per proxy
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if made:
            _install(manager, self.admit, self.on_socket)
        return manager


def _install(manager: PoolManager, admit: Admit | None, on_socket: OnSocket | None) -> None:
    if admit is not None or on_socket is not None:
        manager.pool_classes_by_scheme = {scheme: _admitting_pool(pool_cls, admit, on_socket)
                                          for scheme, pool_cls in manager.pool_classes_by_scheme.items()}


def _admitting_pool(pool_cls: type[HTTPConnectionPool], admit: Admit | None,
                    on_socket: OnSocket | None) -> type[HTTPConnectionPool]:
    """pool_cls (plain, TLS or SOCKS) with a connection class that admits each connection's
    addresses before connecting, and tells on_socket of the socket."""
    base: Any = pool_cls.ConnectionCls

    class AdmittingConnection(base):  # type: ignore[misc, valid-type]
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn() if admit is None else _connect_admitted(self, admit)
            if on_socket is not None:
                try:
                    on_socket(sock)
                except BaseException:
                    sock.close()
                    raise
            return sock

    AdmittingConnection.__name__ = AdmittingConnection.__qualname__ = "Admitting" + base.__name__
    return type("Admitting" + pool_cls.__name__, (pool_cls,), {"ConnectionCls": AdmittingConnection})


def _connect_admitted(conn: Any, admit: Admit) -> socket.socket:
    """What urllib3's _new_conn does, with the addresses admitted in between resolving the
    host and connecting to them (and urllib3's exceptions for what goes wrong)."""
    host, port = conn.host, conn.port
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise NameResolutionError(host, conn, e) from e
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        admit(host, address)
    error: OSError | None = None
    for address in addresses:
        try:
            return create_connection((address, port), conn.timeout, source_address=conn.source_address,
                                     socket_options=conn.socket_options)
        except TimeoutError as e:
            raise ConnectTimeoutError(conn, f"Connection to {host} timed out. (connect timeout={conn.timeout})") from e
        except OSError as e:
            error = e
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error
