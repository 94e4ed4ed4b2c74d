"""Reading the CDX index the way a CDX server does (/cdx): a range of SURT keys, in index
order, bounded.

    search_range(url, match_type) -> KeyRange           the keys a query covers, as pywb computes them
    scan(engine, rng, *, since, until, reverse, skip, cap) -> Rows   index order (or backwards)
    around(engine, key, ts, *, since, until, cap) -> Rows            one key's rows, nearest TS first
    count(engine, rng, *, since, until, cap) -> int                  rows of the range, counted up to CAP

Contract:
- Every query reads the cdx table through its (urlkey, timestamp) B-tree: an exact key is
  an equality, a prefix, host or domain a range ``urlkey >= low AND urlkey < high``. None
  reads more than CAP rows (an SQL LIMIT), so a request costs at most CAP rows whatever
  the archive's size, and ``Rows.capped`` says when CAP cut the reading short.
- Order is pywb's: urlkey, then timestamp, then the order rows were indexed (id).
- SINCE and UNTIL are 14-digit timestamps, inclusive. For an exact key they narrow the
  B-tree seek; for a range (where the index is ordered by key first) they are applied to
  the index entries read, which so count towards CAP, and whole rows are read only for
  the entries inside: a time window over a whole domain costs CAP index entries at most,
  never a walk of the domain.
- Rows skipped (pages) are passed over in the index alone, not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select, tuple_

from refuge.config.errors import BadInput
from refuge.storage.catalog.index import Hit, hits_query, timestamp_seconds, to_hit, url_key
from refuge.storage.catalog.schema import cdx

MATCH_TYPES = ("exact", "prefix", "host", "domain")
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


@dataclass(frozen=True)
class KeyRange:
    """SURT keys from LOW (inclusive) to HIGH (exclusive); EXACT: the one key LOW."""

    low: str
    high: str
    exact: bool = False


def search_range(url: str, match_type: str) -> KeyRange:
    """The keys a CDX query for URL covers (pywb's calc_search_range, with SURT ordering).

    exact: URL's key. prefix: every key starting with it (a trailing '/' or '?' of URL
    kept). host: every key of URL's host ('org,example)/' ...). domain: the host and its
    subdomains ('org,example)/' up to 'org,example-', so 'org,example,news)/' too); a bare
    suffix ('org') covers every host under it. BadInput naming the url for one with no key.
    """
    if match_type not in MATCH_TYPES:
        raise BadInput(f"matchType: {match_type!r} is not one of {', '.join(MATCH_TYPES)}")
    absolute = url if _HAS_SCHEME.match(url) else "http://" + url.lstrip("/")
    key = url_key(absolute)
    if not key:
        raise BadInput(f"url: {url[:200]!r} is not a URL an archive can hold")
    if match_type == "exact":
        return KeyRange(key, key + "!", exact=True)
    if match_type == "prefix":
        if url.endswith("/") and not key.endswith("/"):
            key += "/"
        if url.endswith("?") and not key.endswith("?"):
            key += "?"
        return KeyRange(key, _next_key(key))
    host = key.split(")/", 1)[0]
    if match_type == "host":
        return KeyRange(host + ")/", host + "*")
    # domain: ',' sorts between ')' and '-', so [host')/', host'-') holds the host and its subdomains
    return KeyRange(host + ("," if "," not in host else ")/"), host + "-")


def _next_key(key: str) -> str:
    return key[:-1] + chr(ord(key[-1]) + 1)


class Rows:
    """Hits read lazily from one query (or two, for around); ``capped`` once CAP rows were
    read, so that more may exist. Iterate once, inside ``with``: leaving closes the
    connection, so a caller that stops early reads no further."""

    def __init__(self, reader: Callable[["Rows"], Generator[Hit, None, None]]) -> None:
        self.read = 0
        self.capped = False
        self._hits = reader(self)

    def __enter__(self) -> "Rows":
        return self

    def __exit__(self, *exc: object) -> None:
        self._hits.close()

    def __iter__(self) -> Iterator[Hit]:
        return self._hits


def scan(engine: Engine, rng: KeyRange, *, since: str | None = None, until: str | None = None,
         reverse: bool = False, skip: int = 0, cap: int) -> Rows:
    """RNG's rows in index order (REVERSE: backwards) from the SKIP-th row on, reading at
    most CAP rows; those outside [SINCE, UNTIL] left out (see the module's contract).

    SKIP rows are passed over in the index alone (the B-tree holds urlkey, timestamp and
    id), and the rows read begin where that left off: a page a million rows deep costs a
    walk of the index's leaves, not a million rows."""
    cond = _keys(rng, since, until)
    columns = (cdx.c.urlkey, cdx.c.timestamp, cdx.c.id)
    order = [c.desc() for c in columns] if reverse else list(columns)

    def read(rows: Rows) -> Generator[Hit, None, None]:
        with engine.connect() as conn:
            where = cond
            if skip:
                start = conn.execute(select(*columns).where(cond).order_by(*order).offset(skip).limit(1)).first()
                if start is None:
                    return
                where = _from_row(rng, since, until, tuple(start), reverse)
            streamed = conn.execution_options(stream_results=True, max_row_buffer=500)
            if rng.exact or not (since or until):
                for row in streamed.execute(hits_query().where(where).order_by(*order).limit(cap)):
                    rows.read += 1
                    rows.capped = rows.read >= cap
                    yield to_hit(row)
                return
            # A time window over a range: read the index alone, and whole rows only for the
            # entries inside the window, BATCH at a time (in the same order).
            wanted: list[int] = []
            for key, ts, row_id in streamed.execute(select(*columns).where(where).order_by(*order).limit(cap)):
                rows.read += 1
                rows.capped = rows.read >= cap
                if _within(ts, since, until):
                    wanted.append(row_id)
                    if len(wanted) == BATCH:
                        yield from _rows_by_id(conn, wanted)
                        wanted = []
            yield from _rows_by_id(conn, wanted)

    return Rows(read)


BATCH = 200


def _rows_by_id(conn: Any, ids: list[int]) -> Iterator[Hit]:
    """The rows IDS name (primary-key lookups), in the order of IDS."""
    if ids:
        found = {r[-1]: to_hit(r[:-1]) for r in conn.execute(hits_query().add_columns(cdx.c.id)
                                                             .where(cdx.c.id.in_(ids)))}
        yield from (found[i] for i in ids)


def around(engine: Engine, key: str, ts: str, *, since: str | None = None, until: str | None = None,
           cap: int) -> Rows:
    """KEY's rows nearest to TS first (pywb's sort=closest): two B-tree walks, backwards from
    TS and forwards after it, merged by distance; equally near rows in index order. At
    most CAP rows read in all."""
    target = timestamp_seconds(ts)
    cond = and_(cdx.c.urlkey == key, *_window(since, until))
    before_q = (hits_query().where(and_(cond, cdx.c.timestamp <= ts))
                .order_by(cdx.c.timestamp.desc(), cdx.c.id.desc()).limit(cap))
    after_q = (hits_query().where(and_(cond, cdx.c.timestamp > ts))
               .order_by(cdx.c.timestamp.asc(), cdx.c.id.asc()).limit(cap))

    def read(rows: Rows) -> Generator[Hit, None, None]:
        with engine.connect() as conn:
            streamed = conn.execution_options(stream_results=True, max_row_buffer=100)
            before = _groups((to_hit(r) for r in streamed.execute(before_q)), backwards=True)
            after = _groups((to_hit(r) for r in streamed.execute(after_q)), backwards=False)
            heads = [next(before, None), next(after, None)]
            while heads[0] is not None or heads[1] is not None:
                # the nearer group; of two as near, the earlier (pywb's order)
                side = min((i for i in (0, 1) if heads[i] is not None),
                           key=lambda i: (abs(timestamp_seconds(heads[i][0].timestamp) - target),
                                          heads[i][0].timestamp))
                for hit in heads[side]:
                    if rows.read >= cap:
                        rows.capped = True
                        return
                    rows.read += 1
                    yield hit
                heads[side] = next(before if side == 0 else after, None)

    return Rows(read)


def _groups(hits: Iterator[Hit], backwards: bool) -> Iterator[list[Hit]]:
    """Runs of equal timestamps, each in index order (a BACKWARDS walk meets them reversed)."""
    group: list[Hit] = []
    for hit in hits:
        if group and hit.timestamp != group[0].timestamp:
            yield group[::-1] if backwards else group
            group = []
        group.append(hit)
    if group:
        yield group[::-1] if backwards else group


def count(engine: Engine, rng: KeyRange, *, since: str | None = None, until: str | None = None, cap: int) -> int:
    """How many rows RNG holds (for an exact key: within [SINCE, UNTIL]), counting at most CAP."""
    inner = select(cdx.c.id).where(_keys(rng, since, until)).limit(cap).subquery()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def _keys(rng: KeyRange, since: str | None, until: str | None) -> Any:
    """The rows of RNG: a key (within [SINCE, UNTIL]: the B-tree seeks there), or a key range."""
    if rng.exact:
        return and_(cdx.c.urlkey == rng.low, *_window(since, until))
    return and_(cdx.c.urlkey >= rng.low, cdx.c.urlkey < rng.high)


def _from_row(rng: KeyRange, since: str | None, until: str | None, start: tuple[str, str, int],
              reverse: bool) -> Any:
    """The rows of RNG from START (urlkey, timestamp, id) on, in the direction read. START's
    key replaces the range's bound on that side, so that the B-tree seeks there (given both
    bounds, SQLite takes the range's); the row value then places START among its key's rows."""
    key, ts, row_id = start
    if rng.exact:
        after = tuple_(cdx.c.timestamp, cdx.c.id) <= (ts, row_id) if reverse else \
            tuple_(cdx.c.timestamp, cdx.c.id) >= (ts, row_id)
        return and_(_keys(rng, since, until), after)
    whole = tuple_(cdx.c.urlkey, cdx.c.timestamp, cdx.c.id)
    if reverse:
        return and_(cdx.c.urlkey >= rng.low, cdx.c.urlkey <= key, whole <= start)
    return and_(cdx.c.urlkey >= key, cdx.c.urlkey < rng.high, whole >= start)


def _window(since: str | None, until: str | None) -> list:
    parts = []
    if since:
        parts.append(cdx.c.timestamp >= since)
    if until:
        parts.append(cdx.c.timestamp <= until)
    return parts


def _within(ts: str, since: str | None, until: str | None) -> bool:
    return (not since or ts >= since) and (not until or ts <= until)
