"""The replay server, through real HTTP (waitress on a free port) over real WARC files."""

from __future__ import annotations

import hashlib
import random
import re
import struct
import threading
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from refuge.config.settings import Settings
from refuge.mirror.app import make_app
from refuge.mirror.server import running_server
from refuge.storage import catalog
from replay_helpers import ArchiveWriter, Repeated, gzipped, stored_payload

FIXTURE = Path(__file__).with_name("fixture_site")
T0, T1, T2 = "20261127234140", "20261127234147", "20261201090000"
SITE = "https://news.example/"
KM_PATH = "km/%E1%9E%80%E1%9E%98%E1%9F%92%E1%9E%96%E1%9E%BB%E1%9E%87%E1%9E%B6.html"  # km/កម្ពុជា.html
BIG_SIZE = 30 * 1024 * 1024
# Incompressible (a 1 MB period is beyond deflate's 32 KB window), like the video or PDF a
# big capture usually is. (A payload of zeros would inflate in warcio's reader to up to
# ~16 MB per 16 KB block read: bounded, but not by the payload's size.)
BIG_PATTERN = random.Random(0).randbytes(1 << 20)
CSP = ("default-src 'self' data: blob:; script-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; "
       "style-src 'self' 'unsafe-inline' data: blob:; img-src 'self' data: blob:; font-src 'self' data:; "
       "media-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'self'; "
       "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads")


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


def big_html() -> bytes:
    para = '<p>ប្រទេសកម្ពុជា news <a href="/news/a1.html">more</a> <img src="/img/i1.png"></p>\n'.encode()
    return b"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + para * 50_000 + b"</body></html>"


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
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
        rows["bightml"] = w.response(SITE + "big.html", big_html(), ts=T1, headers=html)
        rows["big"] = w.response(SITE + "big.bin", Repeated(BIG_PATTERN, BIG_SIZE), ts=T1,
                                 headers=[("Content-Type", "application/octet-stream")])
        rows["headers"] = w.response(SITE + "headers.html", b"<html><body>h</body></html>", ts=T1, headers=html + [
            ("Strict-Transport-Security", "max-age=31536000"), ("Content-Security-Policy", "default-src *"),
            ("Link", "<https://tracker.example/x.js>; rel=preload; as=script"), ("Refresh", "5; url=/en/"),
            ("X-Frame-Options", "DENY"), ("Alt-Svc", 'h3=":443"'), ("Connection", "keep-alive, X-Foo"), ("X-Foo", "hop"),
            ("Cache-Control", "max-age=60")])
    with ArchiveWriter(settings, engine, "site", SITE) as w:
        rows["revisit"] = w.revisit(SITE, rows["index"], ts=T2, headers=html + [("X-Capture", "second")])
    with ArchiveWriter(settings, engine, "other", "https://other.example/") as w:
        # Its digest exists only in another target's capture: the original cannot be found.
        w.revisit("https://other.example/gone.html", rows["final"], ts=T2)
    app = make_app(settings, engine)
    with running_server(app) as base:
        yield SimpleNamespace(base=base, settings=settings, engine=engine, rows=rows)
    engine.dispose()


def get(replay, path: str, **kw) -> requests.Response:
    kw.setdefault("allow_redirects", False)
    kw.setdefault("timeout", 30)
    return requests.get(replay.base + path, **kw)


def payload_of(replay, key: str) -> bytes:
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
    return url.startswith("/web/") or url.startswith(("#", "javascript:", "mailto:", "data:"))


_URL_VALUE = re.compile(rb"""((?:href|src|srcset|action|poster|content)\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_CSS_URL = re.compile(rb"""url\(\s*(?:"[^"]*"|'[^']*'|[^)]*)\s*\)|@import\s+(?:"[^"]*"|'[^']*')""", re.I)
_BANNER = re.compile(rb'<div id="refuge-banner".*?</div>', re.S)


def without_urls(body: bytes) -> bytes:
    """BODY with every URL value replaced by a placeholder and the banner removed."""
    body = _BANNER.sub(b"", body, count=1)
    body = _URL_VALUE.sub(lambda m: m.group(1) + b"URL", body)
    return _CSS_URL.sub(b"CSSURL", body)


# -- routes ------------------------------------------------------------------------------

def test_front_page_lists_targets_khmer_first(replay):
    r = get(replay, "/")
    assert r.status_code == 200
    body = r.text
    assert 'name="viewport"' in body and "Noto Sans Khmer" in body and "Khmer OS" in body
    assert f'href="/web/{T1}/{SITE}"' in body or f'href="/web/{T2}/{SITE}"' in body
    assert "site" in body and "other" in body
    assert body.index('lang="km"') < body.index('lang="en" class="en"')
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", body), "no external references"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_closest_capture_redirects_to_exact_timestamp(replay):
    r = get(replay, f"/web/2026/{SITE}")
    assert r.status_code == 302
    assert r.headers["Location"] == f"/web/{T1}/{SITE}"
    r = get(replay, f"/web/20261215/{SITE}")
    assert r.headers["Location"] == f"/web/{T2}/{SITE}"
    r = get(replay, f"/web/{T1}/{SITE}")
    assert r.status_code == 200


def test_assets_are_served_from_the_closest_capture_directly(replay):
    r = get(replay, f"/web/2026im_/{SITE}img/logo.png")
    assert r.status_code == 200
    assert r.content == PNG
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Length"] == str(len(PNG))


def test_bare_url_redirects_to_newest_capture(replay):
    r = get(replay, f"/web/{SITE}")
    assert r.status_code == 302
    assert r.headers["Location"] == f"/web/{T2}/{SITE}"


def test_capture_list(replay):
    r = get(replay, f"/web/*/{SITE}")
    assert r.status_code == 200
    body = r.text
    assert f'/web/{T1}/{SITE}' in body and f'/web/{T2}/{SITE}' in body
    assert "2026-11-27 23:41 UTC" in body and "2026-12-01 09:00 UTC" in body
    assert "ច្បាប់ចម្លងទាំងអស់" in body and "All captures" in body
    assert r.headers["X-Frame-Options"] == "DENY"


def test_healthz_and_methods(replay):
    assert get(replay, "/healthz").text.strip() == "ok"
    r = requests.post(replay.base + f"/web/{T1}/{SITE}", data=b"x", timeout=10)
    assert r.status_code == 405
    r = requests.head(replay.base + f"/web/{T1}id_/{SITE}img/logo.png", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(PNG)) and r.content == b""


# -- id_ ---------------------------------------------------------------------------------

def test_id_serves_the_stored_bytes(replay):
    r = get(replay, f"/web/{T1}id_/{SITE}", stream=True)
    assert r.raw.read(decode_content=False) == INDEX
    assert "Set-Cookie" not in r.headers
    assert r.headers["X-Archive-Orig-Set-Cookie"] == "sid=1; HttpOnly"


def test_id_keeps_content_encoding_and_compressed_bytes(replay):
    r = get(replay, f"/web/{T1}id_/{SITE}gzip.html", stream=True)
    raw = r.raw.read(decode_content=False)
    assert r.headers["Content-Encoding"] == "gzip"
    assert raw == gzipped(INDEX) == payload_of(replay, "gzip")
    assert int(r.headers["Content-Length"]) == len(raw)


# -- rewriting ---------------------------------------------------------------------------

def test_every_link_points_into_the_archive(replay):
    r = get(replay, f"/web/{T1}/{SITE}")
    body = r.text
    links = links_of(_BANNER.sub(b"", r.content).decode())  # the banner links to the archive's own pages
    for tag, attr, url in links.urls:
        assert archived(url), f"<{tag} {attr}={url!r}> escapes the archive"
    for css in links.css:
        for url in re.findall(r"""url\(\s*['"]?([^'")]+)""", css) + re.findall(r"""@import\s+['"]([^'"]+)""", css):
            assert archived(url), f"CSS {url!r} escapes the archive"
    expected = [
        f'href="/web/{T1}cs_/{SITE}static/site.css"',
        f'href="/web/{T1}oe_/{SITE}favicon.ico"',
        f'src="/web/{T1}js_/{SITE}static/app.js"',
        f'url("/web/{T1}cs_/{SITE}static/print.css")',
        f"url('/web/{T1}im_/{SITE}img/bg.png')",
        f'href="/web/{T1}/{SITE}en/article-1.html"',
        f'href="/web/{T1}/{SITE}km/"',
        f'href="/web/{T1}/https://cdn.example/page.html"',
        f'href="/web/{T1}/{SITE}?page=2&amp;sort=date"',
        f'href="/web/{T1}/{SITE}en/article-1.html#comments"',
        'href="#top"', 'href="javascript:void(0)"', 'href="mailto:tips@example.invalid"',
        f'srcset="/web/{T1}im_/{SITE}img/logo.png 1x, /web/{T1}im_/{SITE}img/logo@2x.png 2x"',
        f"url(/web/{T1}im_/{SITE}img/hero.jpg)",
        f'action="/web/{T1}/{SITE}search"',
        f'<iframe src="/web/{T1}if_/{SITE}frame.html"',
        f'poster="/web/{T1}im_/{SITE}media/poster.jpg"',
        f'<source src="/web/{T1}oe_/{SITE}media/clip.webm"',
        'src="data:image/gif;base64,R0lGODlhAQABAAAAACw="',
    ]
    for piece in expected:
        assert piece in body, piece
    assert without_urls(r.content) == without_urls(INDEX)


def test_css_url_and_import_rewritten(replay):
    r = get(replay, f"/web/{T1}cs_/{SITE}static/site.css")
    assert r.status_code == 200
    assert r.content == (f'@import "/web/{T1}cs_/{SITE}static/reset.css";\nh1 {{ color: rgb(1, 2, 3) }} body {{ background: '
                         f'url(/web/{T1}im_/{SITE}img/bg.png) }} .x {{ background: url("/web/{T1}im_/https://cdn.example/a.gif") }}\n').encode()
    assert r.headers["Content-Type"] == "text/css"


def test_base_href_and_meta_refresh(replay):
    body = get(replay, f"/web/{T1}/{SITE}km/article-2.html").text
    assert f'<base href="/web/{T1}/{SITE}km/">' in body
    assert f'src="/web/{T1}im_/{SITE}km/img/article-2.jpg"' in body
    assert f'href="/web/{T1}/{SITE}km/article-1.html"' in body
    assert f'href="/web/{T1}/{SITE}km/index.html"' in body
    assert f'href="/web/{T1}cs_/{SITE}static/site.css"' in body
    body = get(replay, f"/web/{T1}/{SITE}refresh.html").text
    assert f'content="0; url=/web/{T1}/{SITE}en/article-2.html"' in body


def test_banner_on_top_level_pages_only(replay):
    body = get(replay, f"/web/{T1}/{SITE}").content
    start = body.index(b"<body>") + len(b"<body>")
    assert body[start:].startswith(b'<div id="refuge-banner"')
    banner = _BANNER.search(body).group(0)
    assert banner.isascii()
    assert b'lang="km"' in banner and b'lang="en"' in banner
    assert banner.index(b'lang="km"') < banner.index(b'lang="en"')
    assert b"2026-11-27 23:41 UTC" in banner
    assert f'href="/web/*/{SITE}"'.encode() in banner and b'href="/"' in banner
    assert SITE.encode() in banner and f'href="{SITE}"'.encode() not in banner  # the origin as text only
    assert b"&#6021;" in banner  # Khmer as character references
    for mod in ("if_", "fr_", "mp_", "im_"):
        framed = get(replay, f"/web/{T1}{mod}/{SITE}frame.html").content
        assert b"refuge-banner" not in framed, mod
        assert f"/web/{T1}/{SITE}en/".encode() in framed


def test_khmer_page_is_byte_exact_apart_from_links_and_banner(replay):
    r = get(replay, f"/web/{T1}/{SITE}{KM_PATH}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'href="/web/{T1}/{SITE}km/article-2.html"'.encode() in r.content
    assert f'src="/web/{T1}im_/{SITE}km/img/%E1%9E%80.png"'.encode() in r.content
    assert without_urls(r.content) == without_urls(KHMER)
    assert "សេរីភាពសារព័ត៌មាននៅកម្ពុជា".encode() in r.content


@pytest.mark.parametrize("key,path,ctype", [
    ("cp1251", "legacy/cp1251.html", "text/html"),
    ("sjis", "legacy/sjis.html", "text/html; charset=Shift_JIS"),
])
def test_legacy_charset_pages_are_byte_exact(replay, key, path, ctype):
    original = (FIXTURE / path).read_bytes()
    r = get(replay, f"/web/{T1}/{SITE}{path}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == ctype
    assert f'href="/web/{T1}/{SITE}"'.encode() in r.content
    assert without_urls(r.content) == without_urls(original)
    assert b"refuge-banner" in r.content


def test_gzip_page_is_decoded_and_rewritten(replay):
    r = get(replay, f"/web/{T1}/{SITE}gzip.html", stream=True)
    raw = r.raw.read(decode_content=False)
    assert "Content-Encoding" not in r.headers
    assert r.headers["X-Archive-Orig-Content-Encoding"] == "gzip"
    assert f'href="/web/{T1}cs_/{SITE}static/site.css"'.encode() in raw
    assert without_urls(raw) == without_urls(INDEX)


def test_redirect_location_is_rewritten(replay):
    r = get(replay, f"/web/{T1}/{SITE}old")
    assert r.status_code == 301
    assert r.headers["Location"] == f"/web/{T1}/{SITE}moved/final.html"
    assert r.headers["X-Archive-Orig-Location"] == "/moved/final.html"
    r = get(replay, f"/web/{T1}/{SITE}old", allow_redirects=True)
    assert r.status_code == 200 and b"final" in r.content


def test_redirect_to_same_key_does_not_loop(replay):
    # http://news.example/ -> https://news.example/ share a SURT key.
    r = get(replay, f"/web/{T0}/http://news.example/", allow_redirects=True)
    assert r.status_code == 200
    assert len(r.history) <= 3
    assert b"Mekong Observer" in r.content


def test_revisit_is_served_with_the_original_payload(replay):
    r = get(replay, f"/web/{T2}id_/{SITE}", stream=True)
    assert r.status_code == 200
    assert r.raw.read(decode_content=False) == INDEX
    assert r.headers["X-Capture"] == "second"
    assert r.headers["Memento-Datetime"] == "Tue, 01 Dec 2026 09:00:00 GMT"
    page = get(replay, f"/web/{T2}/{SITE}").content
    assert f'href="/web/{T2}cs_/{SITE}static/site.css"'.encode() in page
    assert b"2026-12-01 09:00 UTC" in page


def test_revisit_without_original_names_the_problem(replay):
    r = get(replay, f"/web/{T2}/https://other.example/gone.html")
    assert r.status_code == 404
    assert "the stored copy it refers to is missing" in r.text
    assert "មិនអាចបង្ហាញច្បាប់ចម្លងនេះបានទេ" in r.text
    assert r.headers["X-Frame-Options"] == "DENY"


def test_uncaptured_url_gets_404_with_nearby_captures(replay):
    r = get(replay, f"/web/2026/{SITE}not-here.html")
    assert r.status_code == 404
    body = r.text
    assert "This page was not captured" in body and "ទំព័រនេះមិនត្រូវបានរក្សាទុកទេ" in body
    assert f'href="/web/{SITE}km/article-2.html"' in body
    assert f'href="/web/{SITE}legacy/cp1251.html"' in body
    assert 'href="/"' in body
    assert r.headers["X-Frame-Options"] == "DENY"
    assert get(replay, "/web/2026/https://never.example/").status_code == 404


def test_replay_security_headers(replay):
    r = get(replay, f"/web/{T1}/{SITE}headers.html")
    h = r.headers
    assert h["Content-Security-Policy"] == CSP
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["Access-Control-Allow-Origin"] == "*"
    assert h["Memento-Datetime"] == "Fri, 27 Nov 2026 23:41:47 GMT"
    assert h["Link"] == f'<{SITE}headers.html>; rel="original"'
    for dropped in ("Strict-Transport-Security", "X-Frame-Options", "Alt-Svc", "Set-Cookie", "X-Foo"):
        assert dropped not in h, dropped
    assert "X-Archive-Orig-X-Foo" not in h and "X-Archive-Orig-Connection" not in h  # hop-by-hop: gone
    assert h["X-Archive-Orig-Strict-Transport-Security"] == "max-age=31536000"
    assert h["X-Archive-Orig-Content-Security-Policy"] == "default-src *"
    assert h["X-Archive-Orig-Link"].startswith("<https://tracker.example/")
    assert h["Refresh"] == f"5; url=/web/{T1}/{SITE}en/"
    assert h["Cache-Control"] == "max-age=60"
    for path in (f"/web/{T1}im_/{SITE}img/logo.png", f"/web/{T1}id_/{SITE}", f"/web/{T1}/{SITE}old"):
        assert get(replay, path).headers["Content-Security-Policy"] == CSP, path


# -- URLs as readers send them -----------------------------------------------------------

def test_query_strings_survive(replay):
    r = get(replay, f"/web/{T1}/{SITE}search?q=khmer&page=2")
    assert r.status_code == 200 and b"results page 2" in r.content
    r = get(replay, f"/web/{T1}/https:/news.example/search?q=khmer&page=2")  # '//' collapsed by a proxy
    assert r.status_code == 200 and b"results page 2" in r.content
    r = get(replay, f"/web/{T1}/news.example/search?q=khmer&page=2")  # no scheme
    assert r.status_code == 200 and b"results page 2" in r.content


def test_khmer_paths_encoded_or_not(replay):
    encoded = f"/web/{T1}/{SITE}{KM_PATH}"
    assert get(replay, encoded).status_code == 200
    assert get(replay, f"/web/{T1}/{SITE}{KM_PATH.lower()}").status_code == 200  # %e1 as well as %E1
    # Captured under a raw (not percent-encoded) Khmer URL, asked for as a browser sends it.
    r = get(replay, f"/web/{T1}/{SITE}km/%E1%9E%96%E1%9F%90%E1%9E%8F%E1%9F%8C%E1%9E%98%E1%9E%B6%E1%9E%93.html")
    assert r.status_code == 200 and b"raw khmer url" in r.content
    # A raw Khmer link in a page comes out percent-encoded, and leads to the capture.
    page = get(replay, encoded).content
    link = f"/web/{T1}/{SITE}km/%E1%9E%96%E1%9F%90%E1%9E%8F%E1%9F%8C%E1%9E%98%E1%9E%B6%E1%9E%93.html"
    assert f'href="{link}"'.encode() in page
    # The capture list and the banner show the Khmer path readable.
    assert "km/កម្ពុជា.html" in get(replay, f"/web/*/{SITE}{KM_PATH}").text


def test_raw_utf8_request_uri(replay):
    """Waitress refuses raw non-ASCII request lines (browsers always percent-encode), but
    another WSGI server may pass them on, decoded as Latin-1 per PEP 3333."""
    app = make_app(replay.settings, replay.engine)
    uri = f"/web/{T1}/{SITE}km/កម្ពុជា.html".encode().decode("latin-1")
    environ = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "PATH_INFO": uri, "QUERY_STRING": "",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http"}
    status = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status == ["200 OK"]
    assert "សេរីភាពសារព័ត៌មាន".encode() in body
    # No REQUEST_URI/RAW_URI at all: PATH_INFO (decoded) and QUERY_STRING are used.
    environ.pop("REQUEST_URI")
    environ["PATH_INFO"] = f"/web/{T1}/{SITE}search".encode().decode("latin-1")
    environ["QUERY_STRING"] = "q=khmer&page=2"
    status.clear()
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status == ["200 OK"] and b"results page 2" in body


# -- big and hostile responses -----------------------------------------------------------

def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


@pytest.mark.parametrize("mod", ["id_", "oe_"])
def test_large_response_streams_in_constant_memory(replay, mod):
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    before = _rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    digest = hashlib.sha256()
    size = 0
    try:
        with get(replay, f"/web/{T1}{mod}/{SITE}big.bin", stream=True) as r:
            assert r.status_code == 200
            assert r.headers["Content-Length"] == str(BIG_SIZE)
            for chunk in r.iter_content(64 * 1024):
                digest.update(chunk)
                size += len(chunk)
    finally:
        stop.set()
        sampler.join()
    assert size == BIG_SIZE
    assert "sha256:" + digest.hexdigest() == replay.rows["big"]["digest"]
    assert peak[0] - before < BIG_SIZE // 3, f"RSS grew by {(peak[0] - before) >> 20} MB"


def test_large_html_is_rewritten_as_a_stream(replay):
    original = big_html()
    with get(replay, f"/web/{T1}/{SITE}big.html", stream=True) as r:
        assert r.status_code == 200
        assert "Content-Length" not in r.headers
        assert r.headers.get("Transfer-Encoding") == "chunked"
        chunks = list(r.iter_content(None))
    body = b"".join(chunks)
    assert len(chunks) > 1
    assert body.count(f'href="/web/{T1}/{SITE}news/a1.html"'.encode()) == 50_000
    assert without_urls(body) == without_urls(original)


def test_hostile_html_does_not_break_the_server(replay):
    r = get(replay, f"/web/{T1}/{SITE}hostile.html")
    assert r.status_code == 200
    body = r.content
    # The javascript: base is never used to resolve links, and base-uri 'self' makes the browser ignore it.
    assert "base-uri 'self'" in r.headers["Content-Security-Policy"]
    assert f'href="/web/{T1}/{SITE}x.html"'.encode() in body  # resolved against the page, not the javascript: base
    assert f'href="/web/{T1}/{SITE}after.html"'.encode() in body
    assert f'src="/web/{T1}im_/http://169.254.169.254/latest"'.encode() in body
    assert get(replay, "/healthz").status_code == 200


@pytest.mark.browser
def test_browser_renders_replay_under_the_sandbox(replay, page):
    """Chromium under the replay CSP: stylesheet and image load, the banner shows, and
    no request leaves the replay server."""
    requests_seen: list[str] = []
    page.on("request", lambda req: requests_seen.append(req.url))
    page.goto(f"{replay.base}/web/{T1}/{SITE}", wait_until="load")
    assert page.eval_on_selector("h1", "e => getComputedStyle(e).color") == "rgb(1, 2, 3)"
    assert page.eval_on_selector("img[alt='']", "e => e.naturalWidth") == 3
    assert page.is_visible("#refuge-banner")
    assert "2026-11-27 23:41 UTC" in page.inner_text("#refuge-banner")
    outside = [u for u in requests_seen if not u.startswith(replay.base) and not u.startswith("data:")]
    assert outside == [], outside
    assert page.evaluate("() => { try { return document.cookie, 'readable' } catch (e) { return 'opaque' } }") == "opaque"
