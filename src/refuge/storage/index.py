"""Finding captured records: by URL and time, by payload digest.

Every lookup is an indexed query on the catalog's cdx table (B-tree on
(urlkey, timestamp) and on (target_id, digest)), so its cost grows with the log of
the archive's size, not with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, and_, select

from refuge.formats.urls import surt_key
from refuge.storage.schema import cdx, files


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


def _hit(row) -> Hit:
    return Hit(**row._mapping)


def _base():
    return select(*_COLUMNS).join(files, files.c.id == cdx.c.file_id)


def closest(engine: Engine, url: str, timestamp: str | None = None) -> Hit | None:
    """The capture of URL nearest to TIMESTAMP (any prefix of 14 digits); the newest if None.

    Two indexed probes (the nearest at-or-before and the nearest after) and a
    comparison: never a scan.
    """
    key = surt_key(url)
    with engine.connect() as conn:
        if timestamp is None:
            row = conn.execute(_base().where(cdx.c.urlkey == key)
                               .order_by(cdx.c.timestamp.desc(), cdx.c.id.desc()).limit(1)).first()
            return _hit(row) if row else None
        ts = pad_timestamp(timestamp)
        before = conn.execute(_base().where(and_(cdx.c.urlkey == key, cdx.c.timestamp <= ts))
                              .order_by(cdx.c.timestamp.desc(), cdx.c.id.desc()).limit(1)).first()
        after = conn.execute(_base().where(and_(cdx.c.urlkey == key, cdx.c.timestamp > ts))
                             .order_by(cdx.c.timestamp.asc(), cdx.c.id.asc()).limit(1)).first()
    candidates = [r for r in (before, after) if r is not None]
    if not candidates:
        return None
    target = int(ts)
    best = min(candidates, key=lambda r: abs(_seconds(r.timestamp) - _seconds(str(target))))
    return _hit(best)


def captures_of(engine: Engine, url: str, limit: int = 1000) -> list[Hit]:
    """Every capture of URL, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(_base().where(cdx.c.urlkey == surt_key(url))
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


def hit_path(data_dir: Path, hit: Hit) -> Path:
    return data_dir / hit.path


def pad_timestamp(ts: str) -> str:
    """A timestamp prefix means its earliest moment, as in Wayback URLs: '2023' -> '20230101000000'."""
    ts = "".join(c for c in ts if c.isdigit())[:14]
    defaults = "00000101000000"
    return ts + defaults[len(ts):]


def _seconds(ts: str) -> float:
    ts = pad_timestamp(ts)
    try:
        return datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return float(ts)
