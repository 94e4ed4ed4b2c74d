"""Copying sealed captures to every configured store, from the queue in the catalog.

`push` is idempotent: a copy that is already where it belongs, with the right size
and SHA-256 (S3 metadata) or CID (IPFS pin and MFS link), is recorded without being
uploaded again, and a copy always goes to the same key or CID, so running it again
after a crash, a kill or a store outage finishes the work and never duplicates it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.storage.catalog import replicas
from refuge.storage.catalog.locks import attempt
from refuge.storage.catalog.schema import captures
from refuge.storage.manifest import ensure_manifest
from refuge.storage.stores.interface import FileRef, StoreError, StoreUnavailable, configured_store_names, open_store

log = logging.getLogger(__name__)

# A capture whose manifest cannot be written (a file damaged since it was sealed) waits
# this long before the scheduler reads its files again; `refuge push` always tries.
MANIFEST_RETRY_SECONDS = 3600.0
_unqueueable: dict[str, float] = {}  # capture id -> when the scheduler may try again (monotonic)


@dataclass
class PushReport:
    uploaded: list[dict[str, Any]] = field(default_factory=list)
    already_there: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    store_errors: dict[str, str] = field(default_factory=dict)
    pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.store_errors and self.pending == 0

    def as_dict(self) -> dict[str, Any]:
        return {"uploaded": self.uploaded, "already_there": self.already_there, "failed": self.failed,
                "store_errors": self.store_errors, "pending": self.pending, "ok": self.ok}


def finished_captures(engine: Engine, capture_ids: Iterable[str] | None = None) -> list[str]:
    query = select(captures.c.id).where(captures.c.status != "running").order_by(captures.c.id)
    if capture_ids is not None:
        query = query.where(captures.c.id.in_(list(capture_ids)))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def queue_capture(settings: Settings, engine: Engine, capture_id: str) -> list[FileRef]:
    """Write the capture's manifest if needed and queue all its files for every store."""
    refs = ensure_manifest(settings, engine, capture_id)
    replicas.enqueue(engine, refs, configured_store_names(settings))
    return refs


Progress = Callable[[int, "int | None", int], None]  # (files done, of how many, bytes)


def push(settings: Settings, engine: Engine, capture_ids: Iterable[str] | None = None, *,
         ignore_backoff: bool = True, progress: Progress | None = None) -> PushReport:
    """Do the pending replication now (of these captures, or of all).

    The CLI ignores the retry backoff (an admin asking now means now); the scheduler's
    tick respects it so a store that is down is not hammered. PROGRESS hears of each
    copy made or found there (from one thread per store).
    """
    report = PushReport()
    wanted = None if capture_ids is None else list(capture_ids)
    now = time.monotonic()
    for capture_id in replicas.needing_queue(engine, configured_store_names(settings), wanted):
        if not ignore_backoff and _unqueueable.get(capture_id, 0.0) > now:
            continue  # its manifest failed lately (a damaged file): not re-read every tick
        try:
            queue_capture(settings, engine, capture_id)
            _unqueueable.pop(capture_id, None)
        except Failure as exc:  # a damaged local file: the other captures still go
            _unqueueable[capture_id] = now + MANIFEST_RETRY_SECONDS
            report.failed.append({"capture": capture_id, "store": "local", "file": None, "error": str(exc)})
    names = [n for n in configured_store_names(settings) if n != "local"]
    work = replicas.due(engine, settings.data, names, wanted, ignore_backoff=ignore_backoff)
    by_store: dict[str, list[FileRef]] = {}
    for f, store, _attempts in work:
        by_store.setdefault(store, []).append(f)
    counted = _counter(len(work), progress)
    # Stores are independent: one slow or dead store must not hold up the others.
    with ThreadPoolExecutor(max_workers=max(len(by_store), 1)) as pool:
        for future in [pool.submit(_push_store, settings, engine, name, refs, report, counted)
                       for name, refs in by_store.items()]:
            future.result()
    report.pending = replicas.pending_count(engine, names) if names else 0
    if settings.s3 is not None and not settings.s3.keep_local:
        drop_local(settings, engine, names, wanted)
    return report


def drop_local(settings: Settings, engine: Engine, stores: list[str], capture_ids: list[str] | None) -> int:
    """keep_local = false: delete the local copy of each file every other store holds,
    once S3 confirms its copy (size and SHA-256); how many went. Marked in the catalog
    before the file goes, so a crash between the two leaves a file, never a hole."""
    s3 = open_store(settings, "s3")
    dropped = 0
    for f in replicas.local_to_drop(engine, settings.data, stores, capture_ids):
        if not f.local_path.exists():
            continue  # another machine's copy (the local store is each machine's own disk)
        try:
            confirmed = s3.has(f)
        except StoreError as exc:
            log.warning("keeping local copies for now: %s", exc)
            break
        if not confirmed:
            log.warning("%s: S3 does not show the copy recorded as there; keeping the local one", f.relative)
            continue
        replicas.mark_dropped(engine, f)
        f.local_path.unlink(missing_ok=True)
        dropped += 1
    return dropped


def push_sealed(settings: Settings, engine: Engine, capture_id: str, store: str) -> PushReport:
    """Copy the files CAPTURE_ID has sealed so far (it may still be running) to STORE now:
    a capture's checkpoint (archiver.checkpoint). The manifest comes when it ends."""
    report = PushReport()
    replicas.enqueue(engine, replicas.file_refs(engine, settings.data, [capture_id]), ["local", store])
    refs = [f for f, _store, _attempts in replicas.due(engine, settings.data, [store], [capture_id],
                                                      ignore_backoff=True)]
    if refs:
        _push_store(settings, engine, store, refs, report)
    return report


def _counter(total: int, progress: Progress | None) -> Callable[[int], None]:
    """A thread-safe tally of files done and bytes moved, told to PROGRESS at each one."""
    lock, state = threading.Lock(), [0, 0]

    def count(nbytes: int) -> None:
        if progress is None:
            return
        with lock:
            state[0] += 1
            state[1] += nbytes
            progress(state[0], total, state[1])
    return count


def _push_store(settings: Settings, engine: Engine, name: str, refs: list[FileRef], report: PushReport,
                counted: Callable[[int], None] = lambda _n: None) -> None:
    store = open_store(settings, name)
    touched: set[tuple[str, str]] = set()
    for i, f in enumerate(refs):
        entry = {"capture": f.capture, "store": name, "file": f.name, "size": f.size}
        try:
            # One copier per file and store across the cluster (a capture's checkpoint and a
            # replication job may both find it due); the other leaves it to the first.
            with attempt(engine, f"copy:{name}:{f.file_id}") as mine:
                if not mine:
                    continue
                if store.has(f):
                    location = store.location(f)
                    report.already_there.append({**entry, "location": location})
                    counted(0)
                elif not f.local_path.exists():
                    continue  # on the disk of the machine that captured it, which copies it
                else:
                    location = store.put(f, f.local_path)
                    report.uploaded.append({**entry, "location": location})
                    counted(f.size)
                replicas.mark_copied(engine, f, name, location)
            touched.add((f.target, f.capture))
        except StoreUnavailable as exc:
            # No point trying the rest now; each waits for its next attempt.
            report.store_errors[name] = str(exc)
            replicas.mark_store_failed(engine, refs[i:], name, str(exc))
            log.warning("%s (%d copies left pending)", exc, len(refs) - i)
            break
        except StoreError as exc:
            replicas.mark_failed(engine, f, name, str(exc))
            report.failed.append({**entry, "error": str(exc)})
            log.warning("%s", exc)
    _record_roots(engine, store, touched)


def _record_roots(engine: Engine, store: Any, touched: set[tuple[str, str]]) -> None:
    """Remember the IPFS folder CID of each capture whose files all arrived."""
    if not hasattr(store, "directory_cid"):
        return
    for target, capture in sorted(touched):
        try:
            cid = store.directory_cid(target, capture)
        except StoreError as exc:
            log.warning("%s", exc)
            continue
        if cid:
            replicas.set_root(engine, capture, store.name, cid)
