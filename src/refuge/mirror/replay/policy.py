"""The URL-rewriting policy of replay: every http(s) link of an archived page is made
to point back into the archive, as ``/web/<ts><mod>/<absolute url>``.

The HTML and CSS rewriters (refuge.formats) find the links; this module's ReplayPolicy
decides what each one becomes. A URL is resolved against the document base (the page's
``<base href>`` if it has a usable one, else the page's own URL), and the archive URL
uses the page's own capture timestamp, with a modifier chosen by what the link loads.
Non-http(s) URLs (javascript:, data:, mailto:, fragments) are left alone. The result
is pure ASCII (non-ASCII and unsafe characters percent-encoded as UTF-8, invalid
bytes kept as they were), so it can be written back into a page of any charset.
"""

from __future__ import annotations

import re

from refuge.formats.html.attrs import REFRESH, url_spans
from refuge.formats.html.policy import Policy
from refuge.formats.urls import join, quote_url

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

def archive_url(ts: str, mod: str, url: str) -> str:
    """'/web/<ts><mod>/<url>' for an absolute URL."""
    return f"{PREFIX}{ts}{mod}/{quote_url(url)}"


class ReplayPolicy(Policy):
    """Replay's policy for one served document (formats.html.policy.Policy), and as a plain
    function ``policy(url_as_written, kind) -> new URL or None`` for its stylesheets and
    headers. ``page_mod`` overrides the modifier of kind "page" (a redirect met while loading
    an image stays an image); ``banner`` goes at the start of the body, ``head`` first in the
    head (the tag of the replay script, mirror.replay.assets).
    """

    def __init__(self, ts: str, url: str, page_mod: str = "", banner: str | None = None,
                 head: str | None = None) -> None:
        self.ts = ts
        self.url = url
        self.page_mod = page_mod
        self.banner = banner
        self.head = head
        self.base = url  # what relative links resolve against

    def set_base(self, href: str) -> None:
        self.base = join(self.url, href) or self.url

    def __call__(self, url: str, kind: str) -> str | None:
        if kind == "base":
            # Resolved against the page itself; an unusable base is replaced by the page's
            # own archive URL, so it can do nothing.
            target = join(self.url, url) or self.url
            return archive_url(self.ts, "", target)
        target = join(self.base, url)
        if target is None:
            return None
        mod = self.page_mod if kind == "page" else KIND_MODS.get(kind, "oe_")
        return archive_url(self.ts, mod, target)

    def link(self, url: str, kind: str, tag: str, attr: str) -> str | None:
        return self(url, kind)

    def css_link(self, url: str, kind: str) -> str | None:
        return self(url, kind)


_DELAY_ONLY = re.compile(r"[\t\n\r\f ]*[0-9.]+[\t\n\r\f ;,]*")


def rewrite_refresh(value: str, policy: ReplayPolicy) -> str | None:
    """A Refresh header value ('5; url=/next') with its URL rewritten; None to drop it.

    Read as the HTML standard reads <meta http-equiv=refresh> (formats.html.attrs), in
    linear time whatever the archived value holds; a value that is no refresh is dropped.
    """
    spans = url_spans(REFRESH, value)
    if not spans:
        return value if _DELAY_ONLY.fullmatch(value) else None
    (start, end), = spans
    new = policy(value[start:end], "page")
    if new is None:
        return None
    return value[:start] + new + value[end:]
