"""Revisit dedup as a capture writes: each exchange becomes a `response` record, or a
`revisit` of the same payload already archived for this target.

    Recorder(engine, target_id, writers)(exchange) -> "response" | "revisit"
"""

from __future__ import annotations

import threading
from typing import Any

from refuge.archiver.fetch import Exchange
from refuge.archiver.warcwriter import RollingWarcWriter, timestamp14, warc_date
from refuge.storage.catalog import index


class Recorder:
    """Writes each exchange as a response, or as a revisit when the same payload was
    already archived for this target (earlier in this worker's share of the capture, or
    in an earlier capture).

    A revisit only ever points at a record already written, dated no later than its own
    date: replay and export look its original up that way (index.original_of with
    not_after), and a kill between the two writes must not leave a revisit of nothing.
    Two identical payloads fetched at once may then both be written whole.
    """

    def __init__(self, engine: Any, target_id: int, writers: RollingWarcWriter) -> None:
        self.engine = engine
        self.target_id = target_id
        self.writers = writers
        # A first capture has nothing earlier to match: skip a query per response.
        self._history = index.has_records(engine, target_id)
        self._lock = threading.Lock()
        self._written: dict[str, tuple[str, str]] = {}  # digest -> (url, WARC-Date) written whole here

    def __call__(self, ex: Exchange) -> str:
        if not (200 <= ex.status < 300) or ex.length == 0:
            self.writers.write_response(ex)
            return "response"
        original = self._earlier(ex) or self._written_before(ex)
        if original is not None:
            self.writers.write_revisit(ex, *original)
            return "revisit"
        self.writers.write_response(ex)
        self._remember(ex)
        return "response"

    def _written_before(self, ex: Exchange) -> tuple[str, str] | None:
        with self._lock:
            original = self._written.get(ex.payload_digest)
        # WARC dates in this form sort as the moments they name.
        return original if original is not None and original[1] <= warc_date(ex) else None

    def _remember(self, ex: Exchange) -> None:
        with self._lock:
            known = self._written.get(ex.payload_digest)
            if known is None or warc_date(ex) < known[1]:  # the earliest serves the most revisits
                self._written[ex.payload_digest] = (ex.url, warc_date(ex))

    def _earlier(self, ex: Exchange) -> tuple[str, str] | None:
        if not self._history:
            return None
        hit = index.original_of(self.engine, self.target_id, ex.payload_digest, not_after=timestamp14(ex))
        if hit is None:
            return None
        ts = hit.timestamp
        return hit.url, f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"
