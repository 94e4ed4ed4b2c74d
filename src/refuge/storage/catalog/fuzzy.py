"""Finding a capture of a URL that scripts made different each time: cache-busting queries.

A page's scripts often add a parameter whose only job is to defeat caches
(``/api/articles?page=1&_=1732750907123``): the URL a replayed page asks for is never the
one that was captured. When the exact URL is not in the index, closest_fuzzy answers with
(as pywb's fuzzy-match rules do):

1. the capture of the same URL without those parameters, if there is one; else
2. the capture closest in time among the URLs of the same path whose query differs from
   the one asked for only in those parameters (their names and values, present or not).

Which parameters are busters (is_buster; names compared lowercased, as SURT keys are):
the names that mean nothing else (CACHE_BUSTERS: jQuery's ``_``, ExtJS's ``_dc``, ``cb``,
``nocache``...), whatever their value; and the generic names scripts also use for one
(TIME_NAMES: ``t``, ``ts``, ``time``, ``rand``...) only when the value reads as one: a Unix
time (10 digits: seconds, 13: milliseconds), a Math.random() (``0.`` and many digits) or a
random token (8 characters or more of hex or base 36, letters and digits mixed). Those names
name content too (phpBB's ``viewtopic.php?t=202``, ``archive?time=2024-01``), and another
topic or month must never stand for the one asked for; nor a parameter that names content
(``page``, ``id``, ``v`` for an asset's version), whatever its value.

The lookup stays on the B-tree of (urlkey, timestamp): one or two exact probes, then two
range reads of at most SCAN_ROWS index entries in all (key and time: the index alone
answers) among the keys that start with the path and '?', on either side of a pivot; the
closest in time of those that match is then read as any capture is. The pivot is where the
captures made at the time asked for sort, when the buster is that time (Date.now(), as
jQuery's ``_`` is: a value of 13 digits is read as milliseconds, of 10 as seconds, since
1970): it is the key asked for with such a value replaced by the time asked for. So a path
captured with a new cache-buster every few hours for years costs SCAN_ROWS entries, never a
scan, and finds the captures of its time; a buster that is not a time (a random number)
finds what lies within the bound of the pivot.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, and_, select

from refuge.storage.catalog.index import Hit, closest_by_key, key_range, timestamp_seconds, url_key
from refuge.storage.catalog.schema import cdx

CACHE_BUSTERS = frozenset({
    "_", "__", "_dc", "_cb", "cb", "cachebuster", "cachebust", "cache_buster", "cache-buster",
    "bust", "nocache", "no_cache", "no-cache",
})
TIME_NAMES = frozenset({"_t", "_ts", "nc", "t", "ts", "timestamp", "time", "rnd", "rand", "random"})
_BUSTER_VALUE = re.compile(r"\d{10}|\d{13}|0\.\d{6,}|(?=[0-9a-z]*[0-9])(?=[0-9a-z]*[a-z])[0-9a-z]{8,}", re.I)
SCAN_ROWS = 2000  # index entries of the same path read: bounds the work of one lookup


def is_buster(name: str, value: str) -> bool:
    """Whether a query parameter NAME=VALUE (as in a SURT key) only defeats caches."""
    return name in CACHE_BUSTERS or (name in TIME_NAMES and _BUSTER_VALUE.fullmatch(value) is not None)


def without_busters(key: str) -> str:
    """A SURT key with the cache-busting parameters of its query removed (the rest kept in
    their order; a query left empty goes with its '?')."""
    path, mark, query = key.partition("?")
    if not mark:
        return key
    kept = [p for p in query.split("&") if p and not _buster_param(p)]
    return path + ("?" + "&".join(kept) if kept else "")


def _buster_param(param: str) -> bool:
    name, _, value = param.partition("=")
    return is_buster(name, value)


def _pivot(key: str, timestamp: str) -> str:
    """KEY with each cache-buster value that reads as a time since 1970 (13 digits:
    milliseconds; 10: seconds) replaced by TIMESTAMP's: where captures made then sort."""
    path, _, query = key.partition("?")
    seconds = int(timestamp_seconds(timestamp))
    parts = []
    for param in query.split("&"):
        name, eq, value = param.partition("=")
        if is_buster(name, value) and value.isdigit() and len(value) in (10, 13):
            value = str(seconds * 1000 if len(value) == 13 else seconds).zfill(len(value))
        parts.append(name + eq + value)
    return path + "?" + "&".join(parts)


def closest_fuzzy(engine: Engine, url: str, timestamp: str | None = None) -> Hit | None:
    """The capture of URL closest to TIMESTAMP, as index.closest; when URL itself was never
    captured, a capture that differs from it only in cache-busting parameters (see the
    module's docstring), or None."""
    key = url_key(url)
    if key is None:
        return None
    hit = closest_by_key(engine, key, timestamp)
    if hit is not None:
        return hit
    wanted = without_busters(key)
    if wanted != key:
        hit = closest_by_key(engine, wanted, timestamp)
        if hit is not None:
            return hit
    low, high = key_range(wanted.partition("?")[0] + "?")
    pivot = high if timestamp is None else _pivot(key, timestamp)
    columns = select(cdx.c.urlkey, cdx.c.timestamp)
    with engine.connect() as conn:
        after = conn.execute(columns.where(and_(cdx.c.urlkey >= pivot, cdx.c.urlkey < high))
                             .order_by(cdx.c.urlkey.asc(), cdx.c.timestamp.asc()).limit(SCAN_ROWS // 2)).all()
        rows = after + conn.execute(columns.where(and_(cdx.c.urlkey >= low, cdx.c.urlkey < pivot))
                                    .order_by(cdx.c.urlkey.desc(), cdx.c.timestamp.desc())
                                    .limit(SCAN_ROWS - len(after))).all()
    # Each parameter kept must be in a key that matches: a quick test before the exact one.
    kept = [p for p in wanted.partition("?")[2].split("&") if p]
    matches = [r for r in rows if all(p in r.urlkey for p in kept) and without_busters(r.urlkey) == wanted]
    if not matches:
        return None
    if timestamp is None:
        best = max(matches, key=lambda r: (r.timestamp, r.urlkey))
    else:
        when = timestamp_seconds(timestamp)
        best = min(matches, key=lambda r: (abs(timestamp_seconds(r.timestamp) - when), r.urlkey))
    return closest_by_key(engine, best.urlkey, best.timestamp)
