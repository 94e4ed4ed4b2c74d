"""The URL-rewriting policy of replay: every http(s) link of an archived page is made
to point back into the archive, as ``/web/<ts><mod>/<absolute url>``.

The HTML and CSS rewriters (refuge.formats) find the links; this module decides what
each one becomes. A URL is resolved against the document base (the page's
``<base href>`` if it has a usable one, else the page's own URL), and the archive URL
uses the page's own capture timestamp, with a modifier chosen by what the link loads.
Non-http(s) URLs (javascript:, data:, mailto:, fragments) are left alone. The result
is pure ASCII (non-ASCII and unsafe characters percent-encoded as UTF-8, invalid
bytes kept as they were), so it can be written back into a page of any charset.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from refuge.formats.urls import join

PREFIX = "/web/"

# Wayback/pywb modifiers: "" top-level page, id_ original bytes, im_ image, js_ script,
# cs_ stylesheet, if_/fr_ frame, oe_ object/embed/other, mp_ main page (no banner).
MODS = ("", "id_", "im_", "js_", "cs_", "if_", "fr_", "oe_", "mp_")

KIND_MODS = {
    "page": "",
    "frame": "if_",
    "image": "im_",
    "style": "cs_",
    "script": "js_",
    "media": "oe_",
    "other": "oe_",
    "base": "",
}

# Left as they are in a URL: reserved characters and existing percent-escapes.
_SAFE = "!#$%&'()*+,/:;=?@[]~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9\-._~!#$%&'()*+,/:;=?@\[\]]")
def quote_url(url: str) -> str:
    """URL as ASCII: unsafe and non-ASCII characters percent-encoded (UTF-8; bytes that
    were undecodable in the page, held as surrogate escapes, come back as themselves)."""
    if not _NEEDS_QUOTING.search(url):
        return url
    return quote(url, safe=_SAFE, errors="surrogateescape")


def archive_url(ts: str, mod: str, url: str) -> str:
    """'/web/<ts><mod>/<url>' for an absolute URL."""
    return f"{PREFIX}{ts}{mod}/{quote_url(url)}"


class UrlPolicy:
    """``rewrite(url_as_written, kind) -> new URL or None`` for one served document.

    ``document`` is the object whose ``base`` attribute holds the ``<base href>`` as
    written once the HTML rewriter has seen one (formats.html.HtmlRewriter); it may be
    set after construction. ``page_mod`` overrides the modifier of kind "page" (a
    redirect met while loading an image stays an image).
    """

    __slots__ = ("ts", "url", "document", "page_mod", "_base_written", "_base")

    def __init__(self, ts: str, url: str, document: object | None = None, page_mod: str = "") -> None:
        self.ts = ts
        self.url = url
        self.document = document
        self.page_mod = page_mod
        self._base_written: str | None = None
        self._base = url

    @property
    def base(self) -> str:
        """The URL relative links resolve against."""
        written = getattr(self.document, "base", None) if self.document is not None else None
        if written != self._base_written:
            self._base_written = written
            resolved = join(self.url, written) if written else None
            self._base = resolved or self.url
        return self._base

    def __call__(self, url: str, kind: str) -> str | None:
        if kind == "base":
            # Resolved against the page itself; an unusable base (javascript:, data:)
            # is replaced by the page's own archive URL so it can do nothing.
            target = join(self.url, url) or self.url
            return archive_url(self.ts, "", target)
        target = join(self.base, url)
        if target is None:
            return None
        mod = self.page_mod if kind == "page" else KIND_MODS.get(kind, "oe_")
        return archive_url(self.ts, mod, target)


_REFRESH = re.compile(r"^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(['\"]?)(.*?)\2\s*$", re.I | re.S)


def rewrite_refresh(value: str, policy: UrlPolicy) -> str | None:
    """A Refresh header value ('5; url=/next') with its URL rewritten; None to drop it."""
    m = _REFRESH.match(value)
    if not m:
        return None
    if not m.group(3):
        return value
    new = policy(m.group(3), "page")
    if new is None:
        return None
    return f"{m.group(1)}{m.group(2)}{new}{m.group(2)}"
