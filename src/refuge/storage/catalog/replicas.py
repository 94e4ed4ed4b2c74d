"""The catalog's side of replication: which copies exist, which are due, what checks found.

One row per (file, store) in `replicas` is both the queue (state `pending`) and the
record (location, SHA-256, size, when copied, when last verified, the result). The
queue lives in the catalog so a store that is down, a killed process or a reboot
loses nothing.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from refuge.storage.catalog.db import iso, now_iso, utcnow
from refuge.storage.catalog.schema import capture_roots, captures, file_cids, files, replicas, targets
from refuge.storage.stores.interface import FileRef

# A failed copy waits 30 s, then 1, 2, 4 ... minutes, at most 6 hours, before the next try.
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 6 * 3600


def retry_delay(attempts: int) -> int:
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)


_FILE_COLUMNS = [files.c.id, targets.c.name.label("target"), files.c.capture_id, files.c.name, files.c.kind,
                 files.c.sha256, files.c.size, files.c.path, file_cids.c.cid]


def _file_query() -> Any:
    return (select(*_FILE_COLUMNS)
            .join(captures, captures.c.id == files.c.capture_id)
            .join(targets, targets.c.id == captures.c.target_id)
            .outerjoin(file_cids, file_cids.c.file_id == files.c.id))


def _ref(row: Any, data: Path) -> FileRef:
    return FileRef(file_id=row.id, target=row.target, capture=row.capture_id, name=row.name, kind=row.kind,
                   sha256=row.sha256, size=row.size, local_path=data / row.path, cid=row.cid,
                   data_path=row.path)


def file_refs(engine: Engine, data: Path, capture_ids: Iterable[str] | None = None) -> list[FileRef]:
    """Every sealed file (of these captures), in the order they were sealed."""
    query = _file_query().order_by(files.c.id)
    if capture_ids is not None:
        query = query.where(files.c.capture_id.in_(list(capture_ids)))
    with engine.connect() as conn:
        return [_ref(r, data) for r in conn.execute(query)]


def located(engine: Engine, path: str, store: str) -> tuple[str, int] | None:
    """Where STORE holds its copy of the sealed file at PATH (relative to the data
    directory), and the file's size; None when it holds none yet."""
    with engine.connect() as conn:
        row = conn.execute(select(replicas.c.location, files.c.size)
                           .join(files, files.c.id == replicas.c.file_id)
                           .where(files.c.name == path.rsplit("/", 1)[-1], files.c.path == path,
                                  replicas.c.store == store, replicas.c.state == "copied",
                                  replicas.c.location.is_not(None))).first()
    return (row.location, row.size) if row is not None else None


def local_to_drop(engine: Engine, data: Path, stores: Iterable[str],
                  capture_ids: Iterable[str] | None = None) -> list[FileRef]:
    """Files of finished captures whose local copy is still here and which every one of
    STORES holds already: what may leave this disk when it is only a cache."""
    stores = list(stores)
    held = (select(func.count()).select_from(replicas)
            .where(replicas.c.file_id == files.c.id, replicas.c.store.in_(stores), replicas.c.state == "copied")
            .scalar_subquery())
    local = (select(replicas.c.id).where(replicas.c.file_id == files.c.id, replicas.c.store == "local",
                                         replicas.c.state == "copied").exists())
    query = _file_query().where(captures.c.status != "running", local, held == len(stores)).order_by(files.c.id)
    if capture_ids is not None:
        query = query.where(files.c.capture_id.in_(list(capture_ids)))
    with engine.connect() as conn:
        return [_ref(r, data) for r in conn.execute(query)]


def mark_dropped(engine: Engine, f: FileRef) -> None:
    """F's local copy is deleted on purpose (its disk is a cache): not a copy to check or heal."""
    with engine.begin() as conn:
        conn.execute(update(replicas).where(replicas.c.file_id == f.file_id, replicas.c.store == "local").values(
            state="dropped", location=None))


def set_cids(engine: Engine, cids: dict[int, str]) -> None:
    if not cids:
        return
    try:
        with engine.begin() as conn:
            have = set(conn.execute(select(file_cids.c.file_id).where(file_cids.c.file_id.in_(list(cids)))).scalars())
            rows = [{"file_id": k, "cid": v} for k, v in cids.items() if k not in have]
            if rows:
                conn.execute(insert(file_cids), rows)
    except IntegrityError:
        pass  # another process recorded them first: a file's CID is a function of its bytes


def enqueue(engine: Engine, refs: Iterable[FileRef], stores: Iterable[str]) -> int:
    """Queue a copy of each file in each store that has no row for it yet. Returns how many."""
    refs, stores = list(refs), list(stores)
    if not refs or not stores:
        return 0
    try:
        return _enqueue(engine, refs, stores)
    except IntegrityError:
        # Another process (the scheduler, a CLI push) queued some at the same moment:
        # what it inserted is what we would have; add whatever is still missing.
        return _enqueue(engine, refs, stores)


def _enqueue(engine: Engine, refs: list[FileRef], stores: list[str]) -> int:
    now = now_iso()
    with engine.begin() as conn:
        have = {(r.file_id, r.store) for r in conn.execute(
            select(replicas.c.file_id, replicas.c.store).where(replicas.c.file_id.in_([f.file_id for f in refs])))}
        rows = []
        for f in refs:
            for store in stores:
                if (f.file_id, store) in have:
                    continue
                # The local copy is the file the capture wrote: it exists from the start.
                local = store == "local"
                rows.append({"file_id": f.file_id, "store": store, "state": "copied" if local else "pending",
                             "location": f.data_path if local else None,
                             "sha256": f.sha256 if local else None, "size": f.size if local else None,
                             "copied_at": now if local else None, "next_attempt_at": None if local else now})
        if rows:
            conn.execute(insert(replicas), rows)
    return sum(r["state"] == "pending" for r in rows)


def needing_queue(engine: Engine, stores: Iterable[str], capture_ids: Iterable[str] | None = None) -> list[str]:
    """Finished captures with no manifest yet, or with a file not queued for one of STORES
    (a store configured since): what `queue_capture` still has to see. Two queries, not
    one per capture, since the scheduler asks every `replicate_seconds`."""
    stores = list(stores)
    has_manifest = select(files.c.id).where(files.c.capture_id == captures.c.id, files.c.kind == "manifest").exists()
    no_manifest = select(captures.c.id).where(captures.c.status != "running", ~has_manifest)
    copies_of = (select(func.count()).select_from(replicas)
                 .where(replicas.c.file_id == files.c.id, replicas.c.store.in_(stores)).scalar_subquery())
    unqueued = (select(files.c.capture_id).join(captures, captures.c.id == files.c.capture_id)
                .where(captures.c.status != "running", copies_of < len(stores)).distinct())
    if capture_ids is not None:
        ids = list(capture_ids)
        no_manifest = no_manifest.where(captures.c.id.in_(ids))
        unqueued = unqueued.where(files.c.capture_id.in_(ids))
    with engine.connect() as conn:
        return sorted(set(conn.execute(no_manifest).scalars()) | set(conn.execute(unqueued).scalars()))


def due(engine: Engine, data: Path, stores: Iterable[str], capture_ids: Iterable[str] | None = None,
        *, ignore_backoff: bool = False) -> list[tuple[FileRef, str, int]]:
    """Pending copies whose time has come: (file, store, attempts so far), oldest file first."""
    query = (_file_query().add_columns(replicas.c.store, replicas.c.attempts)
             .join(replicas, replicas.c.file_id == files.c.id)
             .where(replicas.c.state == "pending", replicas.c.store.in_(list(stores))))
    if not ignore_backoff:
        query = query.where(or_(replicas.c.next_attempt_at.is_(None), replicas.c.next_attempt_at <= now_iso()))
    if capture_ids is not None:
        query = query.where(files.c.capture_id.in_(list(capture_ids)))
    with engine.connect() as conn:
        return [(_ref(r, data), r.store, r.attempts) for r in conn.execute(query.order_by(files.c.id))]


def mark_copied(engine: Engine, f: FileRef, store: str, location: str) -> None:
    now = now_iso()
    with engine.begin() as conn:
        conn.execute(update(replicas).where(replicas.c.file_id == f.file_id, replicas.c.store == store).values(
            state="copied", location=location, sha256=f.sha256, size=f.size, copied_at=now,
            next_attempt_at=None, last_error=None))


def mark_failed(engine: Engine, f: FileRef, store: str, error: str) -> None:
    with engine.begin() as conn:
        attempts = conn.execute(select(replicas.c.attempts).where(
            replicas.c.file_id == f.file_id, replicas.c.store == store)).scalar_one() + 1
        conn.execute(update(replicas).where(replicas.c.file_id == f.file_id, replicas.c.store == store).values(
            state="pending", attempts=attempts, last_error=error[:1000],
            next_attempt_at=iso(utcnow() + timedelta(seconds=retry_delay(attempts)))))


def mark_store_failed(engine: Engine, refs: list[FileRef], store: str, error: str) -> None:
    """mark_failed for many files of one store at once (a store that is down): one
    UPDATE per distinct attempt count, not one transaction per file."""
    ids = [f.file_id for f in refs]
    for start in range(0, len(ids), 500):  # bounded IN lists (SQLite caps bound parameters)
        chunk = ids[start:start + 500]
        with engine.begin() as conn:
            rows = conn.execute(select(replicas.c.id, replicas.c.attempts).where(
                replicas.c.file_id.in_(chunk), replicas.c.store == store)).all()
            by_attempts: dict[int, list[int]] = {}
            for row in rows:
                by_attempts.setdefault(row.attempts + 1, []).append(row.id)
            for attempts, row_ids in by_attempts.items():
                conn.execute(update(replicas).where(replicas.c.id.in_(row_ids)).values(
                    state="pending", attempts=attempts, last_error=error[:1000],
                    next_attempt_at=iso(utcnow() + timedelta(seconds=retry_delay(attempts)))))


def record_check(engine: Engine, f: FileRef, store: str, result: str, reason: str | None,
                 sha256: str | None, size: int | None) -> None:
    """What re-reading a copy found: result ok | bad | missing, and why."""
    values: dict[str, Any] = {"verified_at": now_iso(), "result": result, "reason": reason}
    if sha256 is not None:
        values.update(sha256=sha256, size=size)
    with engine.begin() as conn:
        conn.execute(update(replicas).where(replicas.c.file_id == f.file_id, replicas.c.store == store)
                     .values(**values))


def set_root(engine: Engine, capture_id: str, store: str, location: str) -> None:
    with engine.begin() as conn:
        conn.execute(capture_roots.delete().where(capture_roots.c.capture_id == capture_id,
                                                  capture_roots.c.store == store))
        conn.execute(insert(capture_roots).values(capture_id=capture_id, store=store, location=location,
                                                  updated_at=now_iso()))


def roots(engine: Engine, capture_id: str) -> dict[str, str]:
    with engine.connect() as conn:
        return {r.store: r.location for r in conn.execute(
            select(capture_roots.c.store, capture_roots.c.location).where(capture_roots.c.capture_id == capture_id))}


def copies(engine: Engine, capture_id: str) -> list[dict[str, Any]]:
    """Every copy of every file of a capture, as `refuge replicas --json` prints them."""
    query = (select(files.c.id.label("file_id"), files.c.name.label("file"), files.c.kind,
                    files.c.sha256.label("expected_sha256"), files.c.size.label("expected_size"), file_cids.c.cid,
                    replicas.c.store, replicas.c.state, replicas.c.location, replicas.c.sha256, replicas.c.size,
                    replicas.c.copied_at, replicas.c.verified_at, replicas.c.result, replicas.c.reason,
                    replicas.c.attempts, replicas.c.next_attempt_at, replicas.c.last_error)
             .join(replicas, replicas.c.file_id == files.c.id)
             .outerjoin(file_cids, file_cids.c.file_id == files.c.id)
             .where(files.c.capture_id == capture_id).order_by(files.c.id, replicas.c.store))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def fixity_by_target(engine: Engine) -> dict[int, dict[str, Any]]:
    """Per target: the last time its copies were checked and how many were ok, bad or missing."""
    query = (select(captures.c.target_id, replicas.c.result, func.count().label("n"),
                    func.max(replicas.c.verified_at).label("at"))
             .join(files, files.c.id == replicas.c.file_id).join(captures, captures.c.id == files.c.capture_id)
             .where(replicas.c.result.is_not(None))
             .group_by(captures.c.target_id, replicas.c.result))
    out: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for r in conn.execute(query):
            doc = out.setdefault(r.target_id, {"ok": 0, "bad": 0, "missing": 0, "checked_at": None})
            doc[r.result] = doc.get(r.result, 0) + r.n
            doc["checked_at"] = max(filter(None, [doc["checked_at"], r.at]), default=None)
    for doc in out.values():
        doc["status"] = "ok" if not doc["bad"] and not doc["missing"] else "bad"
    return out


def copies_by_target(engine: Engine) -> dict[int, dict[str, dict[str, int]]]:
    """Per target and store, how many of its files' copies are copied and how many pending."""
    query = (select(captures.c.target_id, replicas.c.store, replicas.c.state, func.count().label("n"))
             .join(files, files.c.id == replicas.c.file_id).join(captures, captures.c.id == files.c.capture_id)
             .group_by(captures.c.target_id, replicas.c.store, replicas.c.state))
    out: dict[int, dict[str, dict[str, int]]] = {}
    with engine.connect() as conn:
        for r in conn.execute(query):
            out.setdefault(r.target_id, {}).setdefault(r.store, {})[r.state] = r.n
    return out


def pending_count(engine: Engine, stores: Iterable[str]) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(replicas).where(
            and_(replicas.c.state == "pending", replicas.c.store.in_(list(stores))))).scalar_one()
