"""The URLs an HTML page references, for the crawler.

Parsed with Lexbor (through selectolax), a C implementation of the HTML standard's
parser: it reads a page the way a browser does, and builds the tree the crawler walks much
faster than the rewriter's tokenizer, which keeps positions for exact edits, could. Which
attributes hold which kind of URL is decided by the same table (formats.html.attrs) for
both, and both read markup as the standard does, so what the crawler fetches is what the
rewriter rewrites.
"""

from __future__ import annotations

from typing import NamedTuple

from selectolax.lexbor import LexborHTMLParser

from refuge.formats.css import css_urls
from refuge.formats.html.attrs import CSS, URL_TAGS, WS, fetchable, url_attributes, url_spans


class Link(NamedTuple):
    url: str   # as written in the document, entity-decoded, stripped of surrounding whitespace
    kind: str  # "page" | "image" | "style" | "script" | "frame" | "media" | "other"
    tag: str
    attr: str  # "href", "src", "srcset", "style", "content", "#style" for <style> text, ...


_MEDIA_PARENTS = ("picture", "video", "audio")


def html_links(text: str) -> tuple[list[Link], str | None]:
    """Every URL the document references, in order, and its first <base href> (None if none).

    Relative URLs are returned as written: resolve them against the base if there is one,
    else against the page's URL.
    """
    # A browser's decoder consumes the byte order mark; left in, it would open <body> early.
    tree = LexborHTMLParser(text[1:] if text.startswith("\ufeff") else text)
    links: list[Link] = []
    add = links.append
    base: str | None = None
    # A walk in document order; CSS selectors would group the results by selector.
    for node in tree.root.traverse(include_text=False):
        tag = node.tag
        if tag == "style":
            links.extend(Link(url, kind, "style", "#style") for url, kind in css_urls(node.text(deep=True)))
            continue
        raw = node.attributes
        if not raw or (tag not in URL_TAGS and "style" not in raw):
            continue
        attrs = [(name, value or "") for name, value in raw.items()]
        if tag == "base" and base is None:
            base = next((v.strip(WS) for n, v in attrs if n == "href" and v.strip(WS)), None)
        parent = node.parent.tag if tag == "source" and node.parent is not None else ""
        for i, kind, mode in url_attributes(tag, attrs, parent if parent in _MEDIA_PARENTS else ""):
            name, value = attrs[i]
            if kind == "base":
                continue
            if mode == CSS:
                links.extend(Link(url, css_kind, tag, name) for url, css_kind in css_urls(value))
                continue
            for start, end in url_spans(mode, value):
                url = value[start:end]
                if fetchable(url):
                    add(Link(url, kind, tag, name))
    return links, base
