"""A page's title, readable text and language, for search (a WACZ package's pages.jsonl, the
export's offline search, the catalog's search index).

Parsed with Lexbor (selectolax), as the crawler's link extraction is: the tree a browser
would build. The text is what a reader sees: script, style, noscript and template contents
are dropped; runs of whitespace become one space. Nothing else is changed (Khmer, which
separates words with zero-width spaces rather than spaces, is kept exactly as written).

page_text() is for pages that may be hostile: before parsing, the markup is cut short
(bounded) where a tree builder's worst cases begin. Lexbor's time grows with the square of
an element's depth (``<div>`` or ``<li>`` opened again and again) and of one element's
attribute count; a page is cut before its MAX_TAGS-th tag and before a tag with more than
MAX_ATTRIBUTES attributes, which keeps any page's parse to a fraction of a second while no
ordinary page comes near either limit. Its language: the ``<html lang>`` it declares, unless
most of its letters are Khmer (page_lang).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from selectolax.lexbor import LexborHTMLParser

HIDDEN = ["script", "style", "noscript", "template"]
TITLE_CHARS = 1000
# What repeats on every page of a site (navigation, headers, footers, side bars): left out of
# page_text's text by callers that index pages, so that a site's menu does not match every search.
BOILERPLATE = ("nav", "header", "footer", "aside", "[role=navigation]", "[role=banner]", "[role=contentinfo]")
MAX_TAGS = 8000
MAX_ATTRIBUTES = 1000
LONG_TAG = 4000  # a tag at least this long has its attributes counted
KHMER_SHARE = 0.5  # of a page's letters, for page_lang to call it Khmer whatever it declares
LANG_SAMPLE = 4000  # characters of text page_lang counts letters in

_LONG_TAG = re.compile(r"<[A-Za-z][^<>]{%d,}" % LONG_TAG)  # a start tag: "<" then its name
# A quoted attribute value (after its "="), which may hold anything: a data: URL, JSON.
_QUOTED_VALUE = re.compile(r"""=[\t\n\f\r ]*(?:"[^"]*"|'[^']*')""")
# What separates attributes: the tokenizer takes "/" as it takes a space.
_ATTR_GAP = re.compile(r"[\t\n\f\r /]+")
_KHMER = re.compile("[\u1780-\u17ff\u19e0-\u19ff]")
_LATIN = re.compile("[A-Za-z\u00c0-\u024f]")


class PageText(NamedTuple):
    title: str
    text: str
    lang: str  # "km", "en" or "" (another language, or none can be told)


def page_text(html: str, max_chars: int, drop: Sequence[str] = BOILERPLATE) -> PageText:
    """The first <title> of the page's markup as bounded() leaves it (at most TITLE_CHARS),
    its body's text (at most MAX_CHARS, whitespace collapsed; "" for what it does not have)
    and its language. DROP: CSS selectors of elements left out of the text with all they
    hold (by default a site's furniture, BOILERPLATE)."""
    title, text, declared = _read(_parse(bounded(html)), max_chars, drop)
    return PageText(title, text, page_lang(declared, text))


def bounded(html: str) -> str:
    """HTML cut before its MAX_TAGS-th tag and before any tag with more than MAX_ATTRIBUTES
    attributes (see the module's docstring); most pages come back as they were."""
    if html.count("<") > MAX_TAGS:
        cut = -1
        for _ in range(MAX_TAGS):
            cut = html.find("<", cut + 1)
        html = html[:cut]
    for m in _LONG_TAG.finditer(html):
        # Without quoted values, what is left are names and bare values, a gap apart ("/" is a gap).
        if len(_ATTR_GAP.split(_QUOTED_VALUE.sub("=", m.group()))) > MAX_ATTRIBUTES:
            return html[:m.start()]
    return html


def page_lang(declared: str, text: str) -> str:
    """"km", "en" or "" for a page that declares DECLARED (its <html lang>, maybe "") and
    reads TEXT. Khmer when it says so, or when at least KHMER_SHARE of the letters of its
    text's first LANG_SAMPLE characters are Khmer (themes often declare "en-US" over Khmer
    text); otherwise English when it says so, or says nothing and its letters are Latin."""
    tag = declared.strip().lower().replace("_", "-").split("-")[0]
    if tag in ("km", "khm"):
        return "km"
    sample = text[:LANG_SAMPLE]
    khmer, latin = len(_KHMER.findall(sample)), len(_LATIN.findall(sample))
    if khmer and khmer >= KHMER_SHARE * (khmer + latin):
        return "km"
    if tag in ("en", "eng") or (not tag and latin):
        return "en"
    return ""


def _parse(html: str) -> LexborHTMLParser:
    # A browser's decoder consumes the byte order mark; left in, it would open <body> early.
    return LexborHTMLParser(html[1:] if html.startswith("\ufeff") else html)


def _read(tree: LexborHTMLParser, max_chars: int, drop: Sequence[str]) -> tuple[str, str, str]:
    node = tree.css_first("title")
    title = " ".join(node.text(deep=True).split())[:TITLE_CHARS] if node is not None else ""
    root = tree.root
    declared = ((root.attributes.get("lang") if root is not None else None) or "")[:40]
    for selector in drop:
        # Innermost first (matches come in document order): a match inside another is
        # removed before the one that holds it, never after it was destroyed with it.
        for element in reversed(tree.css(selector)):
            element.decompose()
    tree.strip_tags(HIDDEN)
    body = tree.body
    text = " ".join(body.text(deep=True, separator=" ").split())[:max_chars] if body is not None else ""
    return title, text, declared
