"""Where an export is written: the files of the tree, each hashed as it is written, and the
finished tree swapped in whole for what OUT held before (mirror.export)."""

from __future__ import annotations

import ctypes
import hashlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refuge.mirror.export.paths import check_safe


@dataclass(frozen=True)
class ExportedFile:
    path: str          # POSIX, relative to the export root
    sha256: str        # hex of the bytes written
    size: int
    content_type: str  # for HTTP serving (S3 Content-Type)
    role: str          # "page" | "asset" | "index" | "data" | "list"


class Tree:
    """Files written under ROOT, each hashed as it is written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._prefix = f"{root}/"  # a str: paths are joined for every file
        self.files: list[ExportedFile] = []
        self._folders: set[str] = set()

    def open(self, path: str) -> Any:
        check_safe(path)
        folder = path.rpartition("/")[0]
        if folder and folder not in self._folders:
            os.makedirs(self._prefix + folder, exist_ok=True)
            self._folders.add(folder)
        return open(self._prefix + path, "xb")  # never over another file: paths are unique

    def set_time(self, path: str, when: float) -> None:
        os.utime(self._prefix + path, (when, when))

    def add(self, path: str, digest: str, size: int, content_type: str, role: str) -> None:
        self.files.append(ExportedFile(path, digest, size, content_type, role))

    def write(self, path: str, data: bytes, role: str, content_type: str) -> None:
        with self.open(path) as fh:
            fh.write(data)
        self.add(path, hashlib.sha256(data).hexdigest(), len(data), content_type, role)


class Hashed:
    """A file being written, hashed and counted as it goes."""

    __slots__ = ("fh", "sha", "size")

    def __init__(self, fh: Any) -> None:
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        if data:
            self.fh.write(data)
            self.sha.update(data)
            self.size += len(data)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def swap_in(tmp: Path, out: Path) -> None:
    """The finished tree at TMP takes the place of OUT, in one step where the system can
    exchange two paths, so OUT never holds half an export."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):  # tmp now holds the old tree
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = out.parent / f".{out.name}.refuge-old-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
