"""Memento (RFC 7089): the headers of TimeGates and mementos, and TimeMaps.

    accept_datetime(environ) -> str | None          a request's Accept-Datetime as a 14-digit timestamp
    timegate_headers(engine, url, key) -> headers   Vary and Link for /web/<url>'s redirect
    memento_link(engine, hit, mod) -> str           the Link header of a memento /web/<ts><mod>/<url>
    timemap_route(target) -> (kind, since, url) | None   /timemap/link|json/[<ts>/]<url>
    timemap(engine, kind, url, since, size) -> Response  one page of a URL's TimeMap

Contract:
- A memento is a capture named by its URL's SURT key and its second (storage.catalog.timeline):
  URI-M /web/<14 digits><mod>/<url>, URI-G /web/<url>, URI-T /timemap/link/<url>. Links to
  them are absolute paths on this server (like its redirects' Location), so they hold
  behind any proxy; a client resolves them against the URL it asked (RFC 8288).
- rel values are RFC 7089's: "original", "timegate", "timemap" (type application/link-format),
  "first memento", "last memento", "prev memento", "next memento", "memento", each memento
  with its datetime (RFC 1123). A memento that is several of these is one link-value whose
  rel says all of them, as RFC 7089's examples do ("first last memento" for a URL's only
  capture). A memento's links keep the modifier it was asked with.
- TimeMaps come in pages of SIZE mementos, oldest first. A page names the one after it,
  and the one before it, by where it begins: /timemap/<kind>/<ts>/<url>, in an HTTP Link
  header (rel "next" and "prev") and, in the link format, as RFC 7089 pages TimeMaps (rel
  "timemap" with from). The JSON TimeMap is pywb's: one CDX row (cdx_rows) a line.
- Every one of these costs a few B-tree seeks, whatever the number of captures.
"""

from __future__ import annotations

import re
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

from sqlalchemy import Engine
from werkzeug.wrappers import Response

from refuge.config.errors import BadInput
from refuge.mirror.replay import cdx_rows
from refuge.mirror.replay.pages import http_date
from refuge.mirror.replay.policy import archive_url, quote_url
from refuge.storage.catalog import timeline
from refuge.storage.catalog.index import Hit, pad_timestamp, url_key

PAGE_SIZE = 1000  # mementos in one TimeMap page
LINK_FORMAT = "application/link-format"
HEADER_LIMIT = 32 * 1024  # a longer Link header is cut to its original (clients refuse such lines)
_TIMEMAP = re.compile(r"/timemap/(link|json)/(?:(\d{1,14})/)?(.+)", re.S)
MEDIA_TYPES = {"link": LINK_FORMAT, "json": "text/x-ndjson"}  # of each kind of TimeMap


def accept_datetime(environ: dict[str, Any]) -> str | None:
    """The 14-digit timestamp a request's Accept-Datetime asks for; None without one.
    BadInput naming the header for a value that is no HTTP date."""
    value = environ.get("HTTP_ACCEPT_DATETIME")
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value.strip()) if len(value) <= 100 else None
        if when is not None and when.tzinfo is not None:
            when = when.astimezone(timezone.utc)  # 31 Dec 9999 23:00 -0500 is past year 9999: OverflowError
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is None or when.year < 1000:
        raise BadInput(f"Accept-Datetime: {value[:100]!r} is not an HTTP date "
                       "(RFC 1123, e.g. 'Thu, 31 May 2007 20:35:00 GMT')")
    return f"{when.year:04d}{when:%m%d%H%M%S}"


def link(uri: str, rel: str, **attrs: str) -> str:
    """One link-value: <URI>; rel="REL"; name="value"..."""
    return f'<{uri}>; rel="{rel}"' + "".join(f'; {k}="{v}"' for k, v in attrs.items())


def timegate_uri(url: str) -> str:
    return "/web/" + quote_url(url)


def timemap_uri(url: str, kind: str = "link", since: str | None = None) -> str:
    return f"/timemap/{kind}/" + (f"{since}/" if since else "") + quote_url(url)


def _memento(ts: str, mod: str, url: str, words: list[str] | tuple[str, ...] = ()) -> str:
    """The link-value of the memento of URL at TS; WORDS: which it is ("first", "prev", ...)."""
    return link(archive_url(ts, mod, url), " ".join([*words, "memento"]), datetime=http_date(ts))


def _mementos(named: list[tuple[str, str | None]], mod: str, url: str) -> list[str]:
    """One link-value for each memento NAMED ((word, timestamp or None), word "" for the
    memento itself), in the order first named, its rel all the words it was named by."""
    words: dict[str, list[str]] = {}
    for word, ts in named:
        if ts:
            words.setdefault(ts, []).extend([word] if word else [])
    return [_memento(ts, mod, url, w) for ts, w in words.items()]


def timegate_headers(engine: Engine, url: str, key: str) -> list[tuple[str, str]]:
    """Vary and Link for a TimeGate's redirect: URL's original, TimeMap, first and last mementos."""
    n = timeline.neighbours(engine, key, "")  # of these, first and last
    links = [link(quote_url(url), "original"), link(timemap_uri(url), "timemap", type=LINK_FORMAT),
             *_mementos([("first", n.first), ("last", n.last)], "", url)]
    return [("Vary", "accept-datetime"), ("Link", _fit(links))]


def memento_link(engine: Engine, hit: Hit, mod: str) -> str:
    """The Link header of HIT served as a memento with modifier MOD."""
    n = timeline.neighbours(engine, hit.urlkey, hit.timestamp)
    url = hit.url
    links = [link(quote_url(url), "original"), link(timegate_uri(url), "timegate"),
             link(timemap_uri(url), "timemap", type=LINK_FORMAT),
             *_mementos([("first", n.first), ("prev", n.prev), ("", hit.timestamp), ("next", n.next),
                         ("last", n.last)], mod, url)]
    return _fit(links)


def _fit(links: list[str]) -> str:
    value = ", ".join(links)
    return value if len(value) <= HEADER_LIMIT else links[0]


def timemap_route(target: str) -> tuple[str, str | None, str] | None:
    """(kind, since or None, the URL as requested) of a /timemap/ request target, or None."""
    m = _TIMEMAP.fullmatch(target)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def timemap(engine: Engine, kind: str, url: str, since: str | None, size: int = PAGE_SIZE) -> Response:
    """The page of URL's TimeMap (KIND link or json) that begins at SINCE (1-14 digits; None:
    the first page); 404 when it has no memento there."""
    key = url_key(url) or ""
    page = timeline.mementos(engine, key, pad_timestamp(since) if since else None, size + 1) if key else []
    if not page:
        return Response(f"No capture of {quote_url(url)}" + (f" from {since} on" if since else "") + "\n",
                        status=404, headers=cdx_rows.HEADERS, content_type="text/plain; charset=utf-8")
    later = page[size].timestamp if len(page) > size else None
    page = page[:size]
    earlier = timeline.page_start_before(engine, key, page[0].timestamp, size) if since else None
    nav = [link(quote_url(url), "original"), link(timegate_uri(url), "timegate")]
    if earlier:
        nav.append(link(timemap_uri(url, kind, earlier), "prev", type=MEDIA_TYPES[kind]))
    if later:
        nav.append(link(timemap_uri(url, kind, later), "next", type=MEDIA_TYPES[kind]))
    headers = {**cdx_rows.HEADERS, "Link": _fit(nav)}
    if kind == "json":
        body = "".join(cdx_rows.line(cdx_rows.row_fields(h), "json") + "\n" for h in page)
        return Response(body, headers=headers, content_type=cdx_rows.CONTENT_TYPES["json"])
    first, last = page[0].timestamp, page[-1].timestamp
    lines = [link(timemap_uri(url, kind, since), "self", type=LINK_FORMAT, **{"from": http_date(first)},
                  until=http_date(last)),
             link(quote_url(url), "original"), link(timegate_uri(url), "timegate")]
    if earlier:
        lines.append(link(timemap_uri(url, kind, earlier), "timemap", type=LINK_FORMAT,
                          **{"from": http_date(earlier)}))
    if later:
        lines.append(link(timemap_uri(url, kind, later), "timemap", type=LINK_FORMAT, **{"from": http_date(later)}))
    for i, hit in enumerate(page):
        words = (["first"] if i == 0 and not earlier else []) + (["last"] if i == len(page) - 1 and not later else [])
        lines.append(_memento(hit.timestamp, "", hit.url, words))
    return Response(",\n".join(lines) + "\n", headers=headers, content_type=LINK_FORMAT)
