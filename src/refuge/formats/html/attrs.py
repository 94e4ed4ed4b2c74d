"""Which HTML attributes hold URLs, of what kind, and how to find and escape them in raw tag text."""

from __future__ import annotations

import re
from html import unescape
from html.entities import html5 as _ENTITIES

from refuge.formats.html import grammar

_SKIP = ("#", "javascript:", "data:", "mailto:", "tel:", "about:")
WS = " \t\n\r\f"

# (tag, attribute) -> (kind, how the value holds URLs) for attributes whose meaning does not
# depend on the element's other attributes or its parents.
URL, SRCSET, CSS, REFRESH = "url", "srcset", "css", "refresh"
PLAIN: dict[tuple[str, str], tuple[str, str]] = {
    **{pair: ("page", URL) for pair in (
        ("a", "href"), ("area", "href"), ("form", "action"), ("button", "formaction"),
        ("input", "formaction"), ("blockquote", "cite"), ("q", "cite"), ("del", "cite"), ("ins", "cite"))},
    ("script", "src"): ("script", URL),
    # Lazy loaders keep the real image in data-* until scripts run.
    **{("img", a): ("image", URL) for a in ("src", "data-src", "data-original", "data-lazy-src")},
    **{("img", a): ("image", SRCSET) for a in ("srcset", "data-srcset", "data-lazy-srcset")},
    # <image> is an <img> in HTML and an image in SVG; <use> pulls in external SVG sprites.
    **{pair: ("image", URL) for pair in (
        ("image", "src"), ("image", "href"), ("image", "xlink:href"), ("use", "href"), ("use", "xlink:href"),
        ("body", "background"), ("table", "background"), ("td", "background"), ("th", "background"),
        ("video", "poster"))},
    **{pair: ("media", URL) for pair in (
        ("video", "src"), ("audio", "src"), ("track", "src"), ("embed", "src"), ("object", "data"))},
    **{pair: ("frame", URL) for pair in (("iframe", "src"), ("iframe", "data-src"), ("frame", "src"))},
    ("base", "href"): ("base", URL),  # rewritten, never fetched
}
# Elements whose attributes' meaning depends on their other attributes (see url_attributes).
_DEPENDENT = frozenset({"link", "source", "input", "meta"})
# Elements that may carry a URL attribute other than style=.
URL_TAGS = frozenset({tag for tag, _ in PLAIN} | _DEPENDENT)
_USEFUL_ATTRS = frozenset({attr for _, attr in PLAIN} | {
    "style", "href", "imagesrcset", "src", "srcset", "data-src", "data-srcset", "type", "rel", "as",
    "http-equiv", "content", "integrity"})
_LINK_ICONS = frozenset({"icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon", "manifest"})
_PRELOAD_KINDS = {"style": "style", "script": "script", "font": "other", "image": "image"}
# Start tags that may sit in <head>: anything else means the body has begun.
HEAD_TAGS = frozenset({"html", "head", "title", "meta", "link", "base", "script", "style", "noscript",
                        "template"})

# One attribute of a start tag's text, after the gap before it (formats.html.grammar's rules):
# group 1 its name, group 2 its value as written (quotes included), if it has one.
_ATTR = re.compile(rf"{grammar.GAP_OPT}({grammar.ATTR_NAME})(?:{grammar.SP}*+={grammar.SP}*+({grammar.VALUE}))?")
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_UNQUOTED_UNSAFE = re.compile(r"[\t\n\r\f \"'=<>`]")
_SRCSET_GAP = re.compile(r"[\t\n\r\f ,]*")
_SRCSET_URL = re.compile(r"[^\t\n\r\f ]+")
_SRCSET_DESCRIPTORS = re.compile(r"[^,(]*(?:\([^)]*\)?[^,(]*)*")
_REFRESH_PREFIX = re.compile(
    r"[\t\n\r\f ]*[0-9.]+(?=[\t\n\r\f ;,])[\t\n\r\f ]*[;,]?[\t\n\r\f ]*(?:[Uu][Rr][Ll][\t\n\r\f ]*=[\t\n\r\f ]*)?")


class Attr:
    """One attribute in a start tag's text: where it and its value lie, and the decoded value."""
    __slots__ = ("name", "start", "end", "vstart", "vend", "quote", "value")

    def __init__(self, name: str, m: re.Match[str]) -> None:
        self.name = name
        self.start = m.start(1)
        raw = m.group(2)
        self.end = m.end(1) if raw is None else m.end(2)
        if raw is None:
            self.vstart = self.vend = -1
            self.quote = ""
            self.value = ""
            return
        self.vstart, self.vend = m.span(2)
        self.quote = raw[:1] if raw[:1] in ("'", '"') else ""
        if self.quote:
            self.vstart += 1
            self.vend -= 1
            raw = raw[1:-1]
        self.value = _unescape_attr(raw) if "&" in raw else raw


_CACHE: dict[str, list[Attr]] = {}
_CACHE_SIZE = 4096  # tags
_CACHE_TAG = 512  # characters: a longer tag (a data: URL) is not remembered


def parse_attrs(text: str, every: bool = False) -> list[Attr]:
    """The attributes of a start tag's whole text (as formats.html.tokenizer reports it) that
    can matter here (class=, alt=... are skipped unless EVERY), names in lowercase. The list
    may be shared: it must not be changed. (Pages of a site repeat many tags exactly, so the
    last few thousand short ones are remembered.)"""
    if every or len(text) > _CACHE_TAG:
        return _parse(text, every)
    found = _CACHE.get(text)
    if found is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        found = _CACHE[text] = _parse(text, False)
    return found


def _parse(text: str, every: bool) -> list[Attr]:
    m = grammar.TAG_NAME.match(text, 1)
    pos = m.end() if m else len(text)
    found = []
    for m in _ATTR.finditer(text, pos):
        if m.start() != pos:
            break
        pos = m.end()
        name = m.group(1).translate(_LOWER)
        if every or name in _USEFUL_ATTRS:
            found.append(Attr(name, m))
    return found


def _unescape_attr(value: str) -> str:
    """Decode character references as a browser does inside an attribute value.

    Unlike html.unescape, a legacy reference without ';' followed by '=' or a letter or digit
    stays literal, so `?a=1&copy=2` and `&section=3` keep their query parameters.
    """
    return _CHARREF.sub(_attr_ref, value)


def _attr_ref(m: re.Match[str]) -> str:
    name = m.group(1)
    if name[0] == "#" or name in _ENTITIES:
        return unescape(m.group(0))
    for cut in range(len(name) - 1, 1, -1):
        if name[:cut] in _ENTITIES:
            after = name[cut]
            if after == "=" or after.isascii() and after.isalnum():
                return m.group(0)
            return _ENTITIES[name[:cut]] + name[cut:]
    return m.group(0)


def fetchable(url: str) -> bool:
    if not url:
        return False
    head = url[:16].lower()
    if "\t" in head or "\n" in head or "\r" in head:  # browsers drop these inside URLs
        head = head.replace("\t", "").replace("\n", "").replace("\r", "")
    return not head.startswith(_SKIP)


def url_spans(mode: str, value: str) -> list[tuple[int, int]]:
    """Where the URLs lie inside a decoded attribute value (not for style=)."""
    if mode == URL:
        start = len(value) - len(value.lstrip(WS))
        end = len(value.rstrip(WS))
        return [(start, end)] if end > start else []
    if mode == SRCSET:
        return _srcset_spans(value)
    return _refresh_span(value)


def _srcset_spans(value: str) -> list[tuple[int, int]]:
    # The HTML standard's srcset parsing: a URL runs to whitespace, and a trailing comma on it
    # ends the candidate; descriptors run to the next comma outside parentheses.
    spans = []
    pos, n = 0, len(value)
    while True:
        pos = _SRCSET_GAP.match(value, pos).end()
        if pos >= n:
            return spans
        m = _SRCSET_URL.match(value, pos)
        url_end = m.end()
        if value[url_end - 1] == ",":
            pos = url_end
            while value[url_end - 1] == ",":
                url_end -= 1
        else:
            pos = _SRCSET_DESCRIPTORS.match(value, url_end).end()
        spans.append((m.start(), url_end))


def _refresh_span(value: str) -> list[tuple[int, int]]:
    # "N; url=..." as the standard's refresh parsing reads it; a bare "N" reloads the page.
    m = _REFRESH_PREFIX.match(value)
    if m is None:
        return []
    start, end = m.end(), len(value)
    if value[start:start + 1] in ("'", '"'):
        quote = value[start]
        start += 1
        close = value.find(quote, start)
        end = close if close >= 0 else end
    end = start + len(value[start:end].rstrip(WS))
    return [(start, end)] if end > start else []


def url_attributes(tag: str, attrs: list[tuple[str, str]], media_parent: str) -> list[tuple[int, str, str]]:
    """(index into attrs, kind, mode) for each attribute of a start tag that holds URLs.

    attrs are (name, decoded value) in document order; media_parent is the innermost open
    <picture>, <video> or <audio> ("" if none), which decides what a <source> feeds.
    """
    found = []
    first: dict[str, str] = {}
    for name, value in attrs:
        first.setdefault(name, value)
    for i, (name, _value) in enumerate(attrs):
        if name == "style":
            found.append((i, "", CSS))
            continue
        known = PLAIN.get((tag, name))
        if known is not None:
            found.append((i, *known))
        elif tag == "link" and name in ("href", "imagesrcset"):
            found.append((i, link_kind(first.get("rel", ""), first.get("as", "")), URL if name == "href" else SRCSET))
        elif tag == "source" and name in ("src", "srcset", "data-src", "data-srcset"):
            found.append((i, _source_kind(first, name, media_parent), SRCSET if "srcset" in name else URL))
        elif tag == "input" and name == "src" and first.get("type", "").strip().lower() == "image":
            found.append((i, "image", URL))
        elif tag == "meta" and name == "content" and first.get("http-equiv", "").strip().lower() == "refresh":
            found.append((i, "page", REFRESH))
    return found


def url_attrs(tag: str, attrs: list[Attr], media_parent: str) -> list[tuple[Attr, str, str]]:
    """url_attributes for parsed attributes: (attribute, kind, mode) for each one with a value."""
    if tag in _DEPENDENT:
        found = url_attributes(tag, [(a.name, a.value) for a in attrs], media_parent)
        return [(attrs[i], kind, mode) for i, kind, mode in found if attrs[i].vstart >= 0]
    out = []
    for a in attrs:  # as url_attributes reads them when no other attribute matters
        if a.vstart < 0:
            continue
        if a.name == "style":
            out.append((a, "", CSS))
        else:
            known = PLAIN.get((tag, a.name))
            if known is not None:
                out.append((a, known[0], known[1]))
    return out


def _source_kind(first: dict[str, str], name: str, media_parent: str) -> str:
    if media_parent:
        return "image" if media_parent == "picture" else "media"
    mime = first.get("type", "").strip().lower()
    if mime.startswith("image/"):
        return "image"
    if mime.startswith(("video/", "audio/")):
        return "media"
    return "image" if "srcset" in name else "media"


def link_kind(rel: str, as_: str) -> str:
    rels = set(rel.lower().split())
    if "stylesheet" in rels:
        return "style"
    if rels & _LINK_ICONS:
        return "other"
    if rels & {"preload", "prefetch", "modulepreload"}:
        if not as_ and "modulepreload" in rels:
            return "script"
        return _PRELOAD_KINDS.get(as_.strip().lower(), "other")
    return "page"


def escape_attr(value: str, quote: str) -> str:
    """A value ready to stand in place of the old one between the same quotes (or none)."""
    value = value.replace("&", "&amp;")
    if quote == '"':
        return value.replace('"', "&quot;")
    if quote == "'":
        return value.replace("'", "&#39;")
    if value and not _UNQUOTED_UNSAFE.search(value):
        return value
    return '"' + value.replace('"', "&quot;") + '"'
