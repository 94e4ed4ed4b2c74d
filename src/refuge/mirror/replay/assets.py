"""The replay server's own script for replayed pages: /_refuge/replay.js, and the tag that
loads it.

replay.js (static/replay.js; what it covers and what not is written at its top) rewrites the
URLs a replayed page's scripts make into replay URLs. Every page the server replays as a
document (modifiers "", mp_, if_, fr_; not when the browser's Sec-Fetch-Dest names
something else, such as a fetch()) gets ``script_tag(ts, url)`` first in its <head> (through
the replay policy's head insertion, formats.html.rewriter), before any script of the page's
own. replay.js itself asks for what fetch() and XMLHttpRequest load with oe_, so an HTML
fragment a script inserts ("Load more") never comes with the tag, even from a browser that
sends no Sec-Fetch-Dest (over plain HTTP). The script is a file, not inline, so a browser keeps it from page to page:
its URL carries a hash of its bytes, and is cached for a year.

Everything under /_refuge/ belongs to the server: no archived URL is answered there.
"""

from __future__ import annotations

import hashlib
from html import escape
from importlib.resources import files
from typing import Any

from werkzeug.wrappers import Response

from refuge.formats.urls import quote_url

PREFIX = "/_refuge/"
SCRIPT_PATH = PREFIX + "replay.js"
SCRIPT = files("refuge.mirror.replay").joinpath("static/replay.js").read_bytes()
VERSION = hashlib.sha256(SCRIPT).hexdigest()[:12]
DOCUMENT_MODS = frozenset({"", "mp_", "if_", "fr_"})  # replayed as documents: their scripts run
# What a browser loads as a document (Sec-Fetch-Dest); anything else it names (a fetch():
# "empty") is no document, whatever its modifier.
DOCUMENT_DESTS = frozenset({"document", "iframe", "frame", "embed", "object"})


def as_document(mod: str, environ: dict[str, Any]) -> bool:
    """Whether a page asked for with modifier MOD by the request ENVIRON (WSGI) is replayed as
    a document (script_tag first; the banner too, for ""): a document modifier, unless the
    browser says the request loads no document."""
    dest = (environ.get("HTTP_SEC_FETCH_DEST") or "").strip().lower()
    return mod in DOCUMENT_MODS and (not dest or dest in DOCUMENT_DESTS)


def script_tag(ts: str, url: str) -> str:
    """The <script> element that loads replay.js for the page captured from URL at TS (ASCII)."""
    return (f'<script src="{SCRIPT_PATH}?v={VERSION}" data-ts="{escape(ts)}" '
            f'data-url="{escape(quote_url(url))}"></script>')


def answer(target: str) -> Response:
    """The response to a request for TARGET, a path under PREFIX (query included)."""
    path, _, query = target.partition("?")
    if path != SCRIPT_PATH:
        return Response("not found\n", status=404, content_type="text/plain; charset=utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})
    # The versioned URL never changes its bytes; one without the version may.
    cache = "public, max-age=31536000, immutable" if query == f"v={VERSION}" else "public, max-age=300"
    return Response(SCRIPT, content_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff", "ETag": f'"{VERSION}"'})
