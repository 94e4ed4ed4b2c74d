"""The guarded session (refuge.net.session) against servers and proxies on 127.0.0.1.

127.0.0.1 plays a public address where a test says so (is_public patched); 127.0.0.2 stays
what it is, a loopback address standing for the local network or a metadata service.
"""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading

import pytest
from proxy_servers import ForwardProxy, socks5

from refuge.archiver.fetch import FetchError, FetchPolicy, crawler_session, fetch
from refuge.config.addresses import PrivateAddressRefused
from refuge.net.session import guarded_session, refuse_private

POLICY = FetchPolicy(timeout=5, retries=0, backoff=0.01, max_retry_after=1, max_bytes=1_000_000)


class _Page(http.server.BaseHTTPRequestHandler):
    """/away/HOST:PORT redirects to http://HOST:PORT/; anything else is a small page."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/away/"):
            self.send_response(302)
            self.send_header("Location", f"http://{self.path[len('/away/'):]}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def _start(server: socketserver.BaseServer) -> socketserver.BaseServer:
    server.daemon_threads = True  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture()
def servers():
    """(outside on 127.0.0.1, inside on 127.0.0.2), each recording the paths it was asked for."""
    made = [_start(http.server.ThreadingHTTPServer((host, 0), _Page)) for host in ("127.0.0.1", "127.0.0.2")]
    for s in made:
        s.hits = []  # type: ignore[attr-defined]
    yield made
    for s in made:
        s.shutdown()
        s.server_close()


def url(server: socketserver.BaseServer, path: str = "/") -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{path}"


def test_the_crawler_refuses_a_redirect_to_a_private_address(servers) -> None:
    outside, inside = servers
    away = url(outside, f"/away/127.0.0.2:{inside.server_address[1]}")
    session = crawler_session("t", allow_private=False, allowed=["127.0.0.1/32"])  # outside only
    hop = fetch(session, away, POLICY)  # the crawler records the redirect, then fetches where it points
    assert hop.status == 302
    with pytest.raises(FetchError, match=r"127\.0\.0\.2 resolves to 127\.0\.0\.2, .*REFUGE_ALLOW_PRIVATE_NETWORKS"):
        fetch(session, hop.header("Location"), POLICY)
    with pytest.raises(PrivateAddressRefused):  # nor when the session itself follows redirects
        session.get(away, timeout=5)
    assert inside.hits == []  # type: ignore[attr-defined]
    followed = crawler_session("t", allow_private=True).get(away, timeout=5)  # the operator allowed it
    assert followed.status_code == 200 and inside.hits == ["/"]  # type: ignore[attr-defined]


def test_every_connection_to_an_http_proxy_is_admitted(servers) -> None:
    outside, _ = servers
    proxy = _start(http.server.ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxy))
    proxy.relayed = []  # type: ignore[attr-defined]
    admitted: list[tuple[str, str]] = []
    try:
        via = f"http://localhost:{proxy.server_address[1]}"
        session = guarded_session(lambda host, address: admitted.append((host, address)),
                                  headers={"User-Agent": "t"}, proxy=via)
        assert session.get(url(outside), timeout=5).text == "ok"
        assert admitted and {host for host, _ in admitted} == {"localhost"}  # the proxy, not the site
        refusing = guarded_session(refuse_private, headers={"User-Agent": "t"}, proxy=via)
        with pytest.raises(PrivateAddressRefused):
            refusing.get(url(outside), timeout=5)
        assert len(proxy.relayed) == 1  # type: ignore[attr-defined]  # nothing was sent to the refused one
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_through_socks_every_socket_is_seen_and_nothing_can_be_admitted(servers) -> None:
    outside, _ = servers
    seen: list = []
    stop = threading.Event()

    class Relay(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            socks5(self.request, stop, seen)

    proxy = _start(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Relay))
    sockets: list[tuple[str, int]] = []
    try:
        via = f"socks5h://127.0.0.1:{proxy.server_address[1]}"
        session = guarded_session(None, headers={"User-Agent": "t"}, proxy=via,
                                  on_socket=lambda sock: sockets.append(sock.getpeername()[:2]))
        assert session.get(url(outside), timeout=5).text == "ok"
        # PySocks reports the destination as the peer: the proxy has connected to it by then.
        assert sockets == [("127.0.0.1", outside.server_address[1])]
        assert seen == [("127.0.0.1", outside.server_address[1])]
        # The proxy resolves names: a session cannot promise to admit addresses it never sees.
        with pytest.raises(ValueError, match="SOCKS"):
            guarded_session(refuse_private, headers={}, proxy=via)
    finally:
        stop.set()
        proxy.shutdown()
        proxy.server_close()


def test_a_refused_address_is_never_connected_to_and_says_nothing_of_its_ports() -> None:
    """The guard decides before connecting: a port that listens and one that does not give
    the same refusal, and the listening one sees no connection at all."""
    listener = socket.create_server(("127.0.0.2", 0))
    listener.settimeout(0.5)
    closed = socket.create_server(("127.0.0.2", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        errors = []
        for port in (listener.getsockname()[1], closed_port):
            with pytest.raises(PrivateAddressRefused) as refused:
                guarded_session(refuse_private, headers={}).get(f"http://127.0.0.2:{port}/", timeout=5)
            errors.append(str(refused.value))
        assert errors[0] == errors[1] and "127.0.0.2" in errors[0]
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
