"""Where an import's files wait while they are checked, and what a crashed import leaves.

An import stages its files in `DATA/archive/<target>/.importing-<random>/`, beside the
target's captures (the same filesystem, so the folder is renamed into place, never
copied), with a file `.import-owner` naming its process (host:pid). Once every file is
checked and indexed, the folder is renamed `<capture id>` (`place`) and the catalog
records the capture in one transaction; then the owner file goes (`settle`).

Nothing reads a capture folder the catalog does not know (crash recovery indexes only the
files of captures it knows: storage.warc.sealed), so a crash at any step leaves nothing
a reader sees: at most a folder, which `sweep`, run by the next import of the target,
removes once its owner process is gone. Folders of another machine's imports (a shared
disk) are left to that machine.

One process may run several imports at once (the admin server does, in its threads), so
"its owner process is alive" is not enough when the owner is this process: this process
keeps the folders its imports are using (from `open_staging` until `settle` or `discard`,
followed through `place`) in a registry, and a folder naming this process that is not in
it was left by an earlier process that had the same pid.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from refuge.storage.catalog.captures import worker_alive, worker_id
from refuge.storage.warc.sealed import fsync_dir

log = logging.getLogger(__name__)

OWNER = ".import-owner"
PREFIX = ".importing-"

_in_use: set[Path] = set()  # this process's folders with an import at work in them
_in_use_lock = threading.Lock()


def open_staging(target_dir: Path) -> Path:
    """A new, empty staging folder under TARGET_DIR, marked as this process's."""
    folder = target_dir / f"{PREFIX}{secrets.token_hex(6)}"
    _use(folder)  # before its owner file exists, so no sweep ever sees it unclaimed
    try:
        # With its parents: another import's discard may just have removed an empty TARGET_DIR.
        folder.mkdir(parents=True)
        (folder / OWNER).write_text(worker_id() + "\n", encoding="utf-8")
    except BaseException:
        _release(folder)
        raise
    return folder


def place(staging: Path, final: Path) -> None:
    """Rename the staging folder to the capture's folder FINAL, durably."""
    for path in staging.iterdir():  # the files were fsynced as written; their folder now
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(staging)
    _use(final)
    try:
        os.rename(staging, final)  # fails if FINAL exists: a capture id is never reused
    except BaseException:
        _release(final)
        raise
    _release(staging)
    fsync_dir(final.parent)


def settle(final: Path) -> None:
    """The capture is recorded: its folder is no longer an import's."""
    (final / OWNER).unlink(missing_ok=True)
    _release(final)


def discard(folder: Path) -> None:
    """Remove a staging (or placed but unrecorded) folder, and the target's folder if that
    leaves it empty (a new target's import that was refused)."""
    shutil.rmtree(folder, ignore_errors=True)
    _release(folder)
    try:
        folder.parent.rmdir()
    except OSError:
        pass  # not empty: the target's captures are there


def sweep(target_dir: Path, recorded: Callable[[str], bool]) -> list[Path]:
    """Remove what crashed imports under TARGET_DIR left: staging folders, and capture
    folders the catalog never recorded (RECORDED(capture id) is False), whose owner process
    on this host is gone. A recorded capture's leftover owner file just goes. The folders
    removed."""
    removed: list[Path] = []
    if not target_dir.is_dir():
        return removed
    for folder in sorted(target_dir.iterdir()):
        owner = folder / OWNER
        if not folder.is_dir() or not owner.exists():
            continue
        if not folder.name.startswith(PREFIX) and recorded(folder.name):
            owner.unlink(missing_ok=True)
            continue
        if _alive(owner):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        _release(folder)
        removed.append(folder)
        log.warning("removed %s, left by an import that did not finish", folder)
    return removed


def _alive(owner: Path) -> bool:
    """Whether the process named in OWNER may still be importing into OWNER's folder: this
    process, when one of its imports is (the registry); another, while it runs."""
    try:
        worker = owner.read_text(encoding="utf-8").strip()
    except OSError:
        return True
    if worker == worker_id():
        with _in_use_lock:
            return _key(owner.parent) in _in_use
    return worker_alive(worker)


def _key(folder: Path) -> Path:
    return Path(os.path.realpath(folder))  # one name per folder, however the caller spelt its path


def _use(folder: Path) -> None:
    with _in_use_lock:
        _in_use.add(_key(folder))


def _release(folder: Path) -> None:
    with _in_use_lock:
        _in_use.discard(_key(folder))
