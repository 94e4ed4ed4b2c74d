"""Folders the benchmark writes into, made fresh without deleting anything while it runs.

Deleting a tree of thousands of files on this VM's disk (ext4 mounted with online discard)
slows the file creation that follows, for a minute or more after a gigabyte: a tool that
ran right after the harness deleted its last copy took up to twice its time, while the
tool that ran next did not. So an old folder is moved aside into TRASH (a rename, which
frees nothing), and run.py empties TRASH when the benchmark ends.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

TRASH = Path(__file__).resolve().parent / ".work" / ".trash"


def fresh_dir(path: Path) -> Path:
    """PATH as a new, empty folder; what was there goes to TRASH."""
    if path.exists():
        TRASH.mkdir(parents=True, exist_ok=True)
        os.rename(path, TRASH / f"{path.name}-{uuid.uuid4().hex[:8]}")
    path.mkdir(parents=True)
    return path


def empty_trash() -> None:
    shutil.rmtree(TRASH, ignore_errors=True)
