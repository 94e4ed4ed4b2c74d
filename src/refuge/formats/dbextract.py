"""Reading a records database's captured pages: listing links, API items, record fields, files.

Pure functions on the bytes exactly as captured, so that a database target can be walked
live and re-read later from its WARCs with the same results. HTML is decoded the way the
crawler decodes it (refuge.formats.charset: BOM, Content-Type, <meta>, then UTF-8, else
windows-1252) and parsed with Lexbor, the engine the spec's selectors were checked against
(refuge.config.dbspec). Links resolve against the page's <base href> when it has one.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple
from urllib.parse import SplitResult, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from refuge.config.dbspec import ApiSpec, ListingSpec, RecordSpec
from refuge.formats.charset import html_charset
from refuge.formats.urls import resolve


class ListingResult(NamedTuple):
    records: list[str]   # absolute record URLs, document order, no duplicates, no fragments
    next: str | None     # the next listing page (only when the spec has a `next` selector)
    total: int | None    # the record count the page states, if the spec says where


class ApiResult(NamedTuple):
    items: list[tuple[str, Any]]  # (id as a string, the item whole), first of each id kept
    next: str | None              # absolute URL of the next page
    total: int | None
    skipped: int = 0              # items without a usable id (string or whole number)


_MISSING = object()
# Which attribute of a matched element names its file; other tags try href, src, data in turn.
_URL_ATTR = {"a": "href", "area": "href", "link": "href", "img": "src", "embed": "src", "source": "src",
             "iframe": "src", "video": "src", "audio": "src", "object": "data"}
_NO_TEXT = frozenset({"script", "style", "template"})


def parse_html(body: bytes, content_type: str | None) -> LexborHTMLParser:
    """The document parsed from bytes decoded per its declared charset (as browsers would)."""
    text = body.decode(html_charset(content_type, body[:1024]), "replace")
    # A browser's decoder consumes the byte order mark; left in, it would open <body> early.
    return LexborHTMLParser(text.removeprefix("\ufeff"))


def _base(tree: LexborHTMLParser, page_url: str) -> str:
    node = tree.css_first("base[href]")
    href = node.attributes.get("href") if node is not None else None
    return (resolve(page_url, href) if href else None) or page_url


def _link(node: LexborNode) -> str | None:
    """A matched element's link: its own href, else that of the first link inside it (a row, a card)."""
    href = node.attributes.get("href")
    if href is None:
        inner = node.css_first("a[href], area[href]")
        href = inner.attributes.get("href") if inner is not None else None
    return href


def _unique(urls: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(u for u in urls if u))


def listing_page(spec: ListingSpec, page_url: str, body: bytes, content_type: str | None) -> ListingResult:
    """The record links on one listing page, its next page, and the total it states.

    A matched element without an href (a table row, say) contributes the first link inside
    it. A next link that leads back to this same page is dropped, so a last page whose
    "next" button points at itself ends the walk.
    """
    tree = parse_html(body, content_type)
    base = _base(tree, page_url)
    records = _unique(resolve(base, href) for node in tree.css(spec.records) if (href := _link(node)))
    next_url = None
    if spec.next:
        node = tree.css_first(spec.next)
        href = _link(node) if node is not None else None
        next_url = resolve(base, href) if href else None
        if next_url is not None and next_url == page_url.split("#", 1)[0]:
            next_url = None
    total = None
    if spec.total:
        node = tree.css_first(spec.total)
        total = parse_count(text_of(node)) if node is not None else None
    return ListingResult(records, next_url, total)


def dotted(doc: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path ("data", "meta.total", "results.0.id"), else `default`.

    A segment of digits (or -digits) indexes a list; on an object it is an ordinary key.
    The path "." is the document itself.
    """
    if path == ".":
        return doc
    for key in path.split("."):
        if isinstance(doc, dict):
            if key not in doc:
                return default
            doc = doc[key]
        elif isinstance(doc, list) and re.fullmatch(r"-?\d+", key):
            i = int(key)
            if not -len(doc) <= i < len(doc):
                return default
            doc = doc[i]
        else:
            return default
    return doc


def _item_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return parse_count(value) if isinstance(value, str) else None


def api_page(spec: ApiSpec, page_url: str, body: bytes) -> ApiResult:
    """The items of one API page with their ids, the next page, and the stated total.

    Raises ValueError when the body is not JSON or `items` is not a list (a missing path
    too: it is more likely a wrong spec than an empty page). An explicit null is an empty
    page. A `next` that is a number is a page number for the url template; an empty one
    (null, "", false) means this is the last page.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{page_url}: the response is not JSON ({exc})") from None
    found = dotted(doc, spec.items, _MISSING)
    if found is _MISSING:
        raise ValueError(f"{page_url}: no {spec.items!r} in the JSON response")
    if found is None:
        found = []
    if not isinstance(found, list):
        raise ValueError(f"{page_url}: {spec.items!r} is {type(found).__name__}, not a list of items")  # noqa: TRY004
    items: dict[str, Any] = {}
    skipped = 0
    for item in found:
        item_id = _item_id(dotted(item, spec.id))
        if item_id is None:
            skipped += 1
        else:
            items.setdefault(item_id, item)
    next_url = None
    if spec.next:
        value = dotted(doc, spec.next)
        if isinstance(value, int) and not isinstance(value, bool) and "{page}" in spec.url:
            next_url = spec.page_url(value)
        elif isinstance(value, str) and value.strip():
            next_url = resolve(page_url, value)
        if next_url == page_url.split("#", 1)[0]:
            next_url = None
    total = _count(dotted(doc, spec.total)) if spec.total else None
    return ApiResult(list(items.items()), next_url, total, skipped)


def text_of(node: LexborNode) -> str:
    """An element's text as a reader sees it: whitespace runs collapsed to one space, stripped.

    Text is joined with nothing in between (Khmer writes no spaces between words, so
    inventing them would corrupt it), except that <br> counts as a space; the contents of
    <script>, <style> and <template> are not text.
    """
    parts: list[str] = []
    stack: list[LexborNode] = [node]
    while stack:
        current = stack.pop()
        tag = current.tag
        if tag == "-text":
            parts.append(current.text_content or "")
            continue
        if tag == "br":
            parts.append(" ")
        if tag in _NO_TEXT and current is not node:
            continue
        children = []
        child = current.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend(reversed(children))
    return " ".join("".join(parts).split())


def record_fields(spec: RecordSpec, url: str, body: bytes, content_type: str | None) -> dict[str, str | None]:
    """Every field of the spec, in spec order: the text (or the attribute, as written in the
    page, not resolved) of the selector's first match; None when nothing matches or the
    first match lacks the attribute.
    """
    tree = parse_html(body, content_type)
    out: dict[str, str | None] = {}
    for f in spec.fields:
        node = tree.css_first(f.selector)
        if node is None:
            out[f.name] = None
        elif f.attr is None:
            out[f.name] = text_of(node)
        else:
            out[f.name] = node.attributes.get(f.attr)
    return out


def record_attachments(spec: RecordSpec, url: str, body: bytes, content_type: str | None) -> list[str]:
    """Absolute http(s) URLs of the files the attachments selector matches, in document order,
    each once, without fragments: href of a/area/link, src of img/embed/source/iframe/video/
    audio, data of object; any other element gives its href, src or data, whichever it has.
    """
    if not spec.attachments:
        return []
    tree = parse_html(body, content_type)
    base = _base(tree, url)
    found = []
    for node in tree.css(spec.attachments):
        attrs = node.attributes
        name = _URL_ATTR.get(node.tag or "")
        value = attrs.get(name) if name else next((attrs[a] for a in ("href", "src", "data") if attrs.get(a)), None)
        if value:
            found.append(resolve(base, value))
    return _unique(found)


def record_id(spec: RecordSpec, url: str) -> str | None:
    """Group 1 of the spec's id regex searched in the URL; None without a match or a regex."""
    if not spec.id:
        return None
    m = re.search(spec.id, url)
    return m.group(1) if m and m.group(1) else None


def _segments(url: str) -> tuple[SplitResult, list[str]]:
    parts = urlsplit(url)
    return parts, parts.path.split("/")


def url_language(url: str, languages: Sequence[str]) -> str | None:
    """The language named by the URL's first path segment that is one of `languages`."""
    _, segments = _segments(url)
    return next((s for s in segments if s in languages), None)


def language_variants(url: str, languages: Sequence[str]) -> dict[str, str]:
    """{lang: the URL in that language} by swapping its first language path segment
    (/en/gazetteer/12 -> /km/gazetteer/12), the URL's own language included; {} when no
    path segment names a language: the record then has one version only.
    """
    parts, segments = _segments(url)
    at = next((i for i, s in enumerate(segments) if s in languages), None)
    if at is None:
        return {}
    out = {}
    for lang in languages:
        swapped = segments[:at] + [lang] + segments[at + 1:]
        out[lang] = urlunsplit(parts._replace(path="/".join(swapped)))
    return out


# A number: digits in groups of three after a 1-3 digit lead, one separator throughout
# (",", ".", "'", a space, a no-break or thin space), or a plain run of digits.
_NUMBER = re.compile(r"(?<!\d)(?:\d{1,3}(?P<sep>[,.' \u00a0\u2009\u202f])\d{3}(?!\d)(?:(?P=sep)\d{3}(?!\d))*|\d+)")


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def parse_count(text: str | None) -> int | None:
    """The record count stated in a text: the LARGEST whole number in it, or None.

    Digits of any script count (Khmer ០-៩ included), and thousands may be grouped with ",",
    ".", "'" or a (no-break, thin) space: "Showing 1–10 of 1,234 records" and
    "ឯកសារ ១២៣ ក្នុងចំណោម ១ ២៣៤" both give 1234. The largest rather than the last number,
    because a total is never smaller than the other numbers such a line shows (a range on
    this page, a page count): "1,234 results, page 1 of 124" gives 1234 too.
    """
    if not text:
        return None
    numbers = [int(re.sub(r"\D", "", m.group(0))) for m in _NUMBER.finditer(_ascii_digits(text))]
    return max(numbers) if numbers else None
