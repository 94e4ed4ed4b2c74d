"""Proxies the tests start on 127.0.0.1: a plain HTTP forward proxy and a SOCKS5 relay,
each recording what it relayed (used by the mirror checks' and the guarded session's tests)."""

from __future__ import annotations

import http.client
import http.server
import select
import socket
import struct
from urllib.parse import urlsplit


class ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A plain HTTP forward proxy (absolute-form GET) that records what it relayed."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.relayed.append((self.path, self.headers["User-Agent"]))  # type: ignore[attr-defined]
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
        upstream.request("GET", target.path, headers={"User-Agent": self.headers["User-Agent"]})
        resp = upstream.getresponse()
        body = resp.read()
        self.send_response(resp.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        upstream.close()


def socks5(conn, stop, seen, names: dict[str, str] | None = None) -> None:
    """A minimal SOCKS5 server: no auth, CONNECT to an IPv4 address or a name. NAMES are
    names only this proxy can resolve (name -> address), as a remote resolver would."""
    try:
        conn.recv(262)
        conn.sendall(b"\x05\x00")
        _ver, _cmd, _rsv, atyp = conn.recv(4)
        if atyp == 3:
            host = conn.recv(conn.recv(1)[0]).decode()
        else:
            host = socket.inet_ntoa(conn.recv(4))
        port = struct.unpack("!H", conn.recv(2))[0]
        seen.append((host, port))
        upstream = socket.create_connection(((names or {}).get(host, host), port), timeout=5)
        conn.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", port))
        while not stop.is_set():
            ready, _, _ = select.select([conn, upstream], [], [], 0.2)
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                (upstream if src is conn else conn).sendall(data)
    except OSError:
        return
