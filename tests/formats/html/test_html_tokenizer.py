"""The HTML tokenizer (formats.html.tokenizer): it reads tags as a browser does, and its fast
path (one regular expression steps over what nobody rewrites) reads exactly what reading
token by token reads.

Two references: skip=False, where every token goes through the tokenizer's own per-token
code, for the rewriter's whole output (every feed() answer, every policy call, the base and
the title); and Lexbor (through selectolax, the crawler's HTML-standard parser in C) for the
tags and attributes a browser builds from random markup.
"""

from __future__ import annotations

import random
import re
from html import unescape

import pytest
from html_corpus import CORPUS, FUZZ_TOKENS, PAGE_URL, SYNTHETIC, fuzz_docs
from selectolax.lexbor import LexborHTMLParser

from refuge.formats.html.attrs import parse_attrs
from refuge.formats.html.policy import LinkFunction
from refuge.formats.html.rewriter import ENDS, STARTS, HtmlRewriter, rewrite_html
from refuge.formats.html.tokenizer import PENDING_LIMIT, Tokenizer
from refuge.mirror.export.banner import banner, head_meta
from refuge.mirror.export.policy import ExportPolicy
from refuge.mirror.export.site import Site
from refuge.mirror.replay.policy import ReplayPolicy


def mark(url: str, kind: str) -> str:
    return f"/M/{kind}/{url}"


class Recording(LinkFunction):
    """LinkFunction(mark) that records each call with the base it was made under."""

    def __init__(self, banner_html: str | None) -> None:
        super().__init__(mark, banner_html)
        self.calls: list[tuple] = []
        self.base: str | None = None

    def set_base(self, href: str) -> None:
        self.base = href

    def link(self, url: str, kind: str, tag: str, attr: str):
        self.calls.append((url, kind, tag, attr, self.base))
        return mark(url, kind)

    def css_link(self, url: str, kind: str):
        self.calls.append((url, kind, self.base))
        return mark(url, kind)


class RecordingExport(ExportPolicy):
    def __init__(self) -> None:
        captured = {"https://site.example/km/news/a.html", "https://site.example/static/site.css",
                    "https://site.example/static/app.js", "https://site.example/km/i.png",
                    "https://site.example/km/hero.jpg", "https://site.example/km/bg.png"}
        self.calls: list[str] = []

        def lookup(url: str) -> str | None:
            self.calls.append(url)
            return url.split("//", 1)[1] if url in captured or url.endswith(".html") else None
        path = "site.example/km/news/page.html"
        super().__init__(PAGE_URL, path, lookup, Site("https://site.example/"), head_meta("utf-8"),
                         banner(PAGE_URL, "20240601000000", path))


class RecordingReplay(ReplayPolicy):
    def __init__(self) -> None:
        super().__init__("20240601000000", PAGE_URL, banner="[B]")
        self.calls: list[tuple] = []

    def __call__(self, url: str, kind: str):
        self.calls.append((url, kind, self.base))
        return super().__call__(url, kind)


POLICIES = {"banner": lambda: Recording("[B]"), "no banner": lambda: Recording(None), "export": RecordingExport,
            "replay": RecordingReplay}


def run(policy_name: str, doc: str, cuts: list[int], skip: bool) -> tuple:
    """Everything observable: what each feed() and close() returned, the policy's calls, the
    base and the title."""
    policy = POLICIES[policy_name]()
    rewriter = HtmlRewriter(policy, skip=skip)
    outs, prev = [], 0
    for cut in cuts + [len(doc)]:
        outs.append(rewriter.feed(doc[prev:cut]))
        prev = cut
    outs.append(rewriter.close())
    return outs, policy.calls, rewriter.base, rewriter.title


def chunked(doc: str, size: int) -> list[int]:
    return list(range(size, len(doc), size)) if size else []


def assert_same(policy_name: str, doc: str, cuts: list[int]) -> None:
    fast, slow = run(policy_name, doc, cuts, True), run(policy_name, doc, cuts, False)
    assert fast == slow, cuts
    assert "".join(fast[0]) == "".join(run(policy_name, doc, [], False)[0])  # however it is cut


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", CORPUS)
def test_skipping_reads_what_reading_every_token_reads(name: str, policy: str) -> None:
    doc = CORPUS[name]
    for size in (0, 1, 7, 64):
        assert_same(policy, doc, chunked(doc, size))


@pytest.mark.parametrize("policy", POLICIES)
def test_skipping_reads_what_reading_every_token_reads_on_random_markup(policy: str) -> None:
    rnd = random.Random(11)
    for doc in fuzz_docs(400, 5):
        assert_same(policy, doc, [])
        assert_same(policy, doc, sorted(rnd.sample(range(len(doc) + 1), min(len(doc), rnd.randint(1, 8)))))


@pytest.mark.parametrize("policy", POLICIES)
def test_skipping_reads_what_reading_every_token_reads_at_random_cuts(policy: str) -> None:
    doc = SYNTHETIC["page"]
    rnd = random.Random(3)
    for _ in range(60):
        assert_same(policy, doc, sorted(rnd.sample(range(1, len(doc)), rnd.randint(1, 40))))


class Events:
    def __init__(self, every: bool = False) -> None:
        self.events: list[tuple] = []
        self.every = every

    def start_tag(self, name: str, at: int, text: str) -> None:
        self.events.append(("start", name, at, text))

    def end_tag(self, name: str, at: int, end: int) -> None:
        self.events.append(("end", name, at, end))

    def raw_text(self, name: str, start: int, text: str, ended: bool) -> None:
        self.events.append(("text", name, start, text, ended))


def tokens(doc: str, every: bool = False, skip: bool = True, texts=frozenset({"style", "title", "script"})) -> list:
    handler = Events()
    tokenizer = Tokenizer(handler, STARTS, ENDS, texts, skip=skip)
    tokenizer.every_start = every
    tokenizer.feed(doc)
    tokenizer.close()
    return handler.events


def test_tags_nobody_rewrites_are_stepped_over() -> None:
    # Guards the speed: once the head and banner are placed, <div>, <span>, </p>, <li> and text
    # reach no handler; <a>, <img> and a style attribute do.
    doc = ("<html><head><title>t</title></head><body><div class=a><ul><li><span>x</span></li></ul>"
           "<p>text <a href=a.html>a</a> <img src=i.png> <em>e</em></p><div style=color:red>s</div></div></body>")
    starts = [e[1] for e in tokens(doc) if e[0] == "start"]
    assert starts == ["html", "head", "title", "body", "a", "img", "div"]
    assert [e[1] for e in tokens(doc, every=True) if e[0] == "start"] == [
        "html", "head", "title", "body", "div", "ul", "li", "span", "p", "a", "img", "em", "div"]


# -- reading as a browser reads ----------------------------------------------------------------

@pytest.mark.parametrize("doc, links", [
    # A comment ends at '-->' or '--!>'; '<!-->' and '<!--->' end at once.
    ("<!-- <a href=c.html> --!> <a href=d.html>", ["d.html"]),
    ("<!--> <a href=e.html> -->", ["e.html"]),
    ("<!---> <a href=f.html>", ["f.html"]),
    ("<!--!> <a href=g.html> -->", []),
    # Script data escapes: in '<!-- <script>', '</script>' does not end the script.
    ("<script><!-- <script>x</script> <a href='in.html'> --></script><a href=out.html>", ["out.html"]),
    ("<script><!-- x --></script><a href=after.html>", ["after.html"]),
    ("<script>a</script foo='>'><a href=x.html>", ["x.html"]),
    ("<SCRIPT>a</sCrIpT\n><a href=y.html>", ["y.html"]),
    ("<script>a</scripts><a href=no.html></script>", []),
    # A self-closing flag on <title>, <script> or <style> is ignored: the text is still text.
    ("<title/>The <a href=t.html>x</a></title><a href=u.html>", ["u.html"]),
    ("<script/><a href=s.html></script><a href=v.html>", ["v.html"]),
    # RAWTEXT and RCDATA elements, and <plaintext> to the end.
    ("<textarea><a href=no.html></textarea><xmp><a href=no2.html></xmp><iframe><a href=no3.html></iframe>"
     "<noembed><a href=no4.html></noembed><noframes><a href=no5.html></noframes><a href=w.html>", ["w.html"]),
    ("<plaintext><a href=no.html></plaintext><a href=no2.html>", []),
    # Attributes: a quote cannot start an unquoted value; a value may follow spaces; '=' may
    # start a name; a quoted value the document ends inside drops the tag.
    ("<a href='x.html' title=\"a>b\"><img src=y.png alt='q'z>", ["x.html", "y.png"]),
    ("<a href = z.html>", ["z.html"]),
    ('<a =x href=q.html>', ["q.html"]),
    ("<a href='never closed.html>", []),
    # '<' that starts no tag is text; '</ x>' is a bogus comment; '</>' nothing.
    ("a < b <3 </ x <a href=no.html>> </> <a href=yes.html>", ["yes.html"]),
    ("<!DOCTYPE html><?xml x?><![CDATA[ <a href=no.html> ]]><a href=cd.html>", ["cd.html"]),
    # Only ASCII letters make names: 'ſ' is not 's', U+00A0 is not white space.
    ("<ſcript><a href=a.html></ſcript><a\xa0href=b.html><a href=c.html>", ["a.html", "c.html"]),
])
def test_markup_is_read_as_the_html_standard_reads_it(doc: str, links: list[str]) -> None:
    seen: list[str] = []
    rewrite_html(doc, lambda url, kind: seen.append(url))
    assert seen == links
    assert seen == [u for u in lexbor_links(doc)]


def lexbor_links(doc: str) -> list[str]:
    tree = LexborHTMLParser(doc)
    return [n.attributes["href"] or "" for n in tree.root.traverse() if n.tag in ("a",) and "href" in n.attributes] + \
        [n.attributes["src"] or "" for n in tree.root.traverse() if n.tag == "img" and "src" in n.attributes]


# The tree builder adds, drops, renames or moves elements for some tags (tables, forms, select,
# frames, <image>, <br> end tags, foreign content, template contents, noscript with scripting
# on); random markup made of the others must give the elements a browser builds.
BROWSER_TOKENS = [
    "<a href=x>", "<a href='y z'>", '<a href="q>r">', "<a href=u v=w>", "<img src=i.png alt='a>b'>",
    "<div class=a>", "</div>", "<p>", "</p>", "<span title=\"t\">", "</span>", "<em>", "</em>", "<li class=c>",
    "<link rel=stylesheet href=s.css>", "<meta content=\"0;url=r\" http-equiv=refresh>", "<style>",
    "</style>", "<script>", "</script>", "<script src=j.js>", "<title>", "</title>", "<textarea>",
    "</textarea>", "<xmp>", "</xmp>", "<iframe src=f.html>", "</iframe>", "<!--", "-->", "--!>", "<!-->",
    "<!DOCTYPE html>", "<?pi x?>", "<![CDATA[", "]]>", "</ x>", "</>", "<", ">", "'", '"', "=", " ", "\n",
    "\r\n", "\t", "\f", "/", "x", "&amp;", "&copy=1", "&lt;", "<a", " href", "=", "y.html", "<img", " src",
    "<b id=b1>", "</b>", "<DIV ID=D>", "<a/b=c>", "<a b='c'd=e>", "<p =x>", "<a href==x>", "<!-- <a href=n> -->",
    "<h1 id=h>", "</h1>", "<video poster=p.jpg>", "</video>", "<source src=v.webm>", "<picture>", "</picture>",
    "<a href=&quot;x&quot;>", "<img src=\"a&#x41;.png\">", "\x00", "<a title=\xa0>", "<ſtyle>", "<a ſtyle=1>",
    "<script><!--", "<script>", "</script>", "<noembed>", "</noembed>", "<plaintext>",
]
_IMPLIED = frozenset({"html", "head", "body"})


def our_elements(doc: str) -> set[tuple]:
    found = set()
    for event in tokens(doc, every=True):
        if event[0] == "start" and event[1] not in _IMPLIED:
            attrs: dict[str, str] = {}
            for a in parse_attrs(event[3], every=True):
                attrs.setdefault(a.name, a.value)  # the first of a repeated attribute counts
            if attrs:
                found.add((event[1], tuple(sorted(attrs.items()))))
    return found


def lexbor_elements(doc: str) -> set[tuple]:
    found = set()
    for node in LexborHTMLParser(doc).root.traverse():
        if node.tag and node.tag not in _IMPLIED and not node.tag.startswith("-") and node.attributes:
            found.add((node.tag, tuple(sorted((k, v or "") for k, v in node.attributes.items()))))
    return found


def test_random_markup_gives_the_elements_a_browser_builds() -> None:
    rnd = random.Random(7)
    checked = 0
    for _ in range(3000):
        doc = "".join(rnd.choice(BROWSER_TOKENS) for _ in range(rnd.randint(1, 30)))
        if "\x00" in doc:  # the tree builder drops NUL from names and values; the bytes stay here
            continue
        assert our_elements(doc) == lexbor_elements(doc), doc
        checked += 1
    assert checked > 2000


# -- chunks, and markup left open ------------------------------------------------------------

def test_raw_text_nobody_reads_streams_through() -> None:
    # A <script> in replay: its text is not needed, so output flows before its end tag.
    r = HtmlRewriter(LinkFunction(mark))
    out = r.feed("<p>x</p><script>" + "var a = 1;\n" * 10_000)
    assert len(out) > 100_000
    assert out + r.feed("</script><a href=a.html>") + r.close() == (
        "<p>x</p><script>" + "var a = 1;\n" * 10_000 + "</script><a href=/M/page/a.html>")


def test_a_tag_open_past_the_limit_is_given_up_on() -> None:
    doc = "<a href=a.html>" + "<div " * (PENDING_LIMIT // 5 + 1000) + "<a href=b.html>"
    r = HtmlRewriter(LinkFunction(mark))
    out = "".join(r.feed(doc[i:i + 65536]) for i in range(0, len(doc), 65536)) + r.close()
    assert out == doc.replace("a.html", "/M/page/a.html")  # read up to the open tag, copied after


def test_titles_are_the_first_that_is_not_empty() -> None:
    for doc, title in [("<title> A \n &amp; B </title><title>C</title>", "A &amp; B"),
                       ("<title> </title><title>C</title>", "C"), ("<title>unclosed", "unclosed")]:
        r = HtmlRewriter(RecordingExport())
        r.feed(doc)
        r.close()
        assert r.title == title
        assert unescape(r.title) == unescape(title)


def test_every_tag_reported_has_its_exact_text_at_its_position() -> None:
    for doc in list(CORPUS.values()) + fuzz_docs(300, 9):
        for event in tokens(doc, every=True):
            if event[0] == "start":
                assert doc[event[2]:event[2] + len(event[3])] == event[3]
                assert re.fullmatch(r"<[a-zA-Z][\s\S]*>", event[3])
            elif event[0] == "text":
                assert doc[event[2]:event[2] + len(event[3])] == event[3]
            else:
                assert doc[event[2]:event[3]].startswith("</")


def test_fuzz_tokens_cover_the_hard_cases() -> None:
    assert {"<!--", "--!>", "<script/>", "<title/>", "</", "\r\n"} <= set(FUZZ_TOKENS)
