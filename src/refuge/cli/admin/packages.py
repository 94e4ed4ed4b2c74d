"""A capture's WACZ package for the admin API and console: `refuge wacz` from a browser.

    Packages(settings, engine)
      .request(capture_id, actor) -> (doc, made)   ask for it (audited); MADE: it was ready
      .status(capture_id) -> doc | None            queued, packaging, ready or failed
      .open(capture_id) -> Download | None         the ready package, opened for sending
      .shutdown()
    send(download, environ) -> Response            it, streamed from disk with its Repr-Digest

An archivist asks; the package is made in a background thread, one at a time (each reads
a whole capture), by storage.wacz.package.write_wacz, at DATA/packages/<target>/<capture>.wacz
(written under a temporary name and renamed, so it is there whole or not at all), then
hashed once and described beside it in <capture>.wacz.json: its SHA-256 (the download's
Repr-Digest), size, and the basis it was made from. The package is *current* while the
file is the one described (same size, inode and modification time) and the basis is
unchanged: the capture's files, the takedowns in force (the page list leaves hidden pages
out), the signing key, Refuge's version, the operator and the target's URL. A current
package is sent again without being made again; an outdated one is made anew when asked.

Queued and packaging are known to this process only (a restart forgets them; what a
packaging stopped half-way leaves is a temporary file, removed by a later packaging of the
same target once nothing has written it for STALE_TEMP seconds). Ready is what is on disk,
so it survives a restart. Failed stays here, with its reason, until the capture is asked
for again. Packages are kept KEEP_DAYS, then removed by a later packaging: each holds a
copy of its capture's WARC files, and is made again on request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from refuge import __version__
from refuge.cli.admin.operations import Conflict, get_capture
from refuge.config.errors import BadInput, Failure, first_line
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import events, hidden
from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.events import Actor
from refuge.storage.warc.sealed import fsync_dir

log = logging.getLogger(__name__)

FOLDER = "packages"
STALE_TEMP = 15 * 60  # seconds without a write after which a temporary package is a leftover
KEEP_DAYS = 7
MAX_SIDECAR = 64 * 1024
CHUNK = 1024 * 1024
SHUTDOWN_WAIT = 5.0  # seconds shutdown waits for a packaging under way (it cannot be stopped part-way)


@dataclass
class _Job:
    capture: str
    target: str
    requested_by: str
    requested_at: str
    status: str = "queued"
    error: str | None = None

    def doc(self) -> dict[str, Any]:
        return {"capture": self.capture, "target": self.target, "status": self.status,
                "requested_by": self.requested_by, "requested_at": self.requested_at, "error": self.error}


@dataclass
class Download:
    """A ready package, open: send FILE's SIZE bytes as NAME with DIGEST (Repr-Digest)."""

    file: IO[bytes]
    size: int
    name: str
    digest: str


def package_path(settings: Settings, target: str, capture_id: str) -> Path:
    return Path(settings.data) / FOLDER / target / f"{capture_id}.wacz"


def repr_digest(sha256_hex: str) -> str:
    """An RFC 9530 Repr-Digest header value for a SHA-256 given in hex."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"


def send(download: Download, environ: dict[str, Any]) -> Response:
    """DOWNLOAD as an attachment, streamed from disk (the server's file wrapper when it has
    one), with its length and its SHA-256 as Repr-Digest (RFC 9530)."""
    return Response(wrap_file(environ, download.file, CHUNK), content_type="application/zip", direct_passthrough=True,
                    headers={"Content-Length": str(download.size), "Repr-Digest": download.digest,
                             "Content-Disposition": f'attachment; filename="{download.name}"'})


class Packages:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()

    def request(self, capture_id: str, actor: Actor) -> tuple[dict[str, Any], bool]:
        """Ask for CAPTURE_ID's package for ACTOR (recorded in the audit log): its state, and
        whether it was ready already. NotFound for no such capture; Conflict while it runs."""
        capture = get_capture(self.engine, capture_id)
        if capture["status"] == "running":
            raise Conflict(f"capture {capture_id} is still running: package it once it has ended")
        events.record(self.engine, actor, "wacz.request", capture_id, {"target": capture["target"]})
        with self._lock:
            job = self._jobs.get(capture_id)
            if job is not None and job.status in ("queued", "packaging"):
                return job.doc(), False
            made = _current(self.settings, self.engine, capture)
            if made is not None:
                return _public(made), True
            job = _Job(capture_id, capture["target"], actor.name, now_iso())
            self._jobs[capture_id] = job
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="admin-wacz", daemon=True)
                self._worker.start()
            self._queue.put(job)
            return job.doc(), False

    def status(self, capture_id: str) -> dict[str, Any] | None:
        """CAPTURE_ID's package as it stands, or None when none was asked for (or the one
        made is outdated). NotFound for no such capture."""
        capture = get_capture(self.engine, capture_id)
        with self._lock:
            job = self._jobs.get(capture_id)
            asked = job.doc() if job is not None else None
        if asked is not None and asked["status"] in ("queued", "packaging"):
            return asked
        made = _current(self.settings, self.engine, capture)
        return _public(made) if made is not None else asked

    def open(self, capture_id: str) -> Download | None:
        """CAPTURE_ID's current package opened for sending, or None when it has none."""
        capture = get_capture(self.engine, capture_id)
        made = _current(self.settings, self.engine, capture)
        if made is None:
            return None
        path = package_path(self.settings, capture["target"], capture_id)
        try:
            fh = open(path, "rb")
        except OSError:
            return None
        seen = os.fstat(fh.fileno())
        if (seen.st_size, seen.st_ino, seen.st_mtime_ns) != (made["bytes"], made["inode"], made["mtime_ns"]):
            fh.close()  # made again between the look and the open: the description is of another file
            return None
        return Download(fh, seen.st_size, f"{capture['target']}-{capture_id}.wacz", repr_digest(made["sha256"]))

    def shutdown(self) -> None:
        """Stop taking work; wait a little for a packaging under way (a daemon thread: one
        still running when the process ends leaves a temporary file, removed later)."""
        self._stop.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(SHUTDOWN_WAIT)
            if self._worker.is_alive():
                log.warning("a WACZ package is still being made; it is left unfinished")

    def _work(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None or self._stop.is_set():
                return
            with self._lock:
                job.status = "packaging"
            try:
                _make(self.settings, self.engine, get_capture(self.engine, job.capture), job)
            except (BadInput, Failure, OSError) as exc:  # said in one line: the capture, its files, the disk
                self._failed(job, first_line(exc))
            except Exception as exc:  # noqa: BLE001 - one package failing must not stop the others
                log.exception("packaging capture %s as WACZ failed", job.capture)
                self._failed(job, first_line(exc))
            else:
                with self._lock:
                    if self._jobs.get(job.capture) is job:
                        del self._jobs[job.capture]  # ready is what is on disk from now on

    def _failed(self, job: _Job, why: str) -> None:
        log.error("capture %s: no WACZ package: %s", job.capture, why)
        with self._lock:
            job.error, job.status = why, "failed"


# -- on disk ------------------------------------------------------------------------------

def _basis(settings: Settings, engine: Engine, capture: dict[str, Any], fingerprint: str) -> str:
    """What a package of CAPTURE is made from, as one hash: when it changes, so would the package."""
    target = catalog.get_target(engine, capture["target"], include_removed=True)
    doc = {"files": [(f["name"], f["sha256"], f["size"]) for f in catalog.capture_files(engine, capture["id"])],
           "hidden": sorted(h["id"] for h in hidden.list_hidden(engine)), "key": fingerprint,
           "software": __version__, "operator": settings.operator, "url": target.spec.url,
           "status": capture["status"], "finished": capture["finished"]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _public(made: dict[str, Any]) -> dict[str, Any]:
    """A ready package as the API and console show it (not how it is recognised on disk)."""
    return {k: v for k, v in made.items() if k not in ("inode", "mtime_ns", "basis")}


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _current(settings: Settings, engine: Engine, capture: dict[str, Any]) -> dict[str, Any] | None:
    """CAPTURE's package as its description says, if it is current (see the module's docstring)."""
    path = package_path(settings, capture["target"], capture["id"])
    try:
        with open(_sidecar(path), "rb") as fh:
            made = json.loads(fh.read(MAX_SIDECAR))
        seen = path.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(made, dict) or (seen.st_size, seen.st_ino, seen.st_mtime_ns) != (
            made.get("bytes"), made.get("inode"), made.get("mtime_ns")):
        return None
    if made.get("basis") != _basis(settings, engine, capture, _key_fingerprint(settings, engine)):
        return None
    return {**made, "status": "ready", "error": None}


def _key_fingerprint(settings: Settings, engine: Engine) -> str:
    from refuge.storage.wacz.signing import wacz_key  # the signing stack, loaded when first needed

    return wacz_key(settings, engine).fingerprint()


def _make(settings: Settings, engine: Engine, capture: dict[str, Any], job: _Job) -> None:
    """Write CAPTURE's package and its description (see the module's docstring), for JOB."""
    from refuge.storage.wacz.package import write_wacz  # the package's stack, loaded when first needed

    path = package_path(settings, capture["target"], capture["id"])
    _sweep(path.parent.parent, path.parent)
    fingerprint = _key_fingerprint(settings, engine)
    basis = _basis(settings, engine, capture, fingerprint)  # before: a takedown made meanwhile makes it outdated
    packaged = write_wacz(settings, engine, capture["target"], path, capture["id"])
    sha256 = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            sha256.update(block)
        seen = os.fstat(fh.fileno())
    made = {"capture": capture["id"], "target": capture["target"], "requested_by": job.requested_by,
            "requested_at": job.requested_at, "made_at": now_iso(), "created": packaged.created, "bytes": seen.st_size,
            "inode": seen.st_ino, "mtime_ns": seen.st_mtime_ns, "sha256": sha256.hexdigest(),
            "fingerprint": packaged.fingerprint, "warcs": packaged.warcs, "warc_bytes": packaged.warc_bytes,
            "pages": packaged.pages, "withheld": packaged.withheld, "basis": basis}
    side = _sidecar(path)
    tmp = side.with_name(f".{side.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as out:
            json.dump(made, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, side)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _sweep(root: Path, folder: Path) -> None:
    """Remove FOLDER's leftover temporary files, and packages under ROOT past KEEP_DAYS."""
    now = time.time()
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp"):
            try:
                if now - leftover.stat().st_mtime > STALE_TEMP:
                    leftover.unlink()
                    log.warning("removed %s, left by a WACZ packaging that did not finish", leftover)
            except OSError:
                pass  # gone already, or another process's to remove
    for side in root.glob("*/*.wacz.json"):
        try:
            if now - side.stat().st_mtime > KEEP_DAYS * 86400:
                side.unlink()  # the description first: a package without one is never sent
                side.with_name(side.name[:-len(".json")]).unlink(missing_ok=True)
        except OSError:
            pass
