"""A capture's CDXJ index for its WACZ package (indexes/index.cdxj), from the catalog.

The lines are the ones beside each sealed WARC file (storage.catalog.cdxj: SURT key,
14-digit timestamp, JSON with url, mime, status, digest, length, offset, filename), for
every record of the capture, sorted byte for byte as `sort` in the C locale would, which is
what readers' binary searches assume. They come from the catalog, not from the .cdxj
files: the catalog's rows are the ones replay trusts and checks (a damaged .cdxj file
changes nothing here).

Rows are streamed in key order from the database (PostgreSQL is told to compare keys
bytewise, as SQLite does); only the lines of one SURT key and timestamp are held at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from sqlalchemy import Engine

from refuge.storage.catalog.cdxj import cdxj_line
from refuge.storage.catalog.index import hits_query, to_hit
from refuge.storage.catalog.schema import cdx

ROWS_PER_FETCH = 2000


def index_lines(engine: Engine, capture_id: str) -> Iterator[str]:
    """CAPTURE_ID's CDXJ lines, sorted, without line ends."""
    key = cdx.c.urlkey.collate("C") if engine.dialect.name == "postgresql" else cdx.c.urlkey
    query = hits_query().where(cdx.c.capture_id == capture_id).order_by(key, cdx.c.timestamp, cdx.c.id)
    group: list[str] = []
    group_key: tuple[str, str] | None = None
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=ROWS_PER_FETCH).execute(query):
            hit = to_hit(row)
            if (hit.urlkey, hit.timestamp) != group_key:
                yield from sorted(group)  # ties are ordered by the rest of the line
                group, group_key = [], (hit.urlkey, hit.timestamp)
            group.append(cdxj_line(dataclasses.asdict(hit), hit.filename))
    yield from sorted(group)
