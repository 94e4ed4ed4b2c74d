"""What one capture's records say, read from the catalog and the WARC files in one go.

For a reader that plans from a whole capture (the static export): its indexed records,
for each revisit the record holding its payload, for each redirect the Location it
carries. Nothing is read later: whoever holds a CaptureRecords can decide without I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from refuge.config.errors import Failure
from refuge.storage.catalog.index import Hit, capture_hits, original_of
from refuge.storage.warc.files import WarcFiles
from refuge.storage.warc.payloads import redirect_target


@dataclass(frozen=True)
class CaptureRecords:
    """HITS: every indexed record of the capture, in the order they were indexed.
    ORIGINALS: each revisit -> the earliest response of the same target with its payload
    digest, not after the revisit's timestamp (None: not in the archive).
    LOCATIONS: each 3xx response or revisit -> its own Location header, stripped (None:
    it has none). UNREADABLE: each 3xx whose record could not be read -> why."""

    hits: list[Hit]
    originals: Mapping[Hit, Hit | None]
    locations: Mapping[Hit, str | None]
    unreadable: Mapping[Hit, str]


def _is_redirect(hit: Hit) -> bool:
    return hit.rectype in ("response", "revisit") and hit.status is not None and 300 <= hit.status < 400


def read_capture_records(engine: Engine, files: WarcFiles, capture_id: str) -> CaptureRecords:
    """Everything about CAPTURE_ID's records that its hits alone do not say (FILES: where
    its sealed files are read)."""
    hits = capture_hits(engine, capture_id)
    earliest: dict[tuple[int, str], Hit | None] = {}
    originals: dict[Hit, Hit | None] = {}
    locations: dict[Hit, str | None] = {}
    unreadable: dict[Hit, str] = {}
    for hit in hits:
        if hit.rectype == "revisit":
            ref = (hit.target_id, hit.digest)
            if ref not in earliest:
                # The earliest response of all is the earliest not after any timestamp at or
                # after its own: one query per payload, however many revisits share it.
                earliest[ref] = original_of(engine, hit.target_id, hit.digest)
            first = earliest[ref]
            originals[hit] = first if first is not None and first.timestamp <= hit.timestamp else None
        if _is_redirect(hit):
            try:
                locations[hit] = redirect_target(files, hit)
            except Failure as exc:
                unreadable[hit] = str(exc)
    return CaptureRecords(hits, originals, locations, unreadable)
