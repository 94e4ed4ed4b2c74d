"""HTTP sessions that refuse to connect to non-public addresses.

The check runs on the socket's actual peer address, after DNS and at every new
connection, so neither a redirect nor a hostile link nor DNS rebinding can point
the crawler at loopback, the local network or a cloud metadata service.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from refuge.config.addresses import PrivateAddressRefused, is_public, refusal

__all__ = ["PrivateAddressRefused", "make_session"]


def _checked(conn: HTTPConnection, sock):  # type: ignore[no-untyped-def]
    address = sock.getpeername()[0]
    if not is_public(address):
        sock.close()
        raise PrivateAddressRefused(refusal(conn.host, address))
    return sock


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self):  # type: ignore[no-untyped-def]
        return _checked(self, super()._new_conn())


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):  # type: ignore[no-untyped-def]
        return _checked(self, super()._new_conn())


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def make_session(user_agent: str, allow_private: bool) -> requests.Session:
    """A session for one crawl worker."""
    session = requests.Session()
    # Proxies and credentials from the environment or ~/.netrc must not leak into captures.
    session.trust_env = False
    session.headers.update({
        "User-Agent": user_agent,
        # Only encodings we can decode to find links; the bytes are stored as received.
        "Accept-Encoding": "gzip, deflate",
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "km,en;q=0.8,*;q=0.5",
    })
    if not allow_private:
        adapter = _GuardedAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session
