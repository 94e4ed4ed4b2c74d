"""pywb's "fallback by referrer": a request for a path that is none of the replay server's,
made from a page replayed here, is sent to the same path on that page's original site, in
the archive.

A script of a replayed page that asks for "/api/articles" (a root path, which the browser
resolves against the mirror, not the site) reaches the server as GET /api/articles with a
Referer of /web/<ts><mod>/https://site/page on this host. by_referrer answers with where it
should have gone: /web/<ts><mod'>/https://site/api/articles, at the page's time, with the
modifier that fits what the request loads. The answer is always a /web/ URL of this server
(no open redirect), and only a Referer naming this host is followed.

Browsers send no Referer from a document with an opaque origin, which the replay CSP's
sandbox gives every replayed page; there replay.js rewrites what a page's scripts ask for
before it is asked (mirror.replay.assets). This answers the clients that do send one.
"""

from __future__ import annotations

import re
from typing import Any

from refuge.mirror.replay.policy import MODS, archive_url

REFERER_LIMIT = 8192  # characters of a Referer, and of the path it completes, looked at

_PAGE = re.compile(r"/web/(\d{1,14})(" + "|".join(m for m in MODS if m) + r")?/(https?://[^/?#]+)(?:[/?#].*)?",
                   re.S | re.I)
# What a request loads (its Sec-Fetch-Dest) -> the replay modifier that serves it.
_DEST_MODS = {"document": "", "iframe": "if_", "frame": "if_", "image": "im_", "script": "js_",
              "style": "cs_", "empty": "oe_"}


def by_referrer(target: str, environ: dict[str, Any]) -> str | None:
    """The /web/ URL that TARGET (a path and query the server has no route for) stands for,
    going by the request's Referer (ENVIRON: the WSGI environ); None when the Referer is not
    a page replayed on this host."""
    referer = environ.get("HTTP_REFERER") or ""
    host = (environ.get("HTTP_HOST") or "").lower()
    if not referer or not host or len(referer) > REFERER_LIMIT or len(target) > REFERER_LIMIT:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    scheme, sep, rest = referer.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or rest[:len(host)].lower() != host:
        return None
    m = _PAGE.fullmatch(rest[len(host):])
    if m is None:
        return None
    site = m.group(3)
    origin = site[:site.index("://") + 3].lower() + site[site.index("://") + 3:]
    return archive_url(m.group(1), fallback_mod(environ), origin + target)


def fallback_mod(environ: dict[str, Any]) -> str:
    """The modifier for a request fallen back on: what it loads, as the browser says
    (Sec-Fetch-Dest); without that, a page for a navigation (Accept: text/html), else oe_
    (a page's fetch(): served without the banner or the replay script, as replay.js asks)."""
    dest = (environ.get("HTTP_SEC_FETCH_DEST") or "").strip().lower()
    if dest:
        return _DEST_MODS.get(dest, "oe_")
    return "" if (environ.get("HTTP_ACCEPT") or "").lstrip().lower().startswith("text/html") else "oe_"
