"""Locks between every process that shares the catalog, on one machine or many.

`exclusive(engine, name, local_file)` holds the lock NAME for the block: on PostgreSQL
(a catalog many machines share) a session advisory lock on a connection of its own,
keyed by NAME's hash; on SQLite (one machine) an flock on LOCAL_FILE. Either is let go
when its holder dies, so a killed process never leaves a lock behind. Waiting for it
is bounded: after WAIT seconds a Failure names the lock.

`attempt(engine, name)` takes the PostgreSQL lock NAME only if it is free, for work
that another process doing it makes unnecessary (copying the same file); it says
whether it got it. On SQLite it always does: one machine, whose processes the callers
keep apart themselves.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from refuge.config.errors import Failure


def lock_key(name: str) -> int:
    """NAME as a signed 64-bit advisory lock key (stable across processes and versions)."""
    return int.from_bytes(hashlib.sha256(f"refuge:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(engine: Engine, name: str, local_file: Path, wait: float = 600.0) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        deadline = time.monotonic() + wait
        with _held(engine, name) as got:
            while not got():
                if time.monotonic() > deadline:
                    raise Failure(f"lock {name!r}: still held by another process after {wait:.0f} s; try again")
                time.sleep(0.5)
            yield
        return
    local_file.parent.mkdir(parents=True, exist_ok=True)
    with open(local_file, "a+b") as fh:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Failure(f"{local_file}: still locked by another process after {wait:.0f} s; "
                                  f"try again") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def attempt(engine: Engine, name: str) -> Iterator[bool]:
    if engine.dialect.name != "postgresql":
        yield True
        return
    with _held(engine, name) as got:
        yield got()


@contextmanager
def _held(engine: Engine, name: str) -> Iterator[Callable[[], bool]]:
    """A connection of its own, and a function that tries for the lock NAME on it (true once
    held); let go, if held, when the block ends. A connection whose unlock fails is thrown
    away rather than pooled: a session lock outlives the transaction a pool rolls back."""
    key = lock_key(name)
    held = False

    def get() -> bool:
        nonlocal held
        held = held or bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        conn.commit()  # the lock is the session's; no transaction stays open while it is held
        return held

    with engine.connect() as conn:
        try:
            yield get
        finally:
            if held:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()
                except Exception:  # noqa: BLE001 - the block's own outcome matters more
                    conn.invalidate()
