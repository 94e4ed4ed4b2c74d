"""Finding captured records: by URL and time, by payload digest.

Every lookup is an indexed query on the catalog's cdx table (B-tree on
(urlkey, timestamp) and on (target_id, digest)), so its cost grows with the log of
the archive's size, not with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, Select, and_, or_, select

from refuge.formats.urls import surt_key
from refuge.storage.catalog.schema import cdx, files


@dataclass(frozen=True)
class Hit:
    """One indexed record and where its bytes are."""

    urlkey: str
    timestamp: str
    url: str
    mime: str
    status: int | None
    digest: str
    length: int
    offset: int
    rectype: str
    path: str  # relative to the data directory
    filename: str
    target_id: int
    capture_id: str


_COLUMNS = [cdx.c.urlkey, cdx.c.timestamp, cdx.c.url, cdx.c.mime, cdx.c.status, cdx.c.digest, cdx.c.length,
            cdx.c.offset, cdx.c.rectype, files.c.path, files.c.name.label("filename"), cdx.c.target_id,
            cdx.c.capture_id]


def url_key(url: str) -> str | None:
    """URL's SURT key; None for a URL too malformed to have one (it was never captured)."""
    try:
        return surt_key(url)
    except ValueError:
        return None


def _hit(row) -> Hit:
    return Hit(*row)  # _COLUMNS are in Hit's field order


def _base():
    return select(*_COLUMNS).join(files, files.c.id == cdx.c.file_id)


def hits_query() -> Select:
    """SELECT of every Hit column (the cdx table joined with files), for other catalog
    modules to narrow and order; read its rows with to_hit."""
    return _base()


def to_hit(row: Any) -> Hit:
    """The Hit of one row of hits_query()."""
    return _hit(row)


def closest(engine: Engine, url: str, timestamp: str | None = None, *,
            skip_redirects: bool = False) -> Hit | None:
    """The capture of URL nearest to TIMESTAMP (any prefix of 14 digits); the newest if None.

    Two indexed probes (the nearest at-or-before and the nearest after) and a
    comparison: never a scan. skip_redirects passes over 3xx captures: for a redirect to
    a URL with the same SURT key (http -> https, www. -> bare host), which would loop.
    """
    key = url_key(url)
    return None if key is None else closest_by_key(engine, key, timestamp, skip_redirects=skip_redirects)


def closest_by_key(engine: Engine, key: str, timestamp: str | None = None, *,
                   skip_redirects: bool = False) -> Hit | None:
    """closest() for a SURT key rather than a URL."""
    cond = cdx.c.urlkey == key
    if skip_redirects:
        cond = and_(cond, or_(cdx.c.status.is_(None), cdx.c.status < 300, cdx.c.status >= 400))
    newest = (cdx.c.timestamp.desc(), cdx.c.id.desc())
    with engine.connect() as conn:
        if timestamp is None:
            row = conn.execute(_base().where(cond).order_by(*newest).limit(1)).first()
            return _hit(row) if row else None
        ts = pad_timestamp(timestamp)
        before = conn.execute(_base().where(and_(cond, cdx.c.timestamp <= ts)).order_by(*newest).limit(1)).first()
        after = conn.execute(_base().where(and_(cond, cdx.c.timestamp > ts))
                             .order_by(cdx.c.timestamp.asc(), cdx.c.id.asc()).limit(1)).first()
    candidates = [r for r in (before, after) if r is not None]
    if not candidates:
        return None
    return _hit(min(candidates, key=lambda r: abs(_seconds(r.timestamp) - _seconds(ts))))


def captures_of(engine: Engine, url: str, limit: int = 1000) -> list[Hit]:
    """Every capture of URL, oldest first."""
    key = url_key(url)
    if key is None:
        return []
    with engine.connect() as conn:
        rows = conn.execute(_base().where(cdx.c.urlkey == key)
                            .order_by(cdx.c.timestamp.asc(), cdx.c.id.asc()).limit(limit))
        return [_hit(r) for r in rows]


def original_of(engine: Engine, target_id: int, digest: str, not_after: str | None = None) -> Hit | None:
    """The earliest full response with this payload digest: what a revisit record stands for."""
    cond = and_(cdx.c.target_id == target_id, cdx.c.digest == digest, cdx.c.rectype == "response")
    if not_after is not None:
        cond = and_(cond, cdx.c.timestamp <= not_after)
    with engine.connect() as conn:
        row = conn.execute(_base().where(cond).order_by(cdx.c.timestamp.asc(), cdx.c.id.asc()).limit(1)).first()
    return _hit(row) if row else None


def capture_hits(engine: Engine, capture_id: str) -> list[Hit]:
    """Every indexed record of one capture, in the order they were indexed."""
    with engine.connect() as conn:
        return [_hit(r) for r in conn.execute(capture_query(capture_id))]


def capture_query(capture_id: str) -> Select:
    """The query capture_hits runs."""
    return _base().where(cdx.c.capture_id == capture_id).order_by(cdx.c.id)


def has_records(engine: Engine, target_id: int) -> bool:
    """Whether any capture of the target has indexed records yet."""
    with engine.connect() as conn:
        return conn.execute(select(cdx.c.id).where(cdx.c.target_id == target_id).limit(1)).first() is not None


def pad_timestamp(ts: str) -> str:
    """A timestamp prefix means its earliest moment, as in Wayback URLs: '2023' -> '20230101000000'."""
    ts = "".join(c for c in ts if c.isdigit())[:14]
    defaults = "00000101000000"
    return ts + defaults[len(ts):]


def timestamp_seconds(ts: str) -> float:
    """Seconds since the epoch of a timestamp (padded as pad_timestamp pads it), for
    comparing distances in time."""
    return _seconds(ts)


def _seconds(ts: str) -> float:
    ts = pad_timestamp(ts)
    try:
        return datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return float(ts)


def key_range(prefix: str) -> tuple[str, str]:
    """[low, high) bounds of every SURT key that starts with PREFIX ('org,example)/' ->
    ('org,example)/', 'org,example)0'))."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def host_prefix(url: str) -> str | None:
    """The SURT key prefix of every URL on URL's host: 'https://www.example.org/a' -> 'org,example)/'."""
    key = url_key(url)
    if key is None:
        return None
    return key[: key.index(")") + 2] if ")" in key else key


def urls_under(engine: Engine, prefix: str, limit: int = 20) -> list[Hit]:
    """Up to LIMIT distinct captured URLs whose SURT key starts with PREFIX, in key order,
    each with its earliest capture.

    One indexed probe per URL (the first row with a key greater than the last one
    seen), so a host with a million captures costs LIMIT probes, never a scan.
    """
    low, high = key_range(prefix)
    hits: list[Hit] = []
    with engine.connect() as conn:
        last: str | None = None
        while len(hits) < limit:
            lower = cdx.c.urlkey >= low if last is None else cdx.c.urlkey > last
            row = conn.execute(_base().where(and_(lower, cdx.c.urlkey < high))
                               .order_by(cdx.c.urlkey.asc(), cdx.c.timestamp.asc()).limit(1)).first()
            if row is None:
                break
            hits.append(_hit(row))
            last = row.urlkey
    return hits
