"""A capture's checkpoints in S3 (distributed mode): what a worker on another machine
needs to resume a capture whose machine died.

- Each WARC file the capture seals goes to S3 at once (a background thread, so the
  crawl never waits on an upload), with its CDXJ, recorded in the catalog as the S3
  copy. Workers also seal their open files every checkpoint_seconds (warcwriter's
  max_age), so little is ever only on the local disk.
- Every checkpoint_seconds, and when the capture stops, the journal goes to S3 as
  PREFIX<target>/<capture>/frontier.journal.jsonl (the one object that is overwritten).
- A worker resuming a capture whose journal is not on its disk fetches it from there
  (`fetch_journal`).

Journal and files need not agree: a resumed capture fetches again whatever its journal
says was recorded but whose record it cannot read (crawl.py, archived.py). So a crash
between the two costs refetching, never a lost or doubled record.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import Engine

from refuge.archiver.journal import JOURNAL_NAME
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import replicas
from refuge.storage.replicate import push_sealed
from refuge.storage.stores.interface import StoreError
from refuge.storage.stores.s3 import S3Store

log = logging.getLogger(__name__)


def journal_key(settings: Settings, target: str, capture_id: str) -> str:
    assert settings.s3 is not None
    return f"{settings.s3.prefix}{target}/{capture_id}/{JOURNAL_NAME}"


def fetch_journal(settings: Settings, target: str, capture_id: str, path: Path) -> bool:
    """Bring the capture's journal from S3 to PATH; whether there was one."""
    if settings.s3 is None:
        return False
    store = S3Store(settings.s3)
    key = journal_key(settings, target, capture_id)
    try:
        head = store.head(key)
        if head is None or not head["ContentLength"]:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".fetching")
        try:
            with open(tmp, "wb") as fh:
                for chunk in store.read_range(key, 0, head["ContentLength"] - 1):
                    fh.write(chunk)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    except (StoreError, OSError) as exc:
        log.warning("capture %s: could not fetch its journal from S3 (%s); it starts again", capture_id, exc)
        return False
    log.info("capture %s: its journal came from S3", capture_id)
    return True


def forget_lost(settings: Settings, engine: Engine, capture_id: str) -> list[str]:
    """The capture's sealed files that are neither on this disk nor in S3 (sealed on a
    machine that died before it uploaded them), forgotten with their index rows so the
    resumed capture fetches their URLs again; their names."""
    lost = [f for f in replicas.file_refs(engine, settings.data, [capture_id])
            if not f.local_path.exists() and replicas.located(engine, f.data_path, "s3") is None]
    catalog.forget_files(engine, [f.file_id for f in lost])
    for f in lost:
        log.warning("capture %s: %s was sealed on a machine that stopped before copying it to S3; "
                    "what it held is fetched again", capture_id, f.name)
    return [f.name for f in lost]


class Checkpoints:
    """Uploads for one running capture; `sealed()` from the crawl, `close()` when it ends."""

    def __init__(self, settings: Settings, engine: Engine, target: str, capture_id: str, journal: Path) -> None:
        assert settings.s3 is not None
        self.settings, self.engine = settings, engine
        self.target, self.capture_id, self.journal = target, capture_id, journal
        self.store = S3Store(settings.s3)
        self._wake = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"checkpoint-{capture_id}", daemon=True)
        self._thread.start()

    def sealed(self) -> None:
        """A file was sealed: upload what is new soon."""
        self._wake.set()

    def close(self, complete: bool) -> None:
        """Upload what is left, the journal last (or, when the capture is COMPLETE, delete
        it: nothing is left to resume); returns when done."""
        self._done.set()
        self._wake.set()
        self._thread.join()
        if complete:
            try:
                self.store.delete(journal_key(self.settings, self.target, self.capture_id))
            except StoreError as exc:
                log.warning("capture %s: could not delete its journal from S3 (%s)", self.capture_id, exc)

    def _run(self) -> None:
        every = self.settings.checkpoint_seconds
        last_journal = time.monotonic()
        while True:
            self._wake.wait(max(0.0, every - (time.monotonic() - last_journal)))
            self._wake.clear()
            finishing = self._done.is_set()
            self._upload_files()
            # The journal on its own clock: seals come as often as it would, and must not
            # keep putting it off.
            if finishing or time.monotonic() - last_journal >= every:
                self._upload_journal()
                last_journal = time.monotonic()
            if finishing:
                return

    def _upload_files(self) -> None:
        try:
            report = push_sealed(self.settings, self.engine, self.capture_id, "s3")
        except Exception:  # noqa: BLE001 - the end-of-capture push and the replicate job retry
            log.exception("capture %s: checkpoint upload failed", self.capture_id)
            return
        for name, error in report.store_errors.items():
            log.warning("capture %s: checkpoint to %s failed: %s", self.capture_id, name, error)

    def _upload_journal(self) -> None:
        try:
            source = open(self.journal, "rb")
        except FileNotFoundError:
            return  # a capture that completed removes its journal: nothing to resume
        try:
            (self.settings.data / "tmp").mkdir(parents=True, exist_ok=True)
            with source, tempfile.NamedTemporaryFile(dir=self.settings.data / "tmp", suffix=".journal") as copy:
                # A copy as it stands: the crawl goes on appending while it goes up.
                shutil.copyfileobj(source, copy)
                copy.flush()
                self.store.put_file(journal_key(self.settings, self.target, self.capture_id), Path(copy.name),
                                    {"ContentType": "application/jsonl"})
        except (StoreError, OSError) as exc:
            log.warning("capture %s: could not put its journal in S3 (%s); trying at the next checkpoint",
                        self.capture_id, exc)
