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
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from refuge.storage.catalog.captures import worker_alive, worker_id
from refuge.storage.warc.sealed import fsync_dir

log = logging.getLogger(__name__)

OWNER = ".import-owner"
PREFIX = ".importing-"


def open_staging(target_dir: Path) -> Path:
    """A new, empty staging folder under TARGET_DIR, marked as this process's."""
    target_dir.mkdir(parents=True, exist_ok=True)
    folder = target_dir / f"{PREFIX}{secrets.token_hex(6)}"
    folder.mkdir()
    (folder / OWNER).write_text(worker_id() + "\n", encoding="utf-8")
    return folder


def place(staging: Path, final: Path) -> None:
    """Rename the staging folder to the capture's folder FINAL, durably."""
    for path in staging.iterdir():  # the files were fsynced as written; their folder now
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(staging)
    os.rename(staging, final)  # fails if FINAL exists: a capture id is never reused
    fsync_dir(final.parent)


def settle(final: Path) -> None:
    """The capture is recorded: its folder is no longer an import's."""
    (final / OWNER).unlink(missing_ok=True)


def discard(folder: Path) -> None:
    """Remove a staging (or placed but unrecorded) folder, and the target's folder if that
    leaves it empty (a new target's import that was refused)."""
    shutil.rmtree(folder, ignore_errors=True)
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
        removed.append(folder)
        log.warning("removed %s, left by an import that did not finish", folder)
    return removed


def _alive(owner: Path) -> bool:
    """Whether the process named in OWNER may still be importing (this one is not: it is
    about to import into it)."""
    try:
        worker = owner.read_text(encoding="utf-8").strip()
    except OSError:
        return True
    return worker != worker_id() and worker_alive(worker)
    return True
