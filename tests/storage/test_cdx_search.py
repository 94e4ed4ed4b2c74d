"""The CDX server's reading of the index (storage.catalog.cdx_search, timeline): pywb's key
ranges, B-tree plans only, bounded reads, and the same answers from a PostgreSQL catalog."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import event

from cdx_archive import FRONT, FRONT_TIMES, write_archive
from refuge.mirror.replay import cdx_api, memento
from refuge.storage import catalog
from refuge.storage.catalog import cdx_search, timeline
from refuge.storage.catalog.cdx_search import KeyRange, search_range

# pywb.utils.canonicalize.calc_search_range's own examples (pywb 2.10, SURT-ordered).
PYWB_RANGES = [
    ("http://example.com/path/file.html", "exact", ("com,example)/path/file.html", "com,example)/path/file.html!")),
    ("http://example.com/path/file.html", "prefix", ("com,example)/path/file.html", "com,example)/path/file.htmm")),
    ("http://example.com/path/", "prefix", ("com,example)/path/", "com,example)/path0")),
    ("http://example.com/path?", "prefix", ("com,example)/path?", "com,example)/path@")),
    ("http://example.com/path/?", "prefix", ("com,example)/path?", "com,example)/path@")),
    ("http://example.com/path/file.html", "host", ("com,example)/", "com,example*")),
    ("http://example.com/path/file.html", "domain", ("com,example)/", "com,example-")),
    ("com", "domain", ("com,", "com-")),
]


@pytest.mark.parametrize(("url", "match_type", "expected"), PYWB_RANGES)
def test_key_ranges_are_pywbs(url: str, match_type: str, expected: tuple[str, str]) -> None:
    rng = search_range(url, match_type)
    assert (rng.low, rng.high) == expected and rng.exact == (match_type == "exact")


@pytest.fixture
def archive(tmp_settings):
    engine = catalog.connect(tmp_settings.catalog_url)
    write_archive(tmp_settings, engine)
    yield engine
    engine.dispose()


QUERIES = ["url=news.example/", "url=news.example/*&limit=3", "url=news.example&matchType=domain&sort=reverse",
           "url=news.example/&limit=-2", "url=news.example/&closest=2024&limit=2",
           "url=news.example/*&closest=2024&filter=~url:.*html", "url=news.example&matchType=host&from=2025",
           "url=news.example&matchType=domain&page=1&pageSize=3", "url=news.example&matchType=domain&showNumPages=1",
           "url=news.example&matchType=domain&page=9&pageSize=3"]


def test_every_query_of_the_cdx_table_is_a_b_tree_seek_or_range(archive) -> None:
    seen: list[tuple[str, tuple]] = []

    @event.listens_for(archive, "before_cursor_execute")
    def record(_conn, _cursor, statement, parameters, *_args) -> None:
        seen.append((statement, parameters))

    for query in QUERIES:
        cdx_api.answer(archive, query)
    memento.timemap(archive, "link", FRONT, None, size=2)
    memento.timemap(archive, "link", FRONT, FRONT_TIMES[3], size=2)
    timeline.neighbours(archive, "example,news)/", FRONT_TIMES[2])
    event.remove(archive, "before_cursor_execute", record)

    on_cdx = [(s, p) for s, p in seen if "FROM cdx" in s]
    assert len(on_cdx) >= len(QUERIES) + 3
    with archive.connect() as conn:
        for statement, parameters in on_cdx:
            plan = [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            for step in plan:
                assert "SCAN cdx" not in step and "TEMP B-TREE" not in step, (statement, plan)
            # Through the (urlkey, timestamp) index, or by primary key for rows found through it.
            assert any("cdx USING" in step and ("INDEX cdx_by_url_time" in step or "INTEGER PRIMARY KEY" in step)
                       for step in plan), (statement, plan)


def test_reads_stop_at_their_cap(archive) -> None:
    host = search_range("news.example", "host")
    with cdx_search.scan(archive, host, cap=5) as rows:
        assert len(list(rows)) == 5 and rows.capped
    with cdx_search.scan(archive, host, until="20231231235959", cap=5) as rows:  # over a range, from/to count too
        assert list(rows) == [] and rows.read == 5 and rows.capped
    with cdx_search.around(archive, "example,news)/", "20240601120000", cap=3) as rows:
        assert [h.timestamp for h in rows] == [FRONT_TIMES[2], FRONT_TIMES[1], FRONT_TIMES[0]] and rows.capped
    assert cdx_search.count(archive, host, cap=4) == 4
    assert cdx_search.count(archive, KeyRange("example,news)/", "", exact=True), since="2025", cap=99) == 2


@pytest.mark.parametrize(("url", "match_type"), [(FRONT, "exact"), ("news.example", "domain")])
@pytest.mark.parametrize("window", [{}, {"since": "20240101000012", "until": "20250101000000"}], ids=["all", "window"])
def test_skipped_rows_are_the_ones_before_in_either_direction(archive, url: str, match_type: str,
                                                               window: dict) -> None:
    rng = search_range(url, match_type)

    def read(window: dict, **kw) -> list[tuple]:
        with cdx_search.scan(archive, rng, **window, **kw) as rows:
            return [(h.urlkey, h.timestamp, h.offset) for h in rows]

    def inside(row: tuple) -> bool:
        return not window or window["since"] <= row[1] <= window["until"]

    for reverse in (False, True):
        # An exact key's window narrows the seek (skipped rows are inside it); a range's
        # window drops rows after reading (skipped rows are the range's).
        seek = window if rng.exact else {}
        ordered = read(seek, cap=1000, reverse=reverse)
        assert ordered == read(seek, cap=1000, reverse=not reverse)[::-1] and len(ordered) > 2
        for skip in range(1, len(ordered) + 1):
            expected = [r for r in ordered[skip:skip + 3] if inside(r)]
            assert read(window, cap=3, skip=skip, reverse=reverse) == expected, (skip, reverse)


def test_a_timemap_page_and_the_one_before_it_meet(archive) -> None:
    page = timeline.mementos(archive, "example,news)/", FRONT_TIMES[2], 3)
    assert [h.timestamp for h in page] == FRONT_TIMES[2:5]
    assert timeline.page_start_before(archive, "example,news)/", FRONT_TIMES[2], 3) == FRONT_TIMES[0]
    assert timeline.page_start_before(archive, "example,news)/", FRONT_TIMES[0], 3) is None
    n = timeline.neighbours(archive, "example,news)/", FRONT_TIMES[0])
    assert (n.first, n.prev, n.next, n.last) == (FRONT_TIMES[0], None, FRONT_TIMES[1], FRONT_TIMES[-1])


@pytest.mark.postgres
def test_postgresql_gives_the_same_answers(archive, tmp_path, postgres_server) -> None:
    from refuge.config.settings import Settings

    data = tmp_path / "pg-data"
    data.mkdir()
    settings = Settings(data=data, database_url=postgres_server.create_database("t" + uuid.uuid4().hex[:12]))
    pg = catalog.connect(settings.catalog_url)
    try:
        write_archive(settings, pg)

        def rows(engine, query: str) -> list[tuple]:
            response = cdx_api.answer(engine, query + "&output=json")
            assert response.status_code == 200, response.get_data(as_text=True)
            # The two archives' WARC files differ in name (and so in offsets): the rest is equal.
            return [tuple(v for k, v in json.loads(line).items() if k not in ("filename", "offset", "length"))
                    for line in response.get_data(as_text=True).splitlines()]

        for query in QUERIES[:-2]:
            assert rows(pg, query) == rows(archive, query), query
        assert cdx_api.answer(pg, QUERIES[-2]).get_data() == cdx_api.answer(archive, QUERIES[-2]).get_data()
        for since in (None, FRONT_TIMES[3]):
            ours, theirs = (memento.timemap(e, "link", FRONT, since, size=2) for e in (pg, archive))
            assert ours.get_data() == theirs.get_data() and ours.headers["Link"] == theirs.headers["Link"]
    finally:
        pg.dispose()
