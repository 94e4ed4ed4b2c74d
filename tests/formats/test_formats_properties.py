"""Properties of the parsers of archived bytes, on generated input (hypothesis).

Archived pages and the URLs in them are hostile until proven otherwise: whatever they
hold, the URL functions and the rewriters return an answer (never raise), and the
rewriters change a document only where its links are.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from refuge.formats.css import css_urls, rewrite_css
from refuge.formats.html.policy import LinkFunction
from refuge.formats.html.rewriter import HtmlRewriter, rewrite_html
from refuge.formats.urls import canonical, join, surt_key

MARK = "\ue000"  # a private-use character: the policy puts it before every URL it rewrites

# -- URLs ---------------------------------------------------------------------------------

_HOSTS = st.sampled_from(["example.com", "EXAMPLE.com", "xn--m3c.example", "ព័ត៌មាន.example", "127.0.0.1",
                          "[::1]", "a.b.c.example"])
_PORTS = st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":x"])
_PATH_TEXT = st.text(st.sampled_from("abc/.%20%7e%7E%41%zz?&=#;ក្ម ~-_"), max_size=30)
_URLS = st.builds(lambda scheme, host, port, rest: f"{scheme}://{host}{port}/{rest}",
                  st.sampled_from(["http", "HTTP", "https", "ftp"]), _HOSTS, _PORTS, _PATH_TEXT)


@given(st.text(max_size=80))
def test_canonical_and_surt_keys_take_any_text(text: str) -> None:
    canonical(text)
    surt_key(text)


@given(_URLS)
def test_canonical_is_idempotent(url: str) -> None:
    once = canonical(url)
    assert canonical(once) == once


@given(_URLS, _URLS)
def test_urls_that_canonicalise_alike_have_one_surt_key(a: str, b: str) -> None:
    if a.startswith("http") and canonical(a) == canonical(b):
        assert surt_key(canonical(a)) == surt_key(canonical(b))


@given(_URLS, st.one_of(_PATH_TEXT, _URLS, st.text(max_size=40)))
def test_joining_any_link_gives_an_absolute_url_or_none(base: str, href: str) -> None:
    joined = join(base, href)
    assert joined is None or "://" in joined


# -- CSS ----------------------------------------------------------------------------------

_CSS_PIECES = st.sampled_from([
    "a{background:url(", "url(", ")", "'", '"', "img.png", " ", "@import ", ";", "}", "\\", "/*", "*/",
    "image-set(", "x.png 1x", ",", "\n", "ព", "url( 'q.png' )", "@import url(s.css);",
])
_CSS = st.lists(_CSS_PIECES, max_size=30).map("".join)


@given(st.one_of(_CSS, st.text(max_size=200)))
def test_css_is_changed_only_where_its_urls_are(text: str) -> None:
    new = rewrite_css(text, lambda url, kind: MARK + url)
    if MARK not in text:
        assert new.replace(MARK, "") == text or _requoted(text, new)
    assert rewrite_css(text, lambda url, kind: None) == text
    assert len(css_urls(text)) == new.count(MARK)


def _requoted(text: str, new: str) -> bool:
    # An unquoted url() whose new value needs quotes gets them (rewrite_css's contract).
    return new.replace(MARK, "").replace('"', "") == text.replace('"', "")


# -- HTML ---------------------------------------------------------------------------------

_HTML_PIECES = st.sampled_from([
    "<a href=", "<a href='", '<a href="', "x.html", "'", '"', ">", "</a>", "<img src=i.png srcset='a.png 1x, b.png 2x'>",
    "<style>", "</style>", "p{background:url(bg.png)}", "<script>", "</script>", "<!--", "-->", "<!doctype html>",
    "<base href=/b/>", "<meta http-equiv=refresh content='0;url=r.html'>", "<p style='background:url(s.png)'>",
    "<", "</", "&amp;", "&", "ព័ត៌មាន", " ", "\n", "<title>", "</title>", "<textarea>", "</textarea>",
    "<svg><a xlink:href=v.svg>", "<noscript>", "</noscript>", "<picture><source srcset=p.webp>", "<body>",
    "<iframe src=f.html>", "<link rel=stylesheet href=s.css integrity=sha256-x>", "<plaintext>",
])
_HTML = st.lists(_HTML_PIECES, max_size=40).map("".join)


class _KeepsIntegrity(LinkFunction):
    integrity_tags = frozenset()  # integrity= stays: these tests look only at where links are


@given(st.one_of(_HTML, st.text(max_size=300)))
def test_a_policy_that_changes_nothing_gives_back_the_document_exactly(doc: str) -> None:
    assert rewrite_html(doc, _KeepsIntegrity(lambda url, kind: None)) == doc


@given(_HTML)
def test_html_is_changed_only_where_its_links_are(doc: str) -> None:
    new = rewrite_html(doc, _KeepsIntegrity(lambda url, kind: MARK + url))
    # Take the marks out and what is left is the document, but for attribute values that were
    # written back with their character references and quotes made uniform.
    assert _unquoted(new.replace(MARK, "")) == _unquoted(doc)


def _unquoted(html: str) -> str:
    return html.replace('"', "").replace("'", "").replace("&amp;", "&").replace("&#39;", "").replace("&quot;", "")


@given(_HTML, st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_feeding_in_chunks_gives_the_same_document_as_whole(doc: str, cuts: list[int]) -> None:
    whole = rewrite_html(doc, lambda url, kind: MARK + url, banner="<b>B</b>")
    rewriter = HtmlRewriter(LinkFunction(lambda url, kind: MARK + url, "<b>B</b>"))
    out, pos = [], 0
    for size in cuts:
        out.append(rewriter.feed(doc[pos:pos + size]))
        pos += size
    out.append(rewriter.feed(doc[pos:]))
    out.append(rewriter.close())
    assert "".join(out) == whole
