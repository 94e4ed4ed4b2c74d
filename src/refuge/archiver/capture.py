"""One capture of one target: claim it, crawl it into sealed WARC files, record the outcome.

A capture is a function of (target, settings) that any process could run: all
state it shares lives in the catalog, and the catalog lets only one capture of a
target run at a time.

An interrupted capture (its process killed, or stopped) is resumed under its own id by
the next capture of its target, unless it started more than `resume_within` ago or
the caller asks for a fresh one: the files the killed run left are salvaged and
indexed (storage/warc/sealed.py), its journal is replayed (journal.py), and only what
was left to do is fetched. A capture that ends complete removes its journal.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from refuge.archiver import snapshot
from refuge.archiver.checkpoint import Checkpoints, fetch_journal, forget_lost
from refuge.archiver.crawl import Crawl, CrawlProgress, CrawlResult, Interrupted
from refuge.archiver.dbcrawl import DatabaseCrawl
from refuge.archiver.journal import JOURNAL_NAME
from refuge.archiver.rendered import browser_options
from refuge.archiver.warcwriter import SealedWarc
from refuge.archiver.worker import WorkerConfig
from refuge.config.dbspec import spec_from_dict
from refuge.config.errors import redact_text
from refuge.config.settings import Settings
from refuge.config.targets import TargetSpec, check_capturable, parse_duration
from refuge.formats.urls import canonical
from refuge.storage import catalog
from refuge.storage.catalog import index
from refuge.storage.replicate import queue_capture
from refuge.storage.warc import sealed
from refuge.storage.warc.files import warc_files

log = logging.getLogger(__name__)


def run_capture(settings: Settings, engine: Engine, name: str, stop: threading.Event | None = None,
                fresh: bool = False, progress: Callable[[CrawlProgress], None] | None = None) -> dict[str, Any]:
    """Capture target NAME now (resuming its interrupted capture unless FRESH) and
    return the capture's summary. PROGRESS, if given, hears how it goes a few times a second.

    Raises BadInput for an unknown target or an imported one (`refuge import`),
    catalog.AlreadyRunning if another live process is capturing it. A capture whose seed
    could not be captured is recorded as failed and its summary returned with status "failed".
    """
    target = catalog.get_target(engine, name)
    check_capturable(target.spec)  # an imported target's captures came from files, not its origin
    capture_id = _claim(settings, engine, target, fresh)
    began = time.monotonic()
    journal = _journal(settings, target.name, capture_id)
    crawl: Crawl | None = None
    # Distributed mode: sealed files and the journal go to S3 as the capture runs.
    checkpoints = Checkpoints(settings, engine, target.name, capture_id, journal) if settings.queue else None
    # From the claim on, whatever goes wrong (salvaging the killed run's files included)
    # ends the capture, which would otherwise stay 'running' under a live process.
    try:
        sealed.recover(engine, settings.data, settings.archive_dir, target.name, owned=capture_id)
        if checkpoints is not None:
            forget_lost(settings, engine, capture_id)  # begun on a machine that died: what it kept
        archived = _archived(engine, capture_id) if journal.exists() else None
        crawl = _crawl(settings, engine, target, capture_id, stop, journal, archived, progress, checkpoints)
        result = crawl.run()
    except BaseException as exc:
        if checkpoints is not None:
            checkpoints.close(complete=False)
        _end_on_error(settings, engine, capture_id, exc, crawl.result if crawl is not None else CrawlResult())
        raise
    error: str | None = None
    if result.seed_error:
        status, error = "failed", result.seed_error
    elif result.stopped:
        status, error = "interrupted", "stopped before the crawl finished"
    else:
        status = "complete"
        journal.unlink(missing_ok=True)  # nothing left to resume
    if checkpoints is not None:
        checkpoints.close(complete=status == "complete")
    catalog.add_failures(engine, capture_id, result.failures)
    catalog.finish_capture(engine, capture_id, status, _stats(engine, capture_id, result), error)
    snapshot_summary = None
    if isinstance(crawl, DatabaseCrawl) and status != "failed":
        # Read the records from what was just sealed; a crawl that stopped early still
        # gets its snapshot, marked incomplete.
        try:
            snapshot_summary = snapshot.build(engine, warc_files(settings, engine), capture_id, target.id,
                                              crawl.db, crawl.enumeration)
        except Exception as exc:  # noqa: BLE001 - the capture is sealed and kept; only its snapshot failed
            log.exception("capture %s: building the database snapshot failed", capture_id)
            snapshot_summary = {"error": f"building the snapshot failed: {type(exc).__name__}: {exc}"[:500]}
    try:
        # Sealed: write the manifest and queue every file for every configured store.
        queue_capture(settings, engine, capture_id)
    except Exception as exc:  # noqa: BLE001 - the capture succeeded; `refuge push` retries this
        log.error("capture %s: writing its manifest failed (`refuge push` retries): %s", capture_id, exc)
    summary = catalog.get_capture(engine, capture_id)
    summary["seconds"] = round(time.monotonic() - began, 3)
    summary["warcs"] = sorted(str(settings.data / f["path"]) for f in catalog.capture_files(engine, capture_id)
                              if f["kind"] == "warc")
    summary["failures"] = result.failures
    if result.resumed:
        summary["resumed"] = result.resumed
    if snapshot_summary is not None:
        summary["snapshot"] = snapshot_summary
    return summary


def _crawl(settings: Settings, engine: Engine, target: catalog.Target, capture_id: str,
           stop: threading.Event | None, journal: Path, archived: dict[str, tuple[str, int, int]] | None,
           progress: Callable[[CrawlProgress], None] | None, checkpoints: Checkpoints | None) -> Crawl:
    def on_sealed(warc: SealedWarc) -> None:
        sealed.register_sealed(engine, settings.data, capture_id, target.id, warc.path, warc.sha256,
                               warc.size, warc.records, warc.rows)
        if checkpoints is not None:
            checkpoints.sealed()

    database = database_spec(target.spec)
    config = WorkerConfig(settings=settings, target_id=target.id, target_name=target.name,
                          capture_id=capture_id, robots=target.spec.robots, number=0, database=database,
                          log_level=logging.getLogger().getEffectiveLevel(), coordinator=os.getpid(),
                          browser=browser_options(target.spec))
    crawl_kind = Crawl if database is None else partial(DatabaseCrawl, database=database)
    return crawl_kind(target.spec, settings, config, on_sealed, stop=stop,
                      heartbeat=lambda p: catalog.heartbeat(engine, capture_id, asdict(p)), journal=journal, archived=archived,
                      progress=progress)


def _end_on_error(settings: Settings, engine: Engine, capture_id: str, exc: BaseException,
                  result: CrawlResult) -> None:
    status = "interrupted" if isinstance(exc, (KeyboardInterrupt, Interrupted)) else "failed"
    catalog.add_failures(engine, capture_id, result.failures)
    catalog.finish_capture(engine, capture_id, status, _stats(engine, capture_id, result), _public_error(settings, exc))


def _public_error(settings: Settings, exc: BaseException) -> str:
    """What the catalog keeps of why a capture ended early. It may reach a published
    manifest: no server paths (the data directory is named as DATA) and no credentials;
    the admin saw the whole message on stderr and in the log."""
    if isinstance(exc, Interrupted):
        return "stopped: its files could not be written (a full disk?); the next capture resumes it"
    text = f"{type(exc).__name__}: {exc}"
    for prefix in (str(settings.data.resolve()) + os.sep, str(settings.data) + os.sep):
        text = text.replace(prefix, "DATA" + os.sep)
    return redact_text(text)[:1000]


def _claim(settings: Settings, engine: Engine, target: catalog.Target, fresh: bool) -> str:
    """The id of the capture to run: the target's interrupted one, reopened, or a new one."""
    catalog.reap_stale_captures(engine, settings.stale_capture_seconds, target_id=target.id)
    if not fresh:
        earlier = catalog.resumable_capture(engine, target, parse_duration(settings.resume_within))
        # Without its journal a capture cannot say what it did: it would be crawled again
        # into the same id, every URL twice. In distributed mode the journal of a capture
        # begun on another machine comes from S3.
        journaled = earlier is not None and (
            _journal(settings, target.name, earlier).exists()
            or (settings.queue != "" and fetch_journal(settings, target.name, earlier,
                                                       _journal(settings, target.name, earlier))))
        if journaled and catalog.reopen_capture(engine, target, earlier):
            log.info("capture %s of %s: resuming it", earlier, target.name)
            return earlier
    return catalog.start_capture(engine, target, settings.stale_capture_seconds)


def _journal(settings: Settings, target_name: str, capture_id: str) -> Path:
    """Where a capture's journal lies: beside its WARC files."""
    return settings.archive_dir / target_name / capture_id / JOURNAL_NAME


def _archived(engine: Engine, capture_id: str) -> dict[str, tuple[str, int, int]]:
    """What the capture holds already: canonical URL -> where its record is, a response
    rather than a revisit (which is read back through its original) if it has both."""
    held: dict[str, tuple[str, int, int]] = {}
    for hit in index.capture_hits(engine, capture_id):
        key = canonical(hit.url)
        if key not in held or hit.rectype == "response":
            held[key] = (hit.path, hit.offset, hit.length)
    return held


def database_spec(spec: TargetSpec) -> Any:
    """A database target's parsed spec, or None for a site."""
    if spec.kind != "database" or not spec.database:
        return None
    return spec_from_dict(json.loads(spec.database), f"target {spec.name}: spec")


def _stats(engine: Engine, capture_id: str, r: CrawlResult) -> dict[str, int]:
    """The capture's counts; its files and bytes from the catalog, so a resumed capture
    counts what its earlier runs sealed and what was salvaged of them too."""
    warcs = [f for f in catalog.capture_files(engine, capture_id) if f["kind"] == "warc"]
    return {"pages": r.pages, "requisites": r.requisites, "failed": len(r.failures), "revisits": r.revisits,
            "bytes": sum(f["size"] for f in warcs), "files": len(warcs)}
