"""Search on PostgreSQL beyond what test_search.py runs on both engines: pg_trgm's GIN index
serves Khmer queries in a UTF-8 database, a "C" database is told about and still answers
right, two processes indexing the same capture leave one index, and a search that runs too
long is cancelled with a message."""

from __future__ import annotations

import threading
import time

import pytest
from search_corpus import EN, KM, LAND_GRAB, import_corpus, utf8_database
from sqlalchemy import event, func, select, text

from refuge.storage import catalog
from refuge.storage.catalog import search as search_module
from refuge.storage.catalog.schema import search_pages
from refuge.storage.catalog.search import QueryError, index_capture, search, trigram_problem

pytestmark = pytest.mark.postgres


def test_khmer_queries_use_the_trigram_index(tmp_settings, postgres_server, tmp_path) -> None:
    settings = tmp_settings.replace(database_url=utf8_database(postgres_server))
    engine = catalog.connect(settings.catalog_url)
    import_corpus(settings, engine, tmp_path / "warcs")
    assert trigram_problem(engine) is None
    ran: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "search_pages" in statement and "row_number" in statement:
            ran.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        assert [h.url for h in search(engine, LAND_GRAB).hits] == [KM + "land.html", EN + "land-grab.html"]
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    statement, parameters = ran[-1]
    with engine.connect() as conn:
        # A table this small is read whole, or in key order, unless the planner is told not to.
        conn.execute(text("SET enable_seqscan = off"))
        conn.execute(text("SET enable_indexscan = off"))
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars())
    assert "search_pages_trigrams" in plan, plan


def test_a_c_locale_database_is_told_about_and_still_finds_khmer(tmp_settings, postgres_server, tmp_path) -> None:
    import uuid

    settings = tmp_settings.replace(database_url=postgres_server.create_database("c" + uuid.uuid4().hex[:12]))
    engine = catalog.connect(settings.catalog_url)
    import_corpus(settings, engine, tmp_path / "warcs")
    problem = trigram_problem(engine)
    assert problem is not None and "LC_CTYPE (C)" in problem and "C.UTF-8" in problem
    assert [h.url for h in search(engine, LAND_GRAB).hits] == [KM + "land.html", EN + "land-grab.html"]


def test_two_processes_indexing_one_capture_leave_one_index(tmp_settings, postgres_server, tmp_path) -> None:
    settings = tmp_settings.replace(database_url=utf8_database(postgres_server))
    engine = catalog.connect(settings.catalog_url)
    captures = import_corpus(settings, engine, tmp_path / "warcs")
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(search_pages)).scalar()
        conn.execute(text("DELETE FROM search_pages"))
        conn.commit()
    counts: list[int] = []
    errors: list[BaseException] = []

    def run(capture_id: str) -> None:
        try:
            counts.append(index_capture(catalog.connect(settings.catalog_url, create=False), settings, capture_id))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c["id"],)) for c in captures.values() for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(counts) == 8
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(search_pages)).scalar() == before
    assert len(search(engine, LAND_GRAB).hits) == 2


def test_a_search_running_too_long_is_cancelled_with_a_message(tmp_settings, postgres_server, tmp_path,
                                                                monkeypatch) -> None:
    settings = tmp_settings.replace(database_url=utf8_database(postgres_server))
    engine = catalog.connect(settings.catalog_url)
    import_corpus(settings, engine, tmp_path / "warcs")
    monkeypatch.setattr(search_module, "TIMEOUT_MS", 300)
    with engine.connect() as blocker:  # another session holds the index: the search would wait for ever
        blocker.execute(text("LOCK TABLE search_pages IN ACCESS EXCLUSIVE MODE"))
        began = time.monotonic()
        with pytest.raises(QueryError, match="took too long"):
            search(engine, LAND_GRAB)
        assert time.monotonic() - began < 10
        blocker.rollback()
    assert len(search(engine, LAND_GRAB).hits) == 2
    with engine.connect() as conn:  # the timeout was the search's transaction's, not the pooled connection's
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
