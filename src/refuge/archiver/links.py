"""Outlinks of a fetched document, read from the bytes exactly as captured."""

from __future__ import annotations

import zlib
from typing import IO

from refuge.formats.charset import css_charset, html_charset
from refuge.formats.css import css_urls
from refuge.formats.html.extract import html_links
from refuge.formats.urls import resolve

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
CSS_TYPES = frozenset({"text/css"})
# Link extraction reads at most this much of a document; the WARC keeps all of it.
MAX_PARSE_BYTES = 16 * 1024 * 1024


def outlinks(url: str, media_type: str, content_type: str | None, content_encoding: str | None,
             body: IO[bytes]) -> list[tuple[str, str]]:
    """(absolute URL, kind) for every link in an HTML or CSS document; [] for anything else.

    kind is "page" for navigation and a requisite kind ("image", "style", "script",
    "frame", "media", "other") for what a page needs to display.
    """
    if media_type not in HTML_TYPES and media_type not in CSS_TYPES:
        return []
    body.seek(0)
    data = decode_content(body.read(MAX_PARSE_BYTES), content_encoding)
    if data is None:
        return []
    if media_type in CSS_TYPES:
        text = data.decode(css_charset(content_type, data[:1024]), "replace")
        written, base = css_urls(text), url
    else:
        text = data.decode(html_charset(content_type, data[:1024]), "replace")
        links, base_href = html_links(text)
        written = [(link.url, link.kind) for link in links]
        base = (resolve(url, base_href) if base_href else None) or url
    found = []
    # Navigation repeats on a page: resolve each distinct (link, kind) once.
    for href, kind in dict.fromkeys(written):
        absolute = resolve(base, href)
        if absolute:
            found.append((absolute, kind))
    return found


def decode_content(data: bytes, content_encoding: str | None) -> bytes | None:
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return data
    if coding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS
        try:
            return _inflate(data, wbits)
        except zlib.error:
            if coding == "deflate":  # servers send raw deflate as often as zlib-wrapped
                try:
                    return _inflate(data, -zlib.MAX_WBITS)
                except zlib.error:
                    return None
            return None
    return None  # br, zstd: kept as captured, links not followed


def _inflate(data: bytes, wbits: int) -> bytes:
    d = zlib.decompressobj(wbits)
    return d.decompress(data, MAX_PARSE_BYTES)
