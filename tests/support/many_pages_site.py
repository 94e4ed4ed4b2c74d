"""A site of several hundred pages, slow enough to kill a capture of it many times.

Page i (``/p/i.html``) links to pages 2i+1 and 2i+2, the front page to page 0, so every
page is found within a depth of about log2(pages); each page embeds its own image and
the site's stylesheet. Every answer waits DELAY seconds first and is counted in
``hits``, so a test can tell how often each URL was fetched.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fixture_site import Hits

STYLE = b"body { font-family: sans-serif } img { width: 2em }\n"


def page_body(i: int, pages: int) -> bytes:
    links = "".join(f'<a href="/p/{k}.html">page {k}</a> ' for k in (2 * i + 1, 2 * i + 2) if k < pages)
    return (f'<!doctype html><html lang="km"><head><meta charset="utf-8"><title>ទំព័រ {i}</title>'
            f'<link rel="stylesheet" href="/style.css"></head><body><h1>ទំព័រ {i} page {i}</h1>'
            f'<img src="/img/{i}.png" alt="">{links}</body></html>').encode()


def image_body(i: int, size: int = 256) -> bytes:
    """SIZE bytes that do not compress (a seeded hash chain), like a real image."""
    out, block = bytearray(b"\x89PNG\r\n\x1a\n"), i.to_bytes(8, "big")
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a capture killed mid-request resets its connections: the point of the tests


class ManyPagesSite:
    def __init__(self, pages: int, delay: float, image_bytes: int = 256) -> None:
        self.pages, self.delay, self.image_bytes = pages, delay, image_bytes
        self.hits = Hits()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                site.hits.add("GET", self.path, {})
                time.sleep(site.delay)
                body, kind = site.body(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                try:
                    self.wfile.write(body or b"")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the capture was killed mid-answer: the point of the test

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = self.origin + "/"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def paths(self) -> list[str]:
        """Every URL path of the site a capture should hold."""
        return (["/", "/robots.txt", "/style.css"] + [f"/p/{i}.html" for i in range(self.pages)]
                + [f"/img/{i}.png" for i in range(self.pages)])

    def body(self, path: str) -> tuple[bytes | None, str]:
        if path == "/":
            return b'<!doctype html><title>front</title><a href="/p/0.html">start</a>', "text/html"
        if path == "/robots.txt":
            return b"User-agent: *\nAllow: /\n", "text/plain"
        if path == "/style.css":
            return STYLE, "text/css"
        kind, _, name = path.strip("/").partition("/")
        number, _, ext = name.partition(".")
        if number.isdigit() and int(number) < self.pages:
            if (kind, ext) == ("p", "html"):
                return page_body(int(number), self.pages), "text/html; charset=utf-8"
            if (kind, ext) == ("img", "png"):
                return image_body(int(number), self.image_bytes), "image/png"
        return None, "text/plain"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serve(pages: int, delay: float, image_bytes: int = 256) -> Iterator[ManyPagesSite]:
    site = ManyPagesSite(pages, delay, image_bytes)
    try:
        yield site
    finally:
        site.stop()
