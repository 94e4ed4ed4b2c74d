"""Rewriting of replayed documents: every link into the archive, CSS, base and refresh, the
banner, and byte-exactness apart from links and banner in UTF-8, legacy charsets and gzip."""

from __future__ import annotations

import re

import pytest

from replay_fixtures import (
    BANNER, FIXTURE, INDEX, KHMER, KM_PATH, SITE, T1, archived, get, links_of, without_urls,
)
from replay_fixtures import replay_fixture  # noqa: F401 - provides the `replay` fixture


# -- rewriting ---------------------------------------------------------------------------

def test_every_link_points_into_the_archive(replay):
    r = get(replay, f"/web/{T1}/{SITE}")
    body = r.text
    links = links_of(BANNER.sub(b"", r.content).decode())  # the banner links to the archive's own pages
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
    banner = BANNER.search(body).group(0)
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
