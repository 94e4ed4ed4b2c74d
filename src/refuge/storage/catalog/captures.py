"""Captures in the catalog: starting and finishing one, its failures, its sealed files."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from refuge.config.errors import BadInput
from refuge.storage.catalog.db import iso, now_iso, utcnow
from refuge.storage.catalog.schema import (capture_roots, captures, cdx, db_records, db_snapshots, failures, file_cids,
                                           files, replicas, targets)
from refuge.storage.catalog.targets import Target, get_target


class AlreadyRunning(Exception):
    """Another live process is capturing this target."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def new_capture_id(started: datetime) -> str:
    """'20261127235853-123a9f2': the start second, then milliseconds and random hex, so ids
    sort in start order even within one second and two processes never collide."""
    return f"{started:%Y%m%d%H%M%S}-{started.microsecond // 1000:03d}{os.urandom(2).hex()}"


def start_capture(engine: Engine, target: Target, stale_seconds: float) -> str:
    """Claim the target for a new capture and return its id.

    A capture of the same target that stopped sending heartbeats is marked
    interrupted first; a live one makes this raise :class:`AlreadyRunning`.
    """
    reap_stale_captures(engine, stale_seconds, target_id=target.id)
    started = datetime.now(timezone.utc)
    capture_id = new_capture_id(started)
    try:
        with engine.begin() as conn:
            conn.execute(insert(captures).values(
                id=capture_id, target_id=target.id, status="running", started_at=iso(started),
                heartbeat_at=iso(started), worker=worker_id(),
            ))
    except IntegrityError:
        raise AlreadyRunning(f"target {target.name!r}: a capture is already running") from None
    return capture_id


def resumable_capture(engine: Engine, target: Target, within_seconds: float) -> str | None:
    """The target's newest capture if it was interrupted and started less than
    WITHIN_SECONDS ago: the one the next capture of the target resumes."""
    cutoff = iso(utcnow() - timedelta(seconds=within_seconds))
    with engine.connect() as conn:
        row = conn.execute(select(captures.c.id, captures.c.status, captures.c.started_at)
                           .where(captures.c.target_id == target.id)
                           .order_by(captures.c.id.desc()).limit(1)).first()
    if row is None or row.status != "interrupted" or row.started_at < cutoff:
        return None
    return row.id


def reopen_capture(engine: Engine, target: Target, capture_id: str) -> bool:
    """Claim interrupted capture CAPTURE_ID to resume it under its id; False if another
    process resumed it first, AlreadyRunning if another capture of the target runs.

    What its earlier run wrote as finished goes: its failures (the resumed crawl lists
    them again), its manifest and a database snapshot, which described an unfinished
    capture and are made anew when it ends. Its sealed files and their index stay.
    """
    manifests = select(files.c.id).where((files.c.capture_id == capture_id)
                                         & files.c.kind.in_(("manifest", "sums"))).scalar_subquery()
    try:
        with engine.begin() as conn:
            claimed = conn.execute(update(captures).where(
                (captures.c.id == capture_id) & (captures.c.status == "interrupted")).values(
                status="running", finished_at=None, error=None, heartbeat_at=now_iso(), worker=worker_id()))
            if claimed.rowcount != 1:
                return False
            conn.execute(delete(failures).where(failures.c.capture_id == capture_id))
            conn.execute(delete(replicas).where(replicas.c.file_id.in_(manifests)))
            conn.execute(delete(file_cids).where(file_cids.c.file_id.in_(manifests)))
            conn.execute(delete(files).where(files.c.id.in_(manifests)))
            conn.execute(delete(capture_roots).where(capture_roots.c.capture_id == capture_id))
            # A database capture's snapshot of the unfinished run is built again at the end.
            conn.execute(delete(db_records).where(db_records.c.capture_id == capture_id))
            conn.execute(delete(db_snapshots).where(db_snapshots.c.capture_id == capture_id))
    except IntegrityError:
        raise AlreadyRunning(f"target {target.name!r}: a capture is already running") from None
    return True


def hold_unchanged(conn: Connection, capture_id: str, status: str, finished: str | None) -> bool:
    """Inside CONN's transaction: whether the capture still has the STATUS and FINISHED
    time it was read with. If so it is held (its row written, so locked) until the
    transaction ends: it cannot be reopened or finished again meanwhile, so what is
    recorded in the transaction describes it (a manifest, say)."""
    held = conn.execute(update(captures).where(
        (captures.c.id == capture_id) & (captures.c.status == status)
        & (captures.c.finished_at.is_(None) if finished is None else captures.c.finished_at == finished))
        .values(status=status))
    return held.rowcount == 1


def heartbeat(engine: Engine, capture_id: str, progress: dict[str, int] | None = None) -> None:
    """Say the capture is alive; PROGRESS (pages, requisites, failed, queued, bytes so far in
    this run) is written beside it while it runs, for whoever watches it elsewhere."""
    values: dict[str, Any] = {"heartbeat_at": now_iso()}
    if progress is not None:
        values.update({k: progress[k] for k in ("pages", "requisites", "failed", "queued", "bytes")})
    with engine.begin() as conn:
        conn.execute(update(captures).where((captures.c.id == capture_id) & (captures.c.status == "running"))
                     .values(**values))


def reap_stale_captures(engine: Engine, stale_seconds: float, *, target_id: int | None = None) -> list[str]:
    """Mark 'running' captures whose process died as interrupted.

    Dead means: no heartbeat for stale_seconds, or (on this host) its process is gone,
    so a capture killed a moment ago does not block the next run for long.
    """
    cutoff = iso(utcnow() - timedelta(seconds=stale_seconds))
    cond = captures.c.status == "running"
    if target_id is not None:
        cond = cond & (captures.c.target_id == target_id)
    with engine.begin() as conn:
        rows = conn.execute(select(captures.c.id, captures.c.heartbeat_at, captures.c.worker).where(cond)).all()
        ids = [r.id for r in rows if r.heartbeat_at < cutoff or not worker_alive(r.worker)]
        if ids:
            conn.execute(update(captures).where(captures.c.id.in_(ids)).values(
                status="interrupted", finished_at=now_iso(), queued=None,
                error="the capturing process stopped without finishing"))
    return ids


def worker_alive(worker: str) -> bool:
    """Whether the process WORKER ("host:pid", as worker_id() makes) may still run: any
    other host's, and one of this host's that still does."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's worker: only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finish_capture(engine: Engine, capture_id: str, status: str, stats: dict[str, int],
                   error: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(update(captures).where(captures.c.id == capture_id).values(
            status=status, finished_at=now_iso(), error=error, queued=None, **stats))


def add_failures(engine: Engine, capture_id: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(failures), [dict(r, capture_id=capture_id) for r in rows])


_CAPTURE_COLUMNS = [captures.c.id, targets.c.name.label("target"), captures.c.status,
                    captures.c.started_at.label("started"), captures.c.finished_at.label("finished"),
                    captures.c.pages, captures.c.requisites, captures.c.failed, captures.c.revisits,
                    captures.c.bytes, captures.c.files, captures.c.queued, captures.c.error]


def list_captures(engine: Engine, target_name: str | None = None, limit: int | None = None, *,
                  status: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
    """Captures, newest first, as plain dicts (what `refuge captures --json` prints): of
    TARGET_NAME, with STATUS, started at or after SINCE (ISO 8601 UTC) when given."""
    query = select(*_CAPTURE_COLUMNS).join(targets, targets.c.id == captures.c.target_id)
    if target_name is not None:
        query = query.where(targets.c.id == get_target(engine, target_name, include_removed=True).id)
    if status is not None:
        query = query.where(captures.c.status == status)
    if since is not None:
        query = query.where(captures.c.started_at >= since)
    query = query.order_by(captures.c.id.desc())
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def get_capture(engine: Engine, capture_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(*_CAPTURE_COLUMNS).join(targets, targets.c.id == captures.c.target_id)
                           .where(captures.c.id == capture_id)).first()
    if row is None:
        raise BadInput(f"capture {capture_id!r}: no such capture (see `refuge captures`)")
    return dict(row._mapping)


def pick_capture(engine: Engine, target_name: str, capture_id: str | None, doing: str) -> str:
    """CAPTURE_ID if it is a capture of TARGET_NAME; without one, the newest complete capture
    that has indexed records, else the newest with any. BadInput otherwise, saying what
    there is nothing to do (DOING: "export", "package")."""
    found = list_captures(engine, target_name)
    if capture_id is not None:
        if not any(c["id"] == capture_id for c in found):
            raise BadInput(f"--capture {capture_id}: not a capture of {target_name!r} "
                           f"(see `refuge captures {target_name}`)")
        return capture_id
    for wanted in ("complete", None):
        for c in found:
            if (wanted is None or c["status"] == wanted) and _has_records(engine, c["id"]):
                return c["id"]
    raise BadInput(f"target {target_name!r}: nothing captured to {doing} yet (run `refuge capture {target_name}`)")


def _has_records(engine: Engine, capture_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(cdx.c.id).where(cdx.c.capture_id == capture_id).limit(1)).first() is not None


def latest_captures(engine: Engine) -> dict[int, dict[str, Any]]:
    """The newest capture of each target, keyed by target id."""
    # Capture ids sort in start order (see new_capture_id), so the newest is the max id.
    newest = select(func.max(captures.c.id).label("id")).group_by(captures.c.target_id).subquery()
    query = (select(captures.c.target_id, *_CAPTURE_COLUMNS)
             .join(targets, targets.c.id == captures.c.target_id)
             .join(newest, newest.c.id == captures.c.id))
    with engine.connect() as conn:
        return {r.target_id: {k: v for k, v in r._mapping.items() if k != "target_id"} for r in conn.execute(query)}


# -- sealed files and their index -------------------------------------------------------

def record_sealed_warc(engine: Engine, capture_id: str, target_id: int, warc: dict[str, Any],
                       cdxj: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Register a sealed WARC, its CDXJ file and its index rows in one transaction,
    so a reader sees all of a file's records or none."""
    sealed_at = now_iso()
    with engine.begin() as conn:
        warc_id = conn.execute(insert(files).values(capture_id=capture_id, kind="warc", sealed_at=sealed_at, **warc)
                               .returning(files.c.id)).scalar_one()
        conn.execute(insert(files).values(capture_id=capture_id, kind="cdxj", sealed_at=sealed_at, **cdxj))
        if rows:
            conn.execute(insert(cdx), [dict(r, file_id=warc_id, capture_id=capture_id, target_id=target_id)
                                       for r in rows])


def capture_files(engine: Engine, capture_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(files.c.name, files.c.kind, files.c.path, files.c.sha256, files.c.size,
                                   files.c.records).where(files.c.capture_id == capture_id).order_by(files.c.id))
        return [dict(r._mapping) for r in rows]


def forget_files(engine: Engine, file_ids: Iterable[int]) -> None:
    """Forget sealed files no copy of survived (a machine that died before uploading them)
    and their index rows: what they held is fetched again by the capture that resumes."""
    ids = list(file_ids)
    if not ids:
        return
    with engine.begin() as conn:
        conn.execute(delete(cdx).where(cdx.c.file_id.in_(ids)))
        conn.execute(delete(replicas).where(replicas.c.file_id.in_(ids)))
        conn.execute(delete(file_cids).where(file_cids.c.file_id.in_(ids)))
        conn.execute(delete(files).where(files.c.id.in_(ids)))


def known_file_names(engine: Engine, capture_ids: Iterable[str] | None = None) -> set[str]:
    """Names of the files the catalog holds (of these captures only, if given)."""
    query = select(files.c.name)
    if capture_ids is not None:
        query = query.where(files.c.capture_id.in_(list(capture_ids)))
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def failures_of(engine: Engine, capture_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The URLs capture CAPTURE_ID could not fetch, with why: {url, status, reason}."""
    with engine.connect() as conn:
        rows = conn.execute(select(failures.c.url, failures.c.status, failures.c.reason)
                            .where(failures.c.capture_id == capture_id).order_by(failures.c.id).limit(limit))
        return [dict(r._mapping) for r in rows]
