"""Fixity: re-read every copy, prove it intact, and heal a bad one from a good one.

Each copy is streamed back (constant memory) and its SHA-256 recomputed; a copy in IPFS
also has its CID recomputed from the bytes the node returned, so a node that serves
the wrong bytes under a CID is caught. Repair only ever writes to a copy this run found
bad or missing, only from a copy whose hash this run found matching, and checks the
repaired copy again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.storage.catalog import replicas
from refuge.storage.damage import where_damaged
from refuge.storage.replicate import finished_captures, queue_capture
from refuge.storage.stores.cid import CidBuilder, same_cid
from refuge.storage.stores.interface import (
    FileRef,
    Missing,
    Store,
    StoreError,
    StoreUnavailable,
    configured_store_names,
    open_store,
)

log = logging.getLogger(__name__)

# Preferred order of sources for a repair: the nearest first.
_SOURCE_ORDER = ("local", "s3", "ipfs")


@dataclass
class CopyCheck:
    capture: str
    file: str
    store: str
    result: str  # ok | bad | missing | unreachable
    reason: str | None = None
    sha256: str | None = None
    size: int | None = None
    repaired: bool | None = None  # None: no repair asked or needed
    repaired_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(settings: Settings, engine: Engine, capture_ids: Iterable[str] | None = None,
           stores: Iterable[str] | None = None, *, repair: bool = False,
           progress: Callable[[int, int | None, int], None] | None = None) -> list[CopyCheck]:
    """Check every copy of every file of these captures (or all) in these stores (or all).
    PROGRESS hears (copies checked, None, bytes read) after each copy."""
    configured = configured_store_names(settings)
    wanted = [s for s in (stores or configured)]
    opened = {name: open_store(settings, name) for name in configured}
    down: dict[str, str] = {}
    checks: list[CopyCheck] = []
    read = 0
    for capture_id in finished_captures(engine, capture_ids):
        try:
            refs = queue_capture(settings, engine, capture_id)
        except Failure as exc:
            # No manifest (a local file is already damaged): still check what there is.
            log.warning("%s", exc)
            refs = replicas.file_refs(engine, settings.data, [capture_id])
            replicas.enqueue(engine, refs, ["local"])
        states = {(r["file_id"], r["store"]): r for r in replicas.copies(engine, capture_id)}
        for f in refs:
            found: dict[str, CopyCheck] = {}
            for name in wanted:
                row = states.get((f.file_id, name))
                if row is None or row["state"] == "dropped":  # no copy, or a cache's, let go on purpose
                    continue
                found[name] = _check_row(engine, opened[name], f, row, down)
            checks.extend(found.values())
            if progress is not None:
                read += sum(c.size or 0 for c in found.values())
                progress(len(checks), None, read)
            if repair and any(c.result != "ok" for c in found.values()):
                _repair(settings, engine, opened, f, found, down)
    return checks


def _check_row(engine: Engine, store: Store, f: FileRef, row: dict[str, Any], down: dict[str, str]) -> CopyCheck:
    if row["state"] == "pending":
        why = f"not copied yet: {row['last_error']}" if row["last_error"] else "not copied yet"
        return CopyCheck(f.capture, f.name, store.name, "missing", why)
    return check_copy(engine, store, f, down)


def check_copy(engine: Engine, store: Store, f: FileRef, down: dict[str, str]) -> CopyCheck:
    """Re-read one copy and record what was found."""
    if store.name in down:
        return CopyCheck(f.capture, f.name, store.name, "unreachable", down[store.name])
    digest, size = hashlib.sha256(), 0
    cids = CidBuilder() if store.name == "ipfs" else None
    try:
        for chunk in store.read(f):
            digest.update(chunk)
            size += len(chunk)
            if cids is not None:
                cids.update(chunk)
    except Missing as exc:
        return _recorded(engine, f, store.name, "missing", str(exc), None, None)
    except StoreUnavailable as exc:
        down[store.name] = str(exc)
        return CopyCheck(f.capture, f.name, store.name, "unreachable", str(exc))
    except Exception as exc:  # noqa: BLE001 - a copy that cannot be read back is bad, whatever the cause
        return _recorded(engine, f, store.name, "bad", f"read failed after {size} bytes: {_line(exc)}", None, None)
    sha, reason = digest.hexdigest(), None
    if size != f.size or sha != f.sha256:
        reason = f"sha256 {sha} and size {size}, expected {f.sha256} and {f.size}"
        if cids is not None:
            reason += f"; the node served bytes whose CID is {cids.cid()}, not {f.cid}"
    elif cids is not None and f.cid and not same_cid(cids.cid(), f.cid):
        reason = f"the bytes served for {f.cid} have the CID {cids.cid()}"
    if reason and store.name == "local":
        # Where in the file, for whoever decides between repairing it and salvaging what is whole.
        where = where_damaged(f.local_path, f.kind)
        if where:
            reason += f"; first damage: {where}"
    return _recorded(engine, f, store.name, "bad" if reason else "ok", reason, sha, size)


def _recorded(engine: Engine, f: FileRef, store: str, result: str, reason: str | None,
              sha: str | None, size: int | None) -> CopyCheck:
    replicas.record_check(engine, f, store, result, reason, sha, size)
    return CopyCheck(f.capture, f.name, store, result, reason, sha, size)


def _repair(settings: Settings, engine: Engine, opened: dict[str, Store], f: FileRef,
            found: dict[str, CopyCheck], down: dict[str, str]) -> None:
    source = _good_source(engine, opened, f, found, down)
    for name, check in found.items():
        if check.result in ("ok", "unreachable"):
            continue
        if source is None:
            check.repaired, check.reason = False, f"{check.reason}; no intact copy to repair from"
            continue
        store = opened[name]
        try:
            with _source_file(settings, opened[source], f) as path:
                location = store.put(f, path)
            if name != "local":
                replicas.mark_copied(engine, f, name, location)
            again = check_copy(engine, store, f, down)
        except StoreError as exc:
            check.repaired, check.reason = False, f"{check.reason}; repair failed: {exc}"
            continue
        check.repaired, check.repaired_from = again.result == "ok", source
        if again.result != "ok":
            check.reason = f"{check.reason}; still {again.result} after repair: {again.reason}"
        log.warning("%s copy of %s %s from %s", name, f.name, "repaired" if check.repaired else "NOT repaired",
                    source)


def _good_source(engine: Engine, opened: dict[str, Store], f: FileRef, found: dict[str, CopyCheck],
                 down: dict[str, str]) -> str | None:
    """A store whose copy this run found intact, checking stores outside --store if needed."""
    for name in _SOURCE_ORDER:
        if name in found and found[name].result == "ok":
            return name
    for name in _SOURCE_ORDER:
        if name in opened and name not in found and check_copy(engine, opened[name], f, down).result == "ok":
            return name
    return None


@contextmanager
def _source_file(settings: Settings, store: Store, f: FileRef) -> Iterator[Path]:
    """The source copy as a local file: the archive file itself, or a temporary download
    hashed on the way and refused if it is not the file any more."""
    if store.name == "local":
        yield f.local_path
        return
    folder = settings.data / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="repair-", dir=folder)
    tmp = Path(name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as fh:
            for chunk in store.read(f):
                digest.update(chunk)
                fh.write(chunk)
        if digest.hexdigest() != f.sha256:
            raise StoreError(f"{store.name}: its copy of {f.name} changed while repairing; not used")
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def summary(checks: list[CopyCheck]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.result] = counts.get(c.result, 0) + 1
    return counts


def _line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
