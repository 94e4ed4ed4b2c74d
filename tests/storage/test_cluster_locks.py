"""Locks between processes that share a catalog: advisory locks on PostgreSQL (any
machine), flock on SQLite (one machine)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from refuge.storage import catalog
from refuge.storage.catalog.locks import exclusive


def one_at_a_time(url: str, tmp_path) -> list[str]:  # type: ignore[no-untyped-def]
    """Two holders on engines of their own (as two processes would be): what each did, in order."""
    said: list[str] = []
    held = threading.Event()
    catalog.connect(url).dispose()  # the catalog made first, as `refuge` would have

    def first() -> None:
        engine = catalog.connect(url)
        with exclusive(engine, "publish:km", tmp_path / "km.lock"):
            said.append("first in")
            held.set()
            time.sleep(0.5)
            said.append("first out")
        engine.dispose()

    def second() -> None:
        engine = catalog.connect(url)
        held.wait(10)
        with exclusive(engine, "publish:km", tmp_path / "km.lock"):
            said.append("second in")
        with exclusive(engine, "publish:en", tmp_path / "en.lock"):  # another name: another lock
            pass
        engine.dispose()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return said


@pytest.mark.postgres
def test_a_lock_on_postgresql_holds_across_connections(tmp_path, postgres_server) -> None:
    url = postgres_server.create_database("l" + uuid.uuid4().hex[:12])
    assert one_at_a_time(url, tmp_path) == ["first in", "first out", "second in"]


def test_a_lock_on_sqlite_holds_across_processes_of_one_machine(tmp_path) -> None:
    assert one_at_a_time(f"sqlite:///{tmp_path}/catalog.sqlite", tmp_path) == ["first in", "first out", "second in"]
