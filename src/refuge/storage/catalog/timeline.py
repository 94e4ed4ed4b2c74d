"""One URL's captures in time, as Memento (RFC 7089) sees them: first, last, the one before
and after a capture, and TimeMap pages.

    neighbours(engine, key, ts) -> Neighbours      first, prev, next, last timestamps around TS
    mementos(engine, key, since, size) -> list[Hit] up to SIZE mementos from SINCE on, oldest first
    page_start_before(engine, key, ts, size) -> str | None   where the page before TS's begins

Contract: a memento is a timestamp. /web/<ts>/<url> names a capture by its URL's SURT key
and its 14-digit timestamp, so captures of one key made in the same second (an http and
an https fetch, say) are one memento: the one replay serves for that second, the last
indexed. Every function here is one query of B-tree seeks on the cdx table's (urlkey,
timestamp) index: a URL's first, last, previous and next capture cost four seeks, a page
of N mementos reads the index rows of N seconds, whatever the URL's number of captures.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, select

from refuge.storage.catalog.index import Hit, hits_query, to_hit
from refuge.storage.catalog.schema import cdx


@dataclass(frozen=True)
class Neighbours:
    """Timestamps of a URL's first and last captures, and of those just before and after
    one capture (None where there is none)."""

    first: str | None
    prev: str | None
    next: str | None
    last: str | None


def neighbours(engine: Engine, key: str, ts: str) -> Neighbours:
    """KEY's first and last capture times, and the nearest before and after TS."""
    of_key = cdx.c.urlkey == key
    stamp = cdx.c.timestamp

    def probe(agg, *cond):  # one B-tree seek: min/max of an indexed column
        return select(agg(stamp)).where(and_(of_key, *cond)).scalar_subquery()

    query = select(probe(func.min), probe(func.max, stamp < ts), probe(func.min, stamp > ts), probe(func.max))
    with engine.connect() as conn:
        first, prev, nxt, last = conn.execute(query).one()
    return Neighbours(first, prev, nxt, last)


def mementos(engine: Engine, key: str, since: str | None, size: int) -> list[Hit]:
    """Up to SIZE mementos of KEY from SINCE (inclusive) on, oldest first: for each second,
    the capture replay serves (the last indexed)."""
    cond = cdx.c.urlkey == key
    if since:
        cond = and_(cond, cdx.c.timestamp >= since)
    seconds = (select(func.max(cdx.c.id)).where(cond).group_by(cdx.c.timestamp)
               .order_by(cdx.c.timestamp).limit(size))
    with engine.connect() as conn:
        ids = [row[0] for row in conn.execute(seconds)]
        if not ids:
            return []
        rows = conn.execute(hits_query().where(cdx.c.id.in_(ids)))  # by primary key; SIZE rows sorted here
        return sorted((to_hit(r) for r in rows), key=lambda h: h.timestamp)


def page_start_before(engine: Engine, key: str, ts: str, size: int) -> str | None:
    """The timestamp the page of SIZE mementos that ends just before TS begins at, or None
    when no memento of KEY is older than TS."""
    seconds = (select(cdx.c.timestamp).where(and_(cdx.c.urlkey == key, cdx.c.timestamp < ts))
               .group_by(cdx.c.timestamp).order_by(cdx.c.timestamp.desc()).limit(size).subquery())
    with engine.connect() as conn:
        return conn.execute(select(func.min(seconds.c.timestamp))).scalar()
