"""The local store: the data directory itself, where captures are written.

Its copy is the original file, so `put` here only ever repairs: the bad file is kept
beside the good one as `<name>.bad-<time>` (evidence for whoever investigates), and
the good bytes go in through a temporary file and an atomic rename.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from refuge import __version__
from refuge.storage.stores.interface import READ_CHUNK, FileRef, Missing, StoreError


class LocalStore:
    name = "local"

    def __init__(self, data: Path) -> None:
        self.data = data

    def location(self, f: FileRef) -> str:
        """The file's path inside the data directory, as the catalog's files table has it."""
        return f.data_path or str(f.local_path)

    def has(self, f: FileRef) -> bool:
        try:
            return f.local_path.stat().st_size == f.size
        except OSError:
            return False

    def put(self, f: FileRef, source: Path) -> str:
        target = f.local_path
        if source.resolve() == target.resolve():
            return self.location(f)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            stamp = _stamp()
            target.rename(target.with_name(f"{target.name}.bad-{stamp}"))
        tmp = target.with_name(f".{target.name}.repair")
        try:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, READ_CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"local: cannot write {target}: {exc.strerror or exc}") from None
        return self.location(f)

    def read(self, f: FileRef) -> Iterator[bytes]:
        try:
            fh = open(f.local_path, "rb")
        except FileNotFoundError:
            raise Missing(f"local: {f.local_path} is missing") from None
        except OSError as exc:
            raise StoreError(f"local: cannot read {f.local_path}: {exc.strerror or exc}") from None
        return _chunks(fh)

    def status(self) -> dict[str, Any]:
        self.data.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(self.data)
        return {"store": "local", "reachable": True, "where": str(self.data.resolve()),
                "version": f"refuge {__version__}", "free_bytes": usage.free, "error": None}

    def describe(self, f: FileRef) -> dict[str, Any]:
        return {"path": f"archive/{f.relative}"}


def _chunks(fh: Any) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(READ_CHUNK):
            yield chunk


def _stamp() -> str:
    from refuge.storage.catalog.db import utcnow
    return utcnow().strftime("%Y%m%dT%H%M%SZ")
