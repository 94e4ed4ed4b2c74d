"""Stylesheets: which URLs a crawler must fetch, and rewriting them without touching the rest."""

from __future__ import annotations

import pytest

from refuge.formats.css import css_urls, rewrite_css

SHEET = """@charset "utf-8";
@import url("/static/reset.css");
@import 'print.css' print;
@IMPORT /* before */ url( theme.css ) screen;
@namespace svg url(http://www.w3.org/2000/svg);
/* url(commented.png) and @import "commented.css"; */
body {
  font-family: "Noto Sans Khmer", "Khmer OS", sans-serif;
  background: #faf8f0 url("../img/bg.png") repeat;
}
.hero { background-image: URL( 'hero.jpg' ); }
.icon { background: url(icons/a.svg#x) no-repeat, url(data:image/gif;base64,R0lGOD==); }
.quote::before { content: "url(not-a-link.png)"; }
.blur { filter: url(#soft); }
.empty { background: url(); }
.hd { background-image: -webkit-image-set("bg-1x.png" 1x, url(bg-2x.png) 2x); }
@font-face { font-family: Khmer; src: local("Khmer OS"), url('/fonts/khmer.woff2') format("woff2"); }
.myurl { --x: myurl(nope.png); }
"""


def test_css_urls_in_order_with_kinds() -> None:
    assert css_urls(SHEET) == [
        ("/static/reset.css", "style"),
        ("print.css", "style"),
        ("theme.css", "style"),
        ("../img/bg.png", "image"),
        ("hero.jpg", "image"),
        ("icons/a.svg#x", "image"),
        ("bg-1x.png", "image"),
        ("bg-2x.png", "image"),
        ("/fonts/khmer.woff2", "image"),
    ]


@pytest.mark.parametrize("css, expected", [
    ('@import "a.css";', [("a.css", "style")]),
    ("@import 'a.css';", [("a.css", "style")]),
    ("@import url(a.css);", [("a.css", "style")]),
    ('@import url("a.css") screen;', [("a.css", "style")]),
    ("a{b:url(x.png)}", [("x.png", "image")]),
    ("a{b:url('x.png')}", [("x.png", "image")]),
    ('a{b:url("x y.png")}', [("x y.png", "image")]),
    ("a{b:url(\n  x.png\t)}", [("x.png", "image")]),
    ("a{b:url(x\\(1\\).png)}", [("x\\(1\\).png", "image")]),  # escapes left as written
    ("/* url(x.png) */", []),
    ("/* unterminated url(x.png)", []),
    ('a{content:"url(x.png)"}', []),
    ("a{b:url(data:image/png;base64,AAAA)}", []),
    ("a{b:url( )}", []),
    ("a{b:url('')}", []),
])
def test_css_url_forms(css: str, expected: list[tuple[str, str]]) -> None:
    assert css_urls(css) == expected


def test_rewrite_css_replaces_only_urls_and_keeps_quoting() -> None:
    out = rewrite_css(SHEET, lambda url, kind: f"/m/{kind}/{url}")
    expected = (SHEET
                .replace('url("/static/reset.css")', 'url("/m/style//static/reset.css")')
                .replace("'print.css'", "'/m/style/print.css'")
                .replace("url( theme.css )", "url( /m/style/theme.css )")
                .replace('url("../img/bg.png")', 'url("/m/image/../img/bg.png")')
                .replace("URL( 'hero.jpg' )", "URL( '/m/image/hero.jpg' )")
                .replace("url(icons/a.svg#x)", "url(/m/image/icons/a.svg#x)")
                .replace('"bg-1x.png" 1x', '"/m/image/bg-1x.png" 1x')
                .replace("url(bg-2x.png)", "url(/m/image/bg-2x.png)")
                .replace("url('/fonts/khmer.woff2')", "url('/m/image//fonts/khmer.woff2')"))
    assert out == expected


def test_rewrite_css_none_means_unchanged_and_skipped_urls_are_not_offered() -> None:
    seen: list[str] = []

    def keep(url: str, kind: str) -> None:
        seen.append(url)
        return None

    assert rewrite_css(SHEET, keep) == SHEET
    assert seen == [url for url, _ in css_urls(SHEET)]
    assert not any(u.startswith(("data:", "#")) or "commented" in u for u in seen)


def test_rewrite_css_quotes_values_that_need_it() -> None:
    assert rewrite_css("a{b:url(x.png)}", lambda u, k: "/a b/(x).png") == 'a{b:url("/a b/(x).png")}'
    assert rewrite_css("a{b:url(x.png)}", lambda u, k: 'q"x') == 'a{b:url("q\\"x")}'
    assert rewrite_css("a{b:url('x.png')}", lambda u, k: "it's") == "a{b:url('it\\'s')}"
    assert rewrite_css('@import "x.css";', lambda u, k: 'say "hi".css') == '@import "say \\"hi\\".css";'
    # A value that needs no quotes stays unquoted.
    assert rewrite_css("a{b:url(x.png)}", lambda u, k: "/y.png") == "a{b:url(/y.png)}"


def test_rewrite_css_khmer_untouched() -> None:
    css = '.k::after { content: "ព័ត៌មានពីកម្ពុជា"; background: url(ក.png) }'
    assert rewrite_css(css, lambda u, k: "/m/" + u) == css.replace("url(ក.png)", "url(/m/ក.png)")
