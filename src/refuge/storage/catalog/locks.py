"""Locks between every process that shares the catalog, on one machine or many.

`exclusive(engine, name, local_file)` holds the lock NAME for the block: on PostgreSQL
(a catalog many machines share) a session advisory lock on a connection of its own,
keyed by NAME's hash; on SQLite (one machine) an flock on LOCAL_FILE. Either is let go
when its holder dies, so a killed process never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """NAME as a signed 64-bit advisory lock key (stable across processes and versions)."""
    return int.from_bytes(hashlib.sha256(f"refuge:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(engine: Engine, name: str, local_file: Path) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(name)})
            conn.commit()  # the lock is the session's; no transaction stays open while it is held
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})
                conn.commit()
        return
    local_file.parent.mkdir(parents=True, exist_ok=True)
    with open(local_file, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
