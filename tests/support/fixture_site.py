"""The fixture news site the capture, replay and browser tests crawl.

A threaded HTTP/1.1 server (keep-alive) on 127.0.0.1 that serves the static files
under ``tests/support/fixture_site/`` plus the dynamic behaviours a real site shows: redirect
chains, errors that recover, rate limiting, oversized and chunked bodies, gzip,
crawler traps and robots.txt. A second instance plays "another host" (a CDN).

Static files are served byte for byte, except that ``{{CDN}}``, ``{{CDN_HOST}}``,
``{{SELF}}`` and ``{{HOST}}`` in HTML/CSS/JS files are replaced with the live
addresses (only files that contain a placeholder; never anything under ``/km/`` or
``/legacy/``). ``site.file_bytes(path)`` returns exactly the body the server sends.

URL map (main site):

=========================  ===========================================================
/                          front page (index.html): links to everything below
/robots.txt                ``Disallow: /private/``
/en/, /en/article-N.html   English section and articles (N = 1..3)
/km/, /km/article-N.html   Khmer section and articles (UTF-8, lang="km"); article-2 and
                           /km/archive/2023/article-3.html use ``<base href="/km/">``
/legacy/cp1251.html        windows-1251, charset only in <meta http-equiv>, header
                           ``Content-Type: text/html``
/legacy/sjis.html          Shift_JIS, charset only in the HTTP header
/old                       301, ``Location: /older`` (relative)
/older                     302, ``Location: http://127.0.0.1:PORT/moved/final.html``
/moved/final.html          200, end of the redirect chain
/missing (or any unknown)  404 with an HTML body
/flaky                     500 on the first request to this server, 200 after
/busy                      429 with ``Retry-After: 1`` once, then 200
/big.bin                   3,000,000 bytes with Content-Length
/big-chunked.bin           3,000,000 bytes chunked, no Content-Length
/chunked.html              ``Transfer-Encoding: chunked``
/gzip.html                 ``Content-Encoding: gzip`` + Content-Length (gzip.html.gz)
/gzip-chunked.html         gzip and chunked (gzip-chunked.html.gz)
/calendar?month=YYYY-MM    links to the previous and next month, forever (trap)
/trap/a/, /trap/a/a/ ...   links to ``a/`` (relative): an endless path (trap)
/private/secret.html       disallowed by robots.txt (linked from the front page)
/refresh.html              ``<meta http-equiv="refresh" content="0; url=/en/article-2.html">``
/media.html                form (/search), iframe (/embed/frame.html), video poster +
                           source, lazy ``data-src`` image + <noscript>, /static/app.js
/search?q=...              a small results page (the form's action)
/links.html                mailto:, javascript:, tel:, data:, fragment links
/partners.html             (from /links.html) what a static export must drop or keep: a CDN
                           script (/cdn/widget.js), an inline gtag snippet, a harmless inline
                           script, a missing CDN stylesheet and pixel, a preconnect, a link
                           to /paths/a%2Fb.html, /paths/ឯកសារ.html, a 168-character name and a
                           Khmer query string
/paths/...                 awkward file names for export paths (see /partners.html)
/hostile.html              (not linked) 10,000-deep nesting, a 5,000-char attribute,
                           malformed tags, ``<base href="javascript:alert(1)">``, links
                           to 169.254.169.254 and 10.0.0.1, trackers on *.invalid hosts
=========================  ===========================================================

CDN site (``cdn_site``): /cdn/cdn.css (url(cdn-bg.gif)), /cdn/cdn-bg.gif,
/cdn/banner.png — the front page references the stylesheet and the banner; /cdn/widget.js
(a third-party script, from /partners.html).
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import mimetypes
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).with_name("fixture_site")
CDN_ROOT = ROOT / "_cdn"

BIG_SIZE = 3_000_000
CHUNK = 1024  # chunk size for the chunked responses

# Files whose bytes are never templated, so tests can compare them to the disk.
_VERBATIM_PREFIXES = ("/km/", "/legacy/")
_TEMPLATED_SUFFIXES = (".html", ".css", ".js")
_PLACEHOLDER = re.compile(rb"\{\{(CDN|CDN_HOST|SELF|HOST)\}\}")

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webm": "video/webm",
    ".bin": "application/octet-stream",
}
# Exact Content-Type headers for the legacy-charset pages.
_TYPE_OVERRIDES = {
    "/legacy/cp1251.html": "text/html",
    "/legacy/sjis.html": "text/html; charset=Shift_JIS",
}
# Pre-gzipped files on disk (gzip -9, mtime 0): served as they are.
_GZIPPED = {
    "/gzip.html": ("gzip.html.gz", False),
    "/gzip-chunked.html": ("gzip-chunked.html.gz", True),
}
_CHUNKED_FILES = {"/chunked.html"}

_big: bytes | None = None
_big_lock = threading.Lock()


def big_bytes() -> bytes:
    """The 3 MB body of /big.bin and /big-chunked.bin (made once per process, not committed)."""
    global _big
    with _big_lock:
        if _big is None:
            block = bytes(range(256)) * 4  # 1 KiB, every byte value
            _big = (block * (BIG_SIZE // len(block) + 1))[:BIG_SIZE]
        return _big


def _html(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n{body}\n"
        "<p><a href=\"/\">Home</a></p>\n</body>\n</html>\n"
    ).encode("utf-8")


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_TRAP = re.compile(r"^/trap(/a)+/$")


class Hits:
    """Thread-safe record of the request paths (with query) a server received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: list[str] = []
        self._requests: list[tuple[str, str, dict[str, str]]] = []

    def add(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._paths.append(path)
            self._requests.append((method, path, headers))

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._paths)

    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, path, headers) for every request, in arrival order."""
        with self._lock:
            return list(self._requests)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._paths)

    def count(self, path: str) -> int:
        with self._lock:
            return self._paths.count(path)

    def clear(self) -> None:
        with self._lock:
            self._paths.clear()
            self._requests.clear()

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return path in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths())

    def __len__(self) -> int:
        with self._lock:
            return len(self._paths)

    def __repr__(self) -> str:
        return f"Hits({self.paths()!r})"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    site: "FixtureSite"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go in separate writes: without this, Nagle holds the body ~40 ms
    # on a keep-alive connection, waiting for the ACK of the headers.
    disable_nagle_algorithm = True
    server_version = "FixtureSite/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def version_string(self) -> str:
        return self.server_version

    # -- plumbing ----------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        self._handle(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(send_body=False)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._handle(send_body=True)

    def _handle(self, send_body: bool) -> None:
        site = self.server.site
        site.hits.add(self.command, self.path, {k: v for k, v in self.headers.items()})
        self._send_body = send_body
        try:
            site._route(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def respond(self, status: int, body: bytes = b"", content_type: str | None = None,
                headers: dict[str, str] | None = None, chunked: bool = False) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not self._send_body:
            return
        if chunked:
            for i in range(0, len(body), CHUNK):
                piece = body[i:i + CHUNK]
                self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()


class FixtureSite:
    """One running fixture server. Use :func:`serve` or the pytest fixtures."""

    def __init__(self, root: Path = ROOT, cdn_url: str | None = None, name: str = "site") -> None:
        self.root = Path(root)
        self.name = name
        self.cdn_url = (cdn_url or "http://cdn.invalid").rstrip("/")
        self.hits = Hits()
        self._lock = threading.Lock()
        self._seen_once: set[str] = set()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.site = self
        self.port: int = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.origin = f"http://{self.host}"
        self.url = self.origin + "/"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"fixture-{name}",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- public API ----------------------------------------------------------------

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        """Forget hits and re-arm /flaky and /busy."""
        with self._lock:
            self._seen_once.clear()
        self.hits.clear()

    def abs(self, path: str) -> str:
        """Absolute URL of a path on this site: site.abs('/km/') -> 'http://127.0.0.1:P/km/'."""
        return self.origin + "/" + path.lstrip("/")

    def disk_path(self, path: str) -> Path:
        """The file on disk that backs a static URL path (the .gz file for the gzip pages)."""
        path = urllib.parse.urlsplit(path).path or "/"
        if path in _GZIPPED:
            return self.root / _GZIPPED[path][0]
        rel = urllib.parse.unquote(path).lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        target = (self.root / rel).resolve()
        root = self.root.resolve()
        if root not in target.parents and target != root:
            raise FileNotFoundError(path)
        if self.root == ROOT and (CDN_ROOT.resolve() == target or CDN_ROOT.resolve() in target.parents):
            raise FileNotFoundError(path)  # the CDN's files belong to the other host
        return target

    def file_bytes(self, path: str) -> bytes:
        """Exactly the body bytes the server sends for a static path (after templating;
        still gzip-compressed for /gzip.html and /gzip-chunked.html; 3 MB for the .bin files)."""
        path = urllib.parse.urlsplit(path).path or "/"
        if path in ("/big.bin", "/big-chunked.bin"):
            return big_bytes()
        data = self.disk_path(path).read_bytes()
        return self._template(path, data)

    def decoded_bytes(self, path: str) -> bytes:
        """file_bytes with the Content-Encoding undone (differs only for the gzip pages)."""
        data = self.file_bytes(path)
        path = urllib.parse.urlsplit(path).path or "/"
        return gzip.decompress(data) if path in _GZIPPED else data

    def content_type(self, path: str) -> str:
        path = urllib.parse.urlsplit(path).path or "/"
        if path in _TYPE_OVERRIDES:
            return _TYPE_OVERRIDES[path]
        if path in _GZIPPED:
            return _TYPES[".html"]
        suffix = self.disk_path(path).suffix.lower()
        return _TYPES.get(suffix) or mimetypes.guess_type("x" + suffix)[0] or "application/octet-stream"

    # -- internals -----------------------------------------------------------------

    def _first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._seen_once:
                return False
            self._seen_once.add(key)
            return True

    def _template(self, path: str, data: bytes) -> bytes:
        if path.startswith(_VERBATIM_PREFIXES) or not path.endswith(_TEMPLATED_SUFFIXES + ("/",)):
            return data
        if b"{{" not in data:
            return data
        cdn_host = urllib.parse.urlsplit(self.cdn_url).netloc
        values = {b"CDN": self.cdn_url.encode(), b"CDN_HOST": cdn_host.encode(),
                  b"SELF": self.origin.encode(), b"HOST": self.host.encode()}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], data)

    def _route(self, h: _Handler) -> None:
        split = urllib.parse.urlsplit(h.path)
        path, query = split.path or "/", urllib.parse.parse_qs(split.query)
        html = _TYPES[".html"]

        if self.root != ROOT:  # the CDN: static files only
            return self._static(h, path)

        if path == "/old":
            return h.respond(301, _html("Moved", '<a href="/older">/older</a>'), html, {"Location": "/older"})
        if path == "/older":
            target = self.abs("/moved/final.html")
            return h.respond(302, _html("Found", f'<a href="{target}">here</a>'), html, {"Location": target})
        if path == "/missing":
            return self._not_found(h)
        if path == "/flaky":
            if self._first_time("flaky"):
                return h.respond(500, _html("Server error", "<p>Try again.</p>"), html)
            return h.respond(200, _html("Live updates", "<p>Recovered after an error.</p>"), html)
        if path == "/busy":
            if self._first_time("busy"):
                return h.respond(429, _html("Too many requests", "<p>Slow down.</p>"), html,
                                 {"Retry-After": "1"})
            return h.respond(200, _html("Election results", "<p>Served after a 429.</p>"), html)
        if path == "/big.bin":
            return h.respond(200, big_bytes(), _TYPES[".bin"])
        if path == "/big-chunked.bin":
            return h.respond(200, big_bytes(), _TYPES[".bin"], chunked=True)
        if path in _GZIPPED:
            name, chunked = _GZIPPED[path]
            return h.respond(200, (self.root / name).read_bytes(), html,
                             {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}, chunked=chunked)
        if path == "/calendar":
            return self._calendar(h, (query.get("month") or ["2023-07"])[0])
        if _TRAP.match(path):
            depth = path.count("/a")
            return h.respond(200, _html(f"Section {depth}", '<p><a href="a/">Subsection</a></p>'), html)
        if path == "/search":
            q = (query.get("q") or [""])[0]
            safe = q.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            return h.respond(200, _html("Search", f"<p>No results for “{safe}”.</p>"), html)
        if path.endswith(".gz"):  # the gzip sources are reachable only through their pages
            return self._not_found(h)
        return self._static(h, path)

    def _static(self, h: _Handler, path: str) -> None:
        try:
            target = self.disk_path(path)
        except FileNotFoundError:
            return self._not_found(h)
        if target.is_dir():
            return h.respond(301, b"", None, {"Location": path + "/"})
        if not target.is_file():
            return self._not_found(h)
        return h.respond(200, self.file_bytes(path), self.content_type(path), chunked=path in _CHUNKED_FILES)

    def _not_found(self, h: _Handler) -> None:
        h.respond(404, _html("Not found", f"<p>Nothing at {h.path.split('?')[0]!s}.</p>"), _TYPES[".html"])

    def _calendar(self, h: _Handler, month: str) -> None:
        m = _MONTH.match(month)
        if not m or not 1 <= int(m.group(2)) <= 12:
            return h.respond(400, _html("Bad month", "<p>Use YYYY-MM.</p>"), _TYPES[".html"])
        y, mo = int(m.group(1)), int(m.group(2))
        prev = f"{y - 1}-12" if mo == 1 else f"{y}-{mo - 1:02d}"
        nxt = f"{y + 1}-01" if mo == 12 else f"{y}-{mo + 1:02d}"
        body = (f'<p>Events in {month}.</p>\n<a href="/calendar?month={prev}">Previous month</a> '
                f'<a href="/calendar?month={nxt}">Next month</a>')
        h.respond(200, _html(f"Calendar {month}", body), _TYPES[".html"])

    def __repr__(self) -> str:
        return f"FixtureSite({self.name!r}, {self.url!r})"


@contextlib.contextmanager
def serve(root: Path = ROOT, cdn_url: str | None = None, name: str = "site") -> Iterator[FixtureSite]:
    site = FixtureSite(root, cdn_url=cdn_url, name=name)
    try:
        yield site
    finally:
        site.stop()


@contextlib.contextmanager
def serve_with_cdn() -> Iterator[tuple[FixtureSite, FixtureSite]]:
    """The main site and its CDN, wired together: (site, cdn)."""
    with serve(CDN_ROOT, name="cdn") as cdn, serve(ROOT, cdn_url=cdn.origin, name="site") as site:
        yield site, cdn


if __name__ == "__main__":  # python tests/support/fixture_site.py: browse it by hand
    import time

    with serve_with_cdn() as (main_site, cdn_site):
        print(f"fixture site {main_site.url}  (CDN {cdn_site.url}); Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
