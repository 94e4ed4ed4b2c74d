"""One capture of one target: claim it, crawl it into sealed WARC files, record the outcome.

A capture is a function of (target, settings) that any process could run: all
state it shares lives in the catalog, and the catalog lets only one capture of a
target run at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine

from refuge.archiver.crawl import Crawl
from refuge.archiver.fetch import Exchange
from refuge.archiver.warcwriter import RollingWarcWriter, SealedWarc, warcinfo_fields
from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.storage import catalog, index, warcfiles

log = logging.getLogger(__name__)


def run_capture(settings: Settings, engine: Engine, name: str,
                stop: threading.Event | None = None) -> dict[str, Any]:
    """Capture target NAME now and return the capture's summary.

    Raises BadInput for an unknown target, catalog.AlreadyRunning if another live
    process is capturing it. A capture whose seed could not be captured is recorded
    as failed and its summary returned with status "failed".
    """
    target = catalog.get_target(engine, name)
    capture_id = catalog.start_capture(engine, target, settings.stale_capture_seconds)
    warcfiles.recover(engine, settings.data, settings.archive_dir)
    began = time.monotonic()
    sealed: list[SealedWarc] = []

    def on_seal(warc: SealedWarc) -> None:
        warcfiles.register_sealed(engine, settings.data, capture_id, target.id, warc.path, warc.sha256,
                                  warc.size, warc.records, warc.rows)
        sealed.append(warc)

    writer = RollingWarcWriter(
        settings.archive_dir / target.name / capture_id, f"{target.name}-{capture_id}", settings.warc_max_bytes,
        warcinfo_fields(target.name, settings.user_agent, target.spec.robots), on_seal,
    )
    recorder = _Recorder(engine, target.id, writer)
    crawl = Crawl(target.spec, settings, recorder, stop=stop,
                  heartbeat=lambda: catalog.heartbeat(engine, capture_id))
    error: str | None = None
    try:
        result = crawl.run()
        writer.close()
    except BaseException as exc:
        # Records already written are whole: seal them so they stay readable.
        try:
            writer.close()
        finally:
            stats = _stats(sealed, crawl)
            catalog.finish_capture(engine, capture_id, "failed" if not isinstance(exc, KeyboardInterrupt)
                                   else "interrupted", stats, f"{type(exc).__name__}: {exc}"[:1000])
        raise
    if result.seed_error:
        status, error = "failed", result.seed_error
    elif result.stopped:
        status, error = "interrupted", "stopped before the crawl finished"
    else:
        status = "complete"
    catalog.add_failures(engine, capture_id, result.failures)
    catalog.finish_capture(engine, capture_id, status, _stats(sealed, crawl), error)
    summary = catalog.get_capture(engine, capture_id)
    summary["seconds"] = round(time.monotonic() - began, 3)
    summary["warcs"] = [str(w.path) for w in sealed]
    summary["failures"] = result.failures
    return summary


def _stats(sealed: list[SealedWarc], crawl: Crawl) -> dict[str, int]:
    r = crawl.result
    return {"pages": r.pages, "requisites": r.requisites, "failed": len(r.failures), "revisits": r.revisits,
            "bytes": sum(w.size for w in sealed), "files": len(sealed)}


class _Recorder:
    """Writes each exchange as a response, or as a revisit when the same payload was
    already archived for this target (earlier in this capture or in an earlier one)."""

    def __init__(self, engine: Engine, target_id: int, writer: RollingWarcWriter) -> None:
        self.engine = engine
        self.target_id = target_id
        self.writer = writer
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[str, str]] = {}  # digest -> (url, WARC-Date) in this capture

    def __call__(self, ex: Exchange) -> str:
        if not (200 <= ex.status < 300) or ex.length == 0:
            self.writer.write_response(ex)
            return "response"
        original = self._original(ex.payload_digest)
        if original is not None:
            self.writer.write_revisit(ex, *original)
            return "revisit"
        with self._lock:
            original = self._seen.get(ex.payload_digest)
            if original is None:
                self._seen[ex.payload_digest] = (ex.url, ex.started.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if original is not None:
            self.writer.write_revisit(ex, *original)
            return "revisit"
        self.writer.write_response(ex)
        return "response"

    def _original(self, digest: str) -> tuple[str, str] | None:
        hit = index.original_of(self.engine, self.target_id, digest)
        if hit is None:
            return None
        ts = hit.timestamp
        return hit.url, f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"


def require_complete(summary: dict[str, Any]) -> None:
    if summary["status"] == "failed":
        raise Failure(summary.get("error") or "capture failed")
