"""The replay tests' archive and server, shared by the test_replay_*.py modules: the replay
server through real HTTP (waitress on a free port) over real WARC files.

A test module gets the ``replay`` fixture by importing ``replay_fixture`` (pytest finds
fixtures among a module's names). It is module-scoped: the archive is written and the
server started once per test module.
The documents written into the archive, and the helpers that compare replayed bytes
with them, live here too, so that every module checks against the same originals.
"""

from __future__ import annotations

import random
import re
import struct
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from refuge.config.settings import Settings
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog
from replay_helpers import ArchiveWriter, Repeated, stored_payload

FIXTURE = Path(__file__).with_name("fixture_site")
T0, T1, T2 = "20261127234140", "20261127234147", "20261201090000"
SITE = "https://news.example/"
KM_PATH = "km/%E1%9E%80%E1%9E%98%E1%9F%92%E1%9E%96%E1%9E%BB%E1%9E%87%E1%9E%B6.html"  # km/កម្ពុជា.html
BIG_SIZE = 30 * 1024 * 1024
# Incompressible (a 1 MB period is beyond deflate's 32 KB window), like the video or PDF a
# big capture usually is. (A payload of zeros would inflate in warcio's reader to up to
# ~16 MB per 16 KB block read: bounded, but not by the payload's size.)
BIG_PATTERN = random.Random(0).randbytes(1 << 20)


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xcc\x22\x22" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = _png(3, 2)

INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Mekong Observer</title>
<link rel="stylesheet" href="/static/site.css">
<link rel="icon" href="//news.example/favicon.ico">
<script src="static/app.js"></script>
<style>@import url("/static/print.css"); body { background: url('/img/bg.png') }</style>
</head>
<body>
<h1>Mekong Observer</h1>
<a id="l1" href="/en/article-1.html">Article</a>
<a id="l2" href="https://news.example/km/">ខ្មែរ</a>
<a id="l3" href="//cdn.example/page.html">CDN</a>
<a id="l4" href="?page=2&amp;sort=date">Older</a>
<a id="l5" href="#top">Top</a>
<a id="l6" href="javascript:void(0)">JS</a>
<a id="l7" href="mailto:tips@example.invalid">Mail</a>
<a id="l8" href="/en/article-1.html#comments">Comments</a>
<img src="/img/logo.png" srcset="/img/logo.png 1x, /img/logo@2x.png 2x" alt="">
<div style="background-image:url(/img/hero.jpg)">hero</div>
<form action="/search" method="get"><input name="q"></form>
<iframe src="/frame.html"></iframe>
<video poster="/media/poster.jpg"><source src="/media/clip.webm" type="video/webm"></video>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
</body></html>
""".encode()

CSS = b'@import "reset.css";\nh1 { color: rgb(1, 2, 3) } body { background: url(../img/bg.png) } .x { background: url("https://cdn.example/a.gif") }\n'

KHMER = """<!DOCTYPE html>
<html lang="km"><head><meta charset="utf-8"><title>សេរីភាពសារព័ត៌មាននៅកម្ពុជា</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body>
<h1>សេរីភាពសារព័ត៌មាននៅកម្ពុជា</h1>
<p>ក្នុងខែកក្កដា ឆ្នាំ២០២៣ គេហទំព័រព័ត៌មានឯករាជ្យមួយចំនួនត្រូវបានរារាំង។ <a href="article-2.html">អត្ថបទបន្ទាប់</a></p>
<p><a href="/km/ព័ត៌មាន.html">ព័ត៌មាន</a> <img src="img/%E1%9E%80.png" alt="រូបភាព"> ​ zero-width space kept, NFC/NFD not touched: ក៏ ក់ើ</p>
</body></html>
""".encode()

FRAME = b"<!DOCTYPE html><html><body><p>framed</p><a href='/en/'>en</a></body></html>"
REFRESH = b'<html><head><meta http-equiv="refresh" content="0; url=/en/article-2.html"></head><body>moving</body></html>'
HOSTILE = (b'<html><head><base href="javascript:alert(1)"></head><body><a href="x.html">x</a>'
           + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000
           + b'<a href="/after.html">after</a><img src="http://169.254.169.254/latest"><p title="' + b"a" * 5000
           + b'">long</p><scr<ipt>bad</ipt><//a><a href=">broken</body></html>')
# 50,000 tags left open (600 KB): each used to make the parser re-read the rest of the page.
UNCLOSED = b'<html><body><a href="x.html">x</a>' + b'<div title="' * 50_000


def big_html() -> bytes:
    para = '<p>ប្រទេសកម្ពុជា news <a href="/news/a1.html">more</a> <img src="/img/i1.png"></p>\n'.encode()
    return b"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + para * 50_000 + b"</body></html>"


# Named apart from the fixture so that test arguments called `replay` shadow no import.
@pytest.fixture(scope="module", name="replay")
def replay_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    data = tmp_path_factory.mktemp("replay") / "data"
    data.mkdir()
    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    rows = {}
    html = [("Content-Type", "text/html; charset=utf-8")]
    with ArchiveWriter(settings, engine, "site", SITE) as w:
        rows["http_redirect"] = w.response("http://news.example/", b"", ts=T0, status=301,
                                           headers=[("Location", SITE)])
        rows["index"] = w.response(SITE, INDEX, ts=T1, headers=html + [("Set-Cookie", "sid=1; HttpOnly")])
        rows["css"] = w.response(SITE + "static/site.css", CSS, ts=T1, headers=[("Content-Type", "text/css")])
        rows["logo"] = w.response(SITE + "img/logo.png", PNG, ts=T1, headers=[("Content-Type", "image/png")])
        rows["khmer"] = w.response(SITE + KM_PATH, KHMER, ts=T1, headers=html)
        rows["rawkm"] = w.response(SITE + "km/ព័ត៌មាន.html", b"<html><body>raw khmer url</body></html>", ts=T1,
                                   headers=html)
        rows["base"] = w.response(SITE + "km/article-2.html", (FIXTURE / "km/article-2.html").read_bytes(), ts=T1,
                                  headers=html)
        rows["cp1251"] = w.response(SITE + "legacy/cp1251.html", (FIXTURE / "legacy/cp1251.html").read_bytes(),
                                    ts=T1, headers=[("Content-Type", "text/html")])
        rows["sjis"] = w.response(SITE + "legacy/sjis.html", (FIXTURE / "legacy/sjis.html").read_bytes(), ts=T1,
                                  headers=[("Content-Type", "text/html; charset=Shift_JIS")])
        rows["gzip"] = w.response(SITE + "gzip.html", INDEX, ts=T1, headers=html, encoding="gzip")
        rows["old"] = w.response(SITE + "old", b"moved", ts=T1, status=301,
                                 headers=[("Location", "/moved/final.html"), ("Content-Type", "text/plain")])
        rows["final"] = w.response(SITE + "moved/final.html", b"<html><body>final</body></html>", ts=T1, headers=html)
        rows["search"] = w.response(SITE + "search?q=khmer&page=2", b"<html><body>results page 2</body></html>",
                                    ts=T1, headers=html)
        rows["refresh"] = w.response(SITE + "refresh.html", REFRESH, ts=T1, headers=html)
        rows["frame"] = w.response(SITE + "frame.html", FRAME, ts=T1, headers=html)
        rows["hostile"] = w.response(SITE + "hostile.html", HOSTILE, ts=T1, headers=html)
        rows["unclosed"] = w.response(SITE + "unclosed.html", UNCLOSED, ts=T1, headers=html)
        rows["bightml"] = w.response(SITE + "big.html", big_html(), ts=T1, headers=html)
        rows["big"] = w.response(SITE + "big.bin", Repeated(BIG_PATTERN, BIG_SIZE), ts=T1,
                                 headers=[("Content-Type", "application/octet-stream")])
        rows["headers"] = w.response(SITE + "headers.html", b"<html><body>h</body></html>", ts=T1, headers=html + [
            ("Strict-Transport-Security", "max-age=31536000"), ("Content-Security-Policy", "default-src *"),
            ("Link", "<https://tracker.example/x.js>; rel=preload; as=script"), ("Refresh", "5; url=/en/"),
            ("X-Frame-Options", "DENY"), ("Alt-Svc", 'h3=":443"'), ("Connection", "keep-alive, X-Foo"), ("X-Foo", "hop"),
            ("Cache-Control", "max-age=60"), ("Content-Language", "km"), ("WWW-Authenticate", 'Basic realm="x"'),
            ("Speculation-Rules", '"/rules.json"'), ("X-Anything", "new")])
        # A quadratic regex over this Refresh value held the interpreter lock for seconds.
        rows["slow_refresh"] = w.response(SITE + "slow-refresh.html", b"<html><body>r</body></html>", ts=T1,
                                          headers=html + [("Refresh", "0;url=x" + " " * 30_000 + "y")])
        rows["long_header"] = w.response(SITE + "long-header.html", b"<html><body>l</body></html>", ts=T1,
                                         headers=html + [("Link", "<x" + "a" * 300_000 + ">")])
    with ArchiveWriter(settings, engine, "site", SITE) as w:
        rows["revisit"] = w.revisit(SITE, rows["index"], ts=T2, headers=html + [("X-Capture", "second")])
    with ArchiveWriter(settings, engine, "other", "https://other.example/") as w:
        # Its digest exists only in another target's capture: the original cannot be found.
        w.revisit("https://other.example/gone.html", rows["final"], ts=T2)
    app = make_app(settings, engine)
    with running_server(app) as base:
        yield SimpleNamespace(base=base, settings=settings, engine=engine, rows=rows)
    engine.dispose()


def get(replay: SimpleNamespace, path: str, **kw) -> requests.Response:
    kw.setdefault("allow_redirects", False)
    kw.setdefault("timeout", 30)
    return requests.get(replay.base + path, **kw)


def payload_of(replay: SimpleNamespace, key: str) -> bytes:
    """The payload bytes of a record exactly as stored in its WARC file."""
    row = replay.rows[key]
    return stored_payload(replay.settings.data / row["path"], row["offset"])


class Links(HTMLParser):
    """Every URL-bearing attribute value of a document, and the CSS in it."""

    ATTRS = {"href", "src", "action", "poster", "data", "srcset", "formaction", "background"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        for name, value in attrs:
            if value is None:
                continue
            if name == "srcset":
                for part in value.split(","):
                    self.urls.append((tag, name, part.strip().split()[0]))
            elif name in self.ATTRS:
                self.urls.append((tag, name, value))
            elif name == "style":
                self.css.append(value)
            elif name == "content" and (d.get("http-equiv") or "").lower() == "refresh":
                self.urls.append((tag, name, value.split("url=", 1)[1]))
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)

    def handle_endtag(self, tag):
        self._in_style = False


def links_of(body: str) -> Links:
    parser = Links()
    parser.feed(body)
    parser.close()
    return parser


def archived(url: str) -> bool:
    """URL leads into the archive, or to the replay server's own script, or nowhere."""
    return url.startswith(("/web/", "/_refuge/")) or url.startswith(("#", "javascript:", "mailto:", "data:"))


_URL_VALUE = re.compile(rb"""((?:href|src|srcset|action|poster|content)\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_CSS_URL = re.compile(rb"""url\(\s*(?:"[^"]*"|'[^']*'|[^)]*)\s*\)|@import\s+(?:"[^"]*"|'[^']*')""", re.I)
BANNER = re.compile(rb'<div id="refuge-banner".*?</div>', re.S)
# The tag of the replay script, first in the head of every page replayed as a document.
REPLAY_SCRIPT = re.compile(rb'<script src="/_refuge/replay\.js\?v=[0-9a-f]+" data-ts="\d+" data-url="[^"]*"></script>')


def without_inserts(body: bytes) -> bytes:
    """BODY without what the server inserts into a page: the banner and the replay script's tag."""
    return REPLAY_SCRIPT.sub(b"", BANNER.sub(b"", body, count=1), count=1)


def without_urls(body: bytes) -> bytes:
    """BODY with every URL value replaced by a placeholder and the banner removed."""
    body = without_inserts(body)
    body = _URL_VALUE.sub(lambda m: m.group(1) + b"URL", body)
    return _CSS_URL.sub(b"CSSURL", body)
