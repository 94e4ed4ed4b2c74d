"""A small site on 127.0.0.1 whose pages reach for addresses the crawler must refuse, and the
"inside" server on 127.0.0.2 they point at, over HTTP or HTTPS (a trustme CA).

127.0.0.2 stands for the local network or a cloud metadata service: a real server listens
there and counts every connection, so a test can tell "refused before connecting" from
"connected and got an error". The seed site embeds and redirects to it, and embeds the same
host behind IPv6 wrappers (IPv4-mapped, NAT64, 6to4) and two addresses that would hang an
unguarded crawler (10.255.255.1, 169.254.169.254). Links to other hosts are out of a
host-scoped target's scope and never fetched, so the site reaches off-host through what the
crawler does fetch everywhere: page requisites and their redirects.

    with serve_inside(tls=ca) as inside, serve_site(inside, tls=ca) as site:
        site.url, site.abs("/about.html"), inside.connections, inside.hits
"""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import trustme

INSIDE_HOST = "127.0.0.2"


class SiteServer(http.server.ThreadingHTTPServer):
    """Counts connections and records request paths; speaks TLS if given a context. The
    handshake runs in the request's thread, so a client that gives up on the certificate
    stalls nothing."""

    daemon_threads = True

    def __init__(self, host: str, handler: type, tls: ssl.SSLContext | None) -> None:
        super().__init__((host, 0), handler)
        self.tls = tls
        self.connections = 0
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.inside: SiteServer | None = None  # the seed site's: the server its pages point at

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        with self.lock:
            self.connections += 1
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate: that is what some tests expect
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # a client hanging up mid-response is no failure of the fixture

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.server_address[0]}:{self.port}/"

    def abs(self, path: str) -> str:
        return self.url.rstrip("/") + path


class _Handler(http.server.BaseHTTPRequestHandler):
    server: SiteServer

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits.append(self.path)
        status, headers, body = self.answer(self.path.split("?", 1)[0])
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "text/plain"}, b"inside: nobody should read this"


def refused_urls(inside: SiteServer) -> dict[str, str]:
    """What the seed page embeds off-host -> the address the guard sees for it."""
    scheme, port = inside.scheme, inside.port
    return {
        f"{scheme}://127.0.0.2:{port}/embedded.png": "127.0.0.2",
        f"{scheme}://127.0.0.2:{port}/embedded.js": "127.0.0.2",
        f"{scheme}://127.0.0.2:{port}/embedded.css": "127.0.0.2",
        f"{scheme}://127.0.0.2:{port}/redirected.png": "127.0.0.2",  # where /away.png sends it
        f"{scheme}://[::ffff:127.0.0.2]:{port}/mapped.png": "::ffff:127.0.0.2",
        f"{scheme}://[64:ff9b::7f00:2]:{port}/nat64.png": "64:ff9b::7f00:2",
        f"{scheme}://[2002:7f00:2::]:{port}/6to4.png": "2002:7f00:2::",
        "http://169.254.169.254/latest/meta-data/": "169.254.169.254",
        "http://10.255.255.1/": "10.255.255.1",
    }


def home_page(inside: SiteServer) -> bytes:
    urls = list(refused_urls(inside))
    images = "".join(f'<img src="{u}" alt="">' for u in urls if u.endswith(".png") and "redirected" not in u)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Guarded home</title>
<link rel="stylesheet" href="/style.css">
<link rel="stylesheet" href="{inside.abs('/embedded.css')}">
<script src="{inside.abs('/embedded.js')}"></script>
<script src="http://169.254.169.254/latest/meta-data/"></script>
</head><body>
<h1>Guarded home</h1>
<img src="/away.png" alt="">{images}<img src="http://10.255.255.1/" alt="">
<p><a href="/about.html">About</a> <a href="{inside.abs('/linked.html')}">inside</a>
<a href="http://169.254.169.254/latest/meta-data/">metadata</a> <a href="http://10.255.255.1/">intranet</a></p>
</body></html>""".encode()


ABOUT = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>About</title></head>
<body><h1>About this site</h1><p><a href="/">Home</a></p></body></html>"""
STYLE = b"body { font-family: serif; }"


class _SiteHandler(_Handler):
    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        inside = self.server.inside
        assert inside is not None
        html = {"Content-Type": "text/html; charset=utf-8"}
        if path == "/":
            return 200, html, home_page(inside)
        if path == "/about.html":
            return 200, html, ABOUT
        if path == "/style.css":
            return 200, {"Content-Type": "text/css"}, STYLE
        if path == "/away.png":  # a requisite redirecting inside
            return 302, {"Location": inside.abs("/redirected.png")}, b""
        return 404, {"Content-Type": "text/plain"}, b"not here"


@contextlib.contextmanager
def _running(server: SiteServer) -> Iterator[SiteServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server TLS context with a certificate from CA for NAMES (IP addresses or host names)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


def write_ca(ca: trustme.CA, directory: Path) -> Path:
    """CA's certificate as a PEM file in DIRECTORY, for REFUGE_CA_FILE."""
    path = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@contextlib.contextmanager
def serve_inside(tls: trustme.CA | None = None) -> Iterator[SiteServer]:
    """The server on 127.0.0.2 (its certificate from TLS's CA, so only the guard keeps a
    crawler trusting that CA away from it)."""
    ctx = server_context(tls, INSIDE_HOST) if tls is not None else None
    with _running(SiteServer(INSIDE_HOST, _Handler, ctx)) as server:
        yield server


@contextlib.contextmanager
def serve_site(inside: SiteServer, tls: trustme.CA | None = None) -> Iterator[SiteServer]:
    """The seed site on 127.0.0.1, pointing at INSIDE."""
    ctx = server_context(tls, "127.0.0.1", "localhost") if tls is not None else None
    server = SiteServer("127.0.0.1", _SiteHandler, ctx)
    server.inside = inside
    with _running(server) as running:
        yield running
