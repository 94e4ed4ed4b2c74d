"""The scanner's fast path (formats.html_scanner._Scanner.goahead) against the reference path.

With fast_path = False every character goes through CPython's HTMLParser.goahead, as the
scanner always did. The fast path steps over markup nobody patches with one regular
expression and reads clean tags itself; it must never change a byte of the output, nor
what feed() returns when, nor anything the callbacks see (rewrite calls, <base>, the
export's title), whatever the markup and however the document is cut into chunks.
"""

from __future__ import annotations

import random
from html.parser import HTMLParser
from pathlib import Path

import pytest

from refuge.formats.html import attrs as html_attrs
from refuge.formats.html.rewriter import HtmlRewriter
from refuge.formats.html.scanner import _Scanner
from refuge.formats.html.grammar import CLEAN_TAG
from refuge.formats.html.attrs import parse_attrs, parse_clean_attrs
from refuge.mirror.export.banner import banner, head_meta
from refuge.mirror.export.rewrite import ExportRewriter, Site

FIXTURES = Path(__file__).parent / "fixture_site"
PAGE_URL = "https://site.example/km/news/page.html"


def fixture_pages() -> dict[str, str]:
    pages = {}
    for path in sorted(FIXTURES.rglob("*.html")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        pages[path.relative_to(FIXTURES).as_posix()] = text
    return pages


HEAD = """<!DOCTYPE html>
<html lang="km"><head><meta charset="utf-8"><title>ព័ត៌មាន &amp; news</title>
<meta name="viewport" content="width=device-width">
<link rel="stylesheet" href="/static/site.css" integrity="sha384-x" crossorigin="anonymous">
<base href="https://site.example/km/">
<style>body { background: url(bg.png) } /* url(c.png) */</style>
<script src="/static/app.js" defer></script>
<script>var x = "<a href='js.html'>"; if (a<b && c>d) {}</script>
</head>
"""

BODY = """<body class="article">
<nav class="top"><ul><li><a href="/">Home</a></li><li class="active"><a href="../en/">EN</a></li></ul></nav>
<div class="hero" style="background:url('hero.jpg')" data-x='<a href="no.html">'>x</div>
<DIV CLASS=big STYLE="background: URL(big.png)">y</DIV><span Style=color:red>z</span>
<p data-style="url(no.png)" styles="x" title="style=url(no2.png)">t</p>
<p>Fish &amp chips &copy 2024 &#x1F600; &notanentity; & < > <3 a<b <-- x</p>
<a   HREF = 'a.html'   title="x>y"  >ok</a ><A href=b.html?x=1&amp;y=2>b</A>
<img src="i.png"/><br/><hr   /><img src=u.png/><img src=v.png /><p/>
<picture><source srcset="p.webp 1x, p2.webp 2x" type="image/webp"><img src="p.jpg" srcset="a.jpg 1x,b.jpg 2x"></picture>
<video poster="poster.jpg"><source src="v.webm"><track src="t.vtt"></video>
<!-- a comment with <a href="comment.html"> and <style>url(c.png)</style> inside -->
<!--> <a href="after-abrupt.html"> --> <!---> <a href=x.html> --!> <a href=y.html>
<?xml-stylesheet href="pi.css"?> <![CDATA[ <a href=cdata.html> ]]> <![ weird section >
<! bogus <a href=bogus.html> > </ notatag <a href=z.html>> </> </3 >
<noscript><img src="ns.png"></noscript><template><a href="tpl.html">t</a></template>
<textarea name=t><a href="ta.html"></textarea><xmp><a href="xmp.html"></xmp>
<iframe src="f.html"></iframe>
<form action="/search"><input type=image src=go.png><button formaction=/go>b</button></form>
<table background="t.gif"><tr><td background=td.gif>c</td></tr></table>
<meta http-equiv="refresh" content="0; url=/next.html">
<a href="https://other.example/x" ping="https://t.example/p">out</a>
<svg><image xlink:href="s.png"/><use href="#i"/></svg><svg:rect x=1/><o:p></o:p>
<custom-element some-attr="<img src=no.png>">c</custom-element>
<div a="x"b="y">q</div><div/ class=a>r</div><div a = "b">s</div><div a==b c>t</div>
<div\x0bclass=v>u</div><div class=\xa0w>v</div><div\x00 src=x>w</div><a<b href=c.html>
<script type="text/javascript">
  document.write("<a href='js2.html'>"); // </scr + ipt>
</script ><script>var s = "</SCRIPT  "</sCrIpT>
<style>p{background:URL( 'p.png' )}</style ><style media=print>q{}</STYLE>
<a href="last.html">last</a>
</body></html>
"""

SYNTHETIC = {
    "page": HEAD + BODY,
    "no head": BODY,
    "banner before head ends": "<html><head><title>t</title><div>early</div><link href=l.css rel=stylesheet></head>"
                               "<body><a href=a.html>a</a></body>",
    "noscript and template first": "<noscript><div>n</div></noscript><template><p>t</p></template>"
                                   "<span>s</span><a href=a.html>a</a>",
    "frameset": '<html><frameset cols="50%,50%"><frame src=a.html><frame src=b.html></frameset></html>',
    "self-closed script": '<head><script/><p>googletagmanager <a href="https://x.example/">x</a>'
                          "</script><div>after</div><a href=b.html>b</a>",
    "self-closed script, site's own": "<body><div>d</div><script/>var a = 1; <span>s</span></script><a href=c.html>",
    "self-closed title": "<head><title/>The <b>title</b> &amp; more</title><div>d</div><a href=t.html>t</a>",
    "self-closed style": "<body><div>d</div><style/>p{background:url(x.png)}<a href=s.html>s</a></style>",
    "unclosed style": "<p>x</p><div>d</div><style>a { background: url(a.png) }",
    "unclosed script": "<p>x</p><div>d</div><script>var a = '<a href=x>';",
    "unclosed comment": "<body><div>d</div><!-- <a href=a.html> <div>",
    "unclosed tag": '<body><div>d</div><a href="x.html" title="un',
    "unclosed tag 2": "<body><div>d</div><img src=x.png alt=",
    "unclosed end tag": "<body><div>d</div></div",
    "lone lt at end": "<body><div>d</div>a <",
    "entity at end": "<body><div>d</div>AT&T &amp",
    "uppercase": "<HTML><HEAD><TITLE>T</TITLE></HEAD><BODY BACKGROUND=bg.gif><A HREF=one.html>1</A>"
                 "<IMG SRC='two.png' ALT=x><DIV STYLE='background:url(d.png)'>d</DIV></BODY></HTML>",
    "nested media": "<body><div>d</div><video><picture><source src=a.jpg></picture><source src=b.webm></video>"
                    "<source src=c><audio><source srcset=d.ogg></audio>",
    "self-closed media": "<body><div>d</div><picture/><source src=a.jpg><video/><source srcset=b.jpg>"
                         "<audio/><source src=c.ogg><picture><source src=d.jpg><picture/></picture><source src=e>",
    "self-closed noscript first": "<noscript/><template/><div>d</div><a href=a.html>a</a>",
    "base later": "<body><div>d</div><a href=a.html>a</a><base href=/b/><a href=b.html>b</a><base href=/c/>",
    "text only": "just text & more &amp; text",
    "empty": "",
    "link before body": '<html><head><meta charset="utf-8"><link rel="stylesheet" href="/static/site.css">'
                        '<meta http-equiv="refresh" content="5; url=next.html"><a href="a.html">early</a>'
                        '<link rel=icon href=i.png></head><body><a href="a.html">a</a>'
                        '<link rel="stylesheet" href="/static/site.css"><img src=x.png></body>',
    "head then media": '<head><meta name=x><link rel=stylesheet href=s.css></head><video><source src=v.webm>'
                       '<link rel=stylesheet href=s.css></video><source src=v.webm><body><img src=x.png>',
}

FUZZ_TOKENS = [
    "<a href=x>", "<", ">", "&", "&amp", "&amp;", "&#x41;", "&section=", "<!--", "-->", "<!-->", "--!>",
    "<![", "]]>", "<![CDATA[", "<!D", "<!DOCTYPE", "<?", "</", "</a ", "<style>", "</style>", "</style",
    "<style/>", "<script>", "</script>", "<script/>", "<sc", "ript>", "</scrip", "t>", "<title>", "</title>",
    "<title/>", "<textarea>", "</textarea>", "'", '"', "=", " ", "\n", "\r\n", "\t", "x", "ក", "url(", ")",
    "/*", "*/", "<body>", "<br/>", "<div>", "</div>", "<div class=a>", '<div class="x>y">', "<span>", "</span>",
    "<p>", "</p>", "<DIV>", "</DIV>", "<li class='a b'>", "<div style=color:red>", "<div data-style=x>",
    "<img src='y.png' srcset='a 1x, b 2x'>", "<img\nsrc=z>", "<A HREF=Y>", "<a", " href", "<a href='x",
    '<p style="background:url(q.png)">', "<meta http-equiv=refresh content='0;url=r'>", "<base href=b/>",
    "<svg>", "</svg>", "<noscript>", "</noscript>", "<template>", "</template>", "<frameset>", "<picture>",
    "</picture>", "<source src=s>", "<video>", "</video>", "<head>", "<html>", "googletagmanager",
    "https://t.example/", "<div a = b>", "<div/>", "<x-y z=1/>", "\x0b", "\xa0", "\x00", "<3", "< b",
]


def fuzz_docs(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(FUZZ_TOKENS) for _ in range(rnd.randint(1, 60))) for _ in range(count)]


def mark(url: str, kind: str) -> str:
    return f"/M/{kind}/{url}"


def run(make, doc: str, chunk: int, fast: bool) -> tuple:
    """Everything observable: what each feed() and close() returned, the rewrite calls with
    the base each saw, the last base, (for the export) the title, and the parser's position."""
    calls: list[tuple[str, str, str | None]] = []
    rewriter = make(calls)
    rewriter.fast_path = fast
    pieces = [doc[i:i + chunk] for i in range(0, len(doc), chunk)] if chunk else [doc]
    outs = [rewriter.feed(piece) for piece in pieces]
    outs.append(rewriter.close())
    return outs, calls, rewriter.base, getattr(rewriter, "title", None), rewriter.getpos()


def html_rewriter(banner_html: str | None):
    def make(calls):
        rewriter: HtmlRewriter

        def rewrite(url: str, kind: str) -> str:
            calls.append((url, kind, rewriter.base))
            return mark(url, kind)
        rewriter = HtmlRewriter(rewrite, banner_html)
        return rewriter
    return make


def export_rewriter(calls):
    captured = {"https://site.example/km/news/a.html", "https://site.example/static/site.css",
                "https://site.example/static/app.js", "https://site.example/km/i.png",
                "https://site.example/km/hero.jpg", "https://site.example/km/bg.png"}

    def lookup(url: str) -> str | None:
        calls.append((url, "lookup", None))
        return url.split("//", 1)[1] if url in captured or url.endswith(".html") else None
    path = "site.example/km/news/page.html"
    return ExportRewriter(PAGE_URL, path, lookup, Site("https://site.example/"), head_meta("utf-8"),
                          banner(PAGE_URL, "20240601000000", path))


MAKERS = {"banner": html_rewriter("[B]"), "no banner": html_rewriter(None), "export": export_rewriter}
CORPUS = {**{f"fixture {k}": v for k, v in fixture_pages().items()}, **SYNTHETIC}


def assert_same(make, doc: str, chunk: int) -> None:
    assert run(make, doc, chunk, True) == run(make, doc, chunk, False), chunk


def test_corpus_has_the_fixture_site() -> None:
    assert "fixture hostile.html" in CORPUS and len(fixture_pages()) > 10


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize("name", CORPUS)
def test_fast_path_matches_reference(name: str, maker: str) -> None:
    doc = CORPUS[name]
    for chunk in (0, 1, 7, 64):
        assert_same(MAKERS[maker], doc, chunk)


@pytest.mark.parametrize("maker", MAKERS)
def test_fast_path_matches_reference_on_random_markup(maker: str) -> None:
    rnd = random.Random(11)
    for doc in fuzz_docs(400, 5):
        assert_same(MAKERS[maker], doc, 0)
        assert_same(MAKERS[maker], doc, rnd.choice((1, 2, 3, 5, 7, 13, 64)))


@pytest.mark.parametrize("maker", MAKERS)
def test_fast_path_matches_reference_at_random_cuts(maker: str) -> None:
    doc = SYNTHETIC["page"]
    rnd = random.Random(3)
    for _ in range(60):
        cuts = sorted(rnd.sample(range(1, len(doc)), rnd.randint(1, 40)))
        results = []
        for fast in (False, True):
            calls: list = []
            rewriter = MAKERS[maker](calls)
            rewriter.fast_path = fast
            prev, outs = 0, []
            for cut in cuts + [len(doc)]:
                outs.append(rewriter.feed(doc[prev:cut]))
                prev = cut
            outs.append(rewriter.close())
            results.append((outs, calls, getattr(rewriter, "title", None)))
        assert results[0] == results[1], cuts


def test_fast_path_steps_over_tags_nobody_patches() -> None:
    # Guards the speed: <div>, <span>, </p>, <li> and text reach no callback once the banner
    # is placed; <a>, <img> and a style attribute still do.
    seen: list[str] = []

    class Counting(HtmlRewriter):
        def _tag(self, tag, at, text, attrs):
            seen.append(tag)
            super()._tag(tag, at, text, attrs)

    doc = ("<html><head><title>t</title></head><body><div class=a><ul><li><span>x</span></li></ul>"
           "<p>text <a href=a.html>a</a> <img src=i.png> <em>e</em></p><div style=color:red>s</div></div></body>")
    r = Counting(lambda u, k: None, "[B]")
    assert r.feed(doc) + r.close() == doc.replace("<body>", "<body>[B]")
    assert seen == ["html", "head", "title", "body", "a", "img", "div"]
    seen.clear()
    r = Counting(lambda u, k: None, "[B]")
    r.fast_path = False
    assert r.feed(doc) + r.close() == doc.replace("<body>", "<body>[B]")
    assert seen == ["html", "head", "title", "body", "div", "ul", "li", "span", "p", "a", "img", "em", "div"]


def test_skipped_tags_are_the_ones_without_callbacks() -> None:
    # A subclass that handles more tags says so, and then sees them.
    class Extra(_Scanner):
        SEEN_START = _Scanner.SEEN_START | {"span"}

        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []

        def _tag(self, tag, at, text, attrs):
            self.tags.append(tag)

    s = Extra()
    s.feed("<p>a</p><div><span>b</span><b>c</b></div>")
    s.close()
    assert s.tags == ["p", "span"]  # <p> begins the document: the first tags are always seen


# -- the clean tag grammar ------------------------------------------------------------------

def random_clean_tag(rnd: random.Random) -> str:
    parts = ["<", rnd.choice(["div", "a", "IMG", "x-y", "svg:rect", "h1", "p", "Td", "o:p", "base", "LINK"])]
    for _ in range(rnd.randint(0, 4)):
        parts.append(rnd.choice([" ", "\n", "\t ", "\r\n", "\f", "  "]))
        parts.append(rnd.choice(["class", "href", "data-x", "STYLE", "src", "@click", ":bind", "x.y", "a_b", "-z",
                                 "srcset", "Rel", "integrity", "[x]", "style"]))
        v = rnd.random()
        if v < 0.3:
            parts.append('="' + rnd.choice(["", "a>b", "x y", "'", "<a href=q>", "&amp;", "a\nb", "/>"]) + '"')
        elif v < 0.5:
            parts.append("='" + rnd.choice(["", "a>b", '"', "x", "&lt;"]) + "'")
        elif v < 0.8:
            parts.append("=" + rnd.choice(["x", "a/b", "/", "a=b", "x'y", 'x"y', "&amp;", "1%", "//", "u.png/"]))
    parts.append(rnd.choice(["", " ", "\n"]))
    parts.append(rnd.choice([">", "/>"]))
    return "".join(parts)


class Recorder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.events.append((tag, [name for name, _ in attrs], self.get_starttag_text(), False))

    def handle_startendtag(self, tag, attrs):
        self.events.append((tag, [name for name, _ in attrs], self.get_starttag_text(), True))

    def handle_data(self, data):
        self.events.append(data)


def test_clean_tags_are_read_by_html_parser_as_the_fast_path_reads_them() -> None:
    # The running html.parser must agree on the tag's extent, name, '/>' and attribute names.
    rnd = random.Random(1)
    for _ in range(3000):
        text = random_clean_tag(rnd)
        m = CLEAN_TAG.match(text)
        assert m is not None and m.end() == len(text), text
        parser = Recorder()
        parser.feed(text + "z")
        parser.close()
        names = [a.group(1).lower() for a in html_attrs._CLEAN_ATTR.finditer(text)]
        assert parser.events == [(m.group(1).lower(), names, text, m.group(2) == "/"), "z"], text
        assert [vars_of(a) for a in parse_clean_attrs(text)] == [vars_of(a) for a in parse_attrs(text)], text


def vars_of(attr: html_attrs.Attr) -> tuple:
    return tuple(getattr(attr, slot) for slot in html_attrs.Attr.__slots__)


@pytest.mark.parametrize("text", [
    "<div a = b>", "<div/ a>", '<div a="x"b>', "<div\x0bclass=a>", "<div class=\xa0>", "<div\x00>",
    "<a href=x", "<a href='x>", "<div a=>", "<div =a>", "<a<b>", "<div \u3000a>", "<ſcript>",
])
def test_unclean_tags_are_left_to_html_parser(text: str) -> None:
    m = CLEAN_TAG.match(text)
    assert m is None or m.end() < len(text), text


def test_clean_attributes_are_read_as_parse_attrs_reads_them() -> None:
    count = 0
    for doc in list(CORPUS.values()) + fuzz_docs(200, 8):
        for m in CLEAN_TAG.finditer(doc):
            text = m.group(0)
            assert [vars_of(a) for a in parse_clean_attrs(text)] == [vars_of(a) for a in parse_attrs(text)], text
            count += 1
    assert count > 1000


def test_long_tags_are_not_remembered() -> None:
    text = '<img src="data:image/png;base64,' + "A" * 100_000 + '">'
    assert [a.name for a in parse_clean_attrs(text)] == ["src"]
    assert text not in html_attrs._CLEAN_CACHE
    short = '<img src="/i.png" alt=x>'
    assert parse_clean_attrs(short) is parse_clean_attrs(short)


@pytest.mark.parametrize("chunk", [0, 7])
def test_export_pages_sharing_a_site_come_out_as_alone(chunk: int) -> None:
    """An export's pages share what was rewritten (Site's caches, the scanner's known tags):
    each page comes out as if it were exported alone, whatever came before it."""
    docs = list(CORPUS.values()) + fuzz_docs(120, 8)
    rnd = random.Random(5)
    shared = Site("https://site.example/")
    for doc in rnd.sample(docs, len(docs)) * 2:  # twice: the second time, what is shared is warm
        outs = []
        for site in (shared, Site("https://site.example/")):
            path = "site.example/km/news/page.html"
            rewriter = ExportRewriter(PAGE_URL, path, lambda url: url.split("//", 1)[1], site, head_meta("utf-8"),
                                      banner(PAGE_URL, "20240601000000", path))
            pieces = [doc[i:i + chunk] for i in range(0, len(doc), chunk)] if chunk else [doc]
            outs.append("".join(rewriter.feed(p) for p in pieces) + rewriter.close())
        assert outs[0] == outs[1], doc
