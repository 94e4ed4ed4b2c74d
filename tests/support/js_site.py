"""A news site that needs JavaScript: the fixture for browser-mode capture, replay and export.

``serve_js_site()`` starts a threaded HTTP/1.1 server on 127.0.0.1 (free port) serving the
files under ``tests/support/js_site/`` plus a JSON API and generated PNG images:

    with serve_js_site() as site:
        site.url            # "http://127.0.0.1:PORT/"  (the home page)
        site.abs("/about.html"), site.hits, site.file_bytes("/img/mekong-flood.png")
        site.hooks["/hostile/crash.js"] = callable   # run before that path is answered

What a plain fetch of the home page gets is an empty shell. In a browser:

- ``/static/app.js`` fetches ``/api/articles?page=1&_=<Date.now()>`` (the ``_`` query is
  cache-busting and ignored by the server; ``page`` picks ``api/articles-<page>.json``)
  and builds one ``<li class="card">`` per article into ``<ul id="articles">`` by cloning
  ``<template id="card">``: ``<a class="title" href="/articles/<slug>.html">TITLE</a>``,
  ``<p class="summary">``, and ``<img class="lazy" data-src="/img/<slug>.png">``.
- The images sit below the fold (``#hero`` is 1600 px tall); an IntersectionObserver sets
  ``src`` from ``data-src`` (and adds class ``loaded``) only when one scrolls into view.
  So a browser capture gets the images only with scrolling (``--scroll``).
- ``button#load-more`` appends batch 2 from ``/api/articles?page=2&_=<Date.now()>`` and is
  then hidden (``hidden`` attribute): one click is all there is.
- Article pages ``/articles/<slug>.html`` are linked only from the script-built list (a
  plain capture never finds them). Each has an empty ``<main id="story"></main>``;
  ``/static/article.js`` clones ``<template id="story-body">`` into it, so the rendered DOM
  has ``<main id="story" data-rendered="yes"><section class="story-body">BODY...``.

``ARTICLES`` lists them (batch, slug, title, body sentence); ``BATCH_1`` and ``BATCH_2``
their titles; ``IMAGES`` the image paths; ``API_PATHS`` the two API paths (without the
``_`` query). The titles are::

    batch 1: ការរំលោភយកដីធ្លីនៅខេត្តកំពង់ស្ពឺ · Flood waters rise along the Mekong ·
             ការបោះឆ្នោតក្រុមប្រឹក្សាឃុំ សង្កាត់
    batch 2: Garment workers demand back pay · ការកាប់ព្រៃឈើនៅខេត្តមណ្ឌលគិរី

Other URLs: ``/about.html`` (plain HTML, linked from the home page), ``/static/site.css``,
``/api/ping?n=N`` (``{"n": N}``), and pages for hostile-page tests, not linked from the
home page: ``/hostile/index.html`` (links to the three below and /about.html),
``/hostile/endless.html`` (fetches /api/ping every 100 ms forever: the network never goes
idle), ``/hostile/busy.html`` (after load, an endless loop on the main thread),
``/hostile/crash.html`` (loads ``/hostile/crash.js``: install a hook there to kill the
tab's renderer), ``/hostile/infinite.html`` (a feed that grows a screen whenever its bottom
is scrolled into view, polling /api/ping every 200 ms: no end, never quiet), ``/hostile/private.html?to=URL`` (fetch, image, iframe, WebSocket and
beacon to ``URL`` + ``secret.json`` / ``pixel.png`` / ``frame.html`` / ``socket`` /
``beacon``; ``#result`` says "reached: ..." or "refused"), ``/hostile/live.html`` (opens
EventSources on ``/api/events``, which streams ``text/event-stream`` until the client goes,
and fetches ``/api/trickle``, JSON sent a byte at a time and never finished),
``/hostile/requests.html`` (an image under ``/private/``, an image ``/static/skip.png``, and a
tracking pixel ``/api/ping?px=<5,000 hex digits>``), ``/hostile/badurl.html`` (fetches
``http://.example.com/x.js``, a URL no HTTP library accepts), ``/hostile/beacons.html``
(1,200 ``sendBeacon`` POSTs with 20,000-character URLs) and ``/hostile/bigdom.html``
(builds a DOM of over 300,000 characters, with a link to ``/about.html`` only in it).
``site.robots`` (None: 404) is served as ``/robots.txt``.

Every request is recorded in ``site.hits`` (paths with query), like fixture_site's.
"""

from __future__ import annotations

import contextlib
import http.server
import struct
import threading
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from fixture_site import Hits

ROOT = Path(__file__).with_name("js_site")


class Article(NamedTuple):
    batch: int
    slug: str
    title: str
    body: str  # a sentence of the body, found in the rendered DOM's <main id="story">

    @property
    def path(self) -> str:
        return f"/articles/{self.slug}.html"

    @property
    def image(self) -> str:
        return f"/img/{self.slug}.png"


ARTICLES: tuple[Article, ...] = (
    Article(1, "land-kampong-speu", "ការរំលោភយកដីធ្លីនៅខេត្តកំពង់ស្ពឺ",
            "គ្រួសារចំនួនសែសិបនៅខេត្តកំពង់ស្ពឺ និយាយថា ដីធ្លីរបស់ពួកគេត្រូវបានរំលោភយក។"),
    Article(1, "mekong-flood", "Flood waters rise along the Mekong",
            "Water levels at Kratie rose by two metres in a week, the river authority said."),
    Article(1, "commune-election", "ការបោះឆ្នោតក្រុមប្រឹក្សាឃុំ សង្កាត់",
            "លទ្ធផលបោះឆ្នោតក្រុមប្រឹក្សាឃុំ សង្កាត់ ត្រូវបានប្រកាសជាផ្លូវការ។"),
    Article(2, "garment-pay", "Garment workers demand back pay",
            "Hundreds of workers say the factory owes them three months of wages."),
    Article(2, "mondulkiri-forest", "ការកាប់ព្រៃឈើនៅខេត្តមណ្ឌលគិរី",
            "សកម្មជនបរិស្ថានបានរកឃើញការកាប់ព្រៃឈើខុសច្បាប់នៅក្នុងតំបន់ការពារ។"),
)
BATCH_1 = tuple(a.title for a in ARTICLES if a.batch == 1)
BATCH_2 = tuple(a.title for a in ARTICLES if a.batch == 2)
IMAGES = tuple(a.image for a in ARTICLES)
API_PATHS = ("/api/articles?page=1", "/api/articles?page=2")

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (made here so no binary file is committed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height, 9))
            + chunk(b"IEND", b""))


def _image(slug: str) -> bytes:
    seed = zlib.crc32(slug.encode())  # a colour per article, so no two images share a digest
    return png(32, 18, (seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    site: "JsSite"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "JsSite/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        site = self.server.site
        site.hits.add(self.command, self.path, dict(self.headers.items()))
        path = urllib.parse.urlsplit(self.path).path
        hook = site.hooks.get(path)
        if hook is not None:
            hook()
        if path in ("/api/events", "/api/trickle"):
            return self._endless(path)
        try:
            status, body, kind = site.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _endless(self, path: str) -> None:
        """A response that never ends, until the client goes or the server stops."""
        events = path == "/api/events"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if events else "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b"retry: 100000\n\n" if events else b"[")
            while not self.server.site.stopping.wait(0.2):
                self.wfile.write(b"data: tick\n\n" if events else b" ")
                self.wfile.flush()
        except OSError:
            pass


class JsSite:
    """One running server; use :func:`serve_js_site`."""

    def __init__(self) -> None:
        self.hits = Hits()
        self.hooks: dict[str, Callable[[], None]] = {}
        self.robots: str | None = None  # served as /robots.txt when set
        self.stopping = threading.Event()  # ends the endless responses
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.site = self
        self.port: int = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = self.origin + "/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="js-site",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def abs(self, path: str) -> str:
        return self.origin + "/" + path.lstrip("/")

    def file_bytes(self, path: str) -> bytes:
        """Exactly the body the server sends for PATH (the API ignores ``_``)."""
        status, body, _ = self.answer(path)
        if status != 200:
            raise FileNotFoundError(path)
        return body

    def answer(self, target: str) -> tuple[int, bytes, str]:
        """(status, body, content type) for a request target (path and query)."""
        split = urllib.parse.urlsplit(target)
        path, query = split.path or "/", urllib.parse.parse_qs(split.query)
        if path == "/api/articles":
            page = (query.get("page") or ["1"])[0]
            if page not in ("1", "2"):
                return 404, b'{"error": "no such page"}', _TYPES[".json"]
            return 200, (ROOT / "api" / f"articles-{page}.json").read_bytes(), _TYPES[".json"]
        if path == "/robots.txt" and self.robots is not None:
            return 200, self.robots.encode(), "text/plain; charset=utf-8"
        if path == "/api/ping":
            n = (query.get("n") or ["0"])[0]
            return 200, b'{"n": %d}' % (int(n) if n.isdigit() else 0), _TYPES[".json"]
        if path.startswith("/img/") and path.endswith(".png"):
            slug = path[len("/img/"):-len(".png")]
            if any(a.slug == slug for a in ARTICLES):
                return 200, _image(slug), _TYPES[".png"]
        rel = path.lstrip("/") + ("index.html" if path.endswith("/") else "")
        file = (ROOT / rel).resolve()
        if ROOT.resolve() in file.parents and file.is_file() and not rel.startswith("api/"):
            return 200, file.read_bytes(), _TYPES.get(file.suffix, "application/octet-stream")
        return 404, b"<!DOCTYPE html><title>Not found</title><h1>Not found</h1>", _TYPES[".html"]

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def serve_js_site() -> Iterator[JsSite]:
    site = JsSite()
    try:
        yield site
    finally:
        site.stop()


if __name__ == "__main__":  # python tests/support/js_site.py: open it in a browser by hand
    import time

    with serve_js_site() as running:
        print(f"JS news site {running.url}; Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
