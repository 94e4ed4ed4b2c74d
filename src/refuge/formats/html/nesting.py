"""Markup cut where a tree builder's worst cases begin, keeping every tag of an ordinary page.

Lexbor, like any parser that follows the HTML standard, walks its stack of open elements at
many tags, so its time grows with the sum, over the tags, of how deep each one sits: a page
of ``<div>`` opened a million times and never closed takes hours, where a browser (Chromium
stops nesting at a depth of 512) takes no time. Lexbor has no such cap, so the markup it is
given is cut first:

    nesting_cut(html) -> html, cut before the tag at which the estimated nesting work
                         passes NESTING_WORK, or before a tag with more than MAX_ATTRIBUTES
                         attributes (the other quadratic case); whole otherwise
    attributes_cut(html) -> html, cut before such a tag only

The estimate is the depth the standard's tree would reach, counted from the tags as
written: a start tag opens an element unless it is void (``<img>``) or one the next of its
kind closes (``<p>``, ``<li>``, ``<td>``...), which a page leaves open by the thousand; a
start tag ending in ``/>`` opens one too (HTML ignores the slash), except inside ``<svg>``
or ``<math>``, where it does not. It errs towards counting too much: where a page could
leave foreign content (an HTML tag inside ``<svg>``, or an integration point such as
``<foreignObject>``), the rest is counted as HTML. A page is scanned only when it has
enough tags to reach the bound at all, so an ordinary page costs one count of its ``<``.
"""

from __future__ import annotations

import re

MAX_ATTRIBUTES = 1000
LONG_TAG = 4000  # a tag at least this long has its attributes counted
# The sum, over a page's tags, of the depth each opens at: far beyond what a real page needs
# (100,000 tags nested 50 deep are 5,000,000), far short of what holds Lexbor for long.
NESTING_WORK = 100_000_000

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                  "track", "wbr", "param", "keygen", "basefont", "bgsound", "frame", "image"})
# Elements the next start tag of their kind (or of a sibling kind) closes: no deeper for it.
SELF_ENDING = frozenset({"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody",
                         "tfoot", "colgroup", "caption", "rb", "rt", "rtc", "rp", "html", "head", "body"})
FOREIGN = frozenset({"svg", "math"})
# Inside <svg> or <math>, these make what follows HTML again (integration points).
INTEGRATION = frozenset({"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"})

# HTML elements that, inside <svg> or <math>, end foreign content (the standard's list, and
# the rest of HTML's names: counting too much is safe).
HTML_NAMES = frozenset({
    "a", "abbr", "address", "article", "aside", "audio", "b", "bdi", "bdo", "big", "blockquote", "button",
    "canvas", "center", "cite", "code", "data", "datalist", "del", "details", "dfn", "dialog", "dir", "div",
    "dl", "em", "fieldset", "figcaption", "figure", "font", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hgroup", "i", "iframe", "ins", "kbd", "label", "legend", "listing", "main", "map",
    "mark", "marquee", "menu", "meter", "nav", "nobr", "noscript", "object", "ol", "output", "picture", "pre",
    "progress", "q", "ruby", "s", "samp", "search", "section", "select", "small", "span", "strike", "strong",
    "sub", "summary", "sup", "table", "template", "textarea", "time", "tt", "u", "ul", "var", "video",
}) - {"a"}  # <a> is an SVG element too

# A tag as written, read no further than the next "<" (so that markup that never closes its
# tags costs linear time); group 1 "/" for an end tag, group 2 its name.
_TAG = re.compile(r"<(/?)([a-zA-Z][^\t\n\f\r /<>]*+)[^<>]*+>")
_LONG_TAG = re.compile(r"<[A-Za-z][^<>]{%d,}" % LONG_TAG)  # a start tag: "<" then its name
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def nesting_cut(html: str, work: int = NESTING_WORK) -> str:
    """HTML cut before the tag that takes the estimated nesting work past WORK, or before a
    tag with more than MAX_ATTRIBUTES attributes; as it was for any ordinary page."""
    html = attributes_cut(html)
    tags = html.count("<")
    if tags * (tags + 1) // 2 <= work:  # even every tag inside the last cannot reach it
        return html
    return html[:_nesting_end(html, work)]


def attributes_cut(html: str) -> str:
    """HTML cut before the first tag with more than MAX_ATTRIBUTES attributes."""
    for m in _LONG_TAG.finditer(html):
        # Quoted values may hold anything (a data: URL, JSON); what is left are names and bare values.
        if len(_QUOTED.sub(" ", m.group()).split()) > MAX_ATTRIBUTES:
            return html[:m.start()]
    return html


def _nesting_end(html: str, work: int) -> int:
    """Where the tag that takes the estimated work past WORK begins; len(html) if none does."""
    depth = foreign = 0  # open elements as counted; how many of them are <svg> or <math>
    spent = 0
    for m in _TAG.finditer(html):
        name = m.group(2).lower()
        if m.group(1):  # an end tag
            if name in VOID or name in SELF_ENDING:
                continue
            depth = max(depth - 1, 0)
            if name in FOREIGN:
                foreign = max(foreign - 1, 0)
            continue
        if name in VOID or name in SELF_ENDING:
            continue
        if foreign and (name in INTEGRATION or name in HTML_NAMES):
            foreign = 0  # may be HTML from here on: count it as HTML
        if foreign and html[m.end() - 2] == "/":
            continue  # <path/> in SVG closes itself
        depth += 1
        foreign += name in FOREIGN
        spent += depth
        if spent > work:
            return m.start()
    return len(html)
