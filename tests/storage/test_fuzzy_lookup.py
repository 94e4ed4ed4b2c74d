"""storage.catalog.fuzzy: a URL made different each time by a cache-busting query finds the
capture of the same URL, in a real SQLite catalog over real WARC files."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from refuge.storage import catalog
from refuge.storage.catalog import fuzzy, index
from replay_helpers import ArchiveWriter

API = "https://news.example/api/articles"
T0, T1, T2 = "20261201080000", "20261201090000", "20261201100000"
JSON = (("Content-Type", "application/json"),)


@pytest.fixture
def engine(tmp_settings):
    engine = catalog.connect(tmp_settings.catalog_url)
    with ArchiveWriter(tmp_settings, engine, "news", "https://news.example/") as w:
        w.response(f"{API}?page=1&_=1764576000123", b'{"page": 1, "at": 0}', ts=T0, headers=JSON)
        w.response(f"{API}?page=1&_=1764579600456", b'{"page": 1, "at": 1}', ts=T1, headers=JSON)
        w.response(f"{API}?_=1764579600999&page=2", b'{"page": 2}', ts=T1, headers=JSON)
        w.response(f"{API}?page=1&sort=new&cb=7", b'{"page": 1, "sort": "new"}', ts=T1, headers=JSON)
        w.response("https://news.example/feed.json", b'{"feed": "plain"}', ts=T0, headers=JSON)
        w.response("https://news.example/feed.json?t=5", b'{"feed": "t=5"}', ts=T2, headers=JSON)
    return engine


def test_the_exact_url_comes_first(engine) -> None:
    hit = fuzzy.closest_fuzzy(engine, "https://news.example/feed.json?t=5", T0)
    assert hit is not None and hit.url.endswith("?t=5")  # captured as asked: no fuzziness, whatever the time


def test_the_same_url_without_the_buster_comes_next(engine) -> None:
    hit = fuzzy.closest_fuzzy(engine, "https://news.example/feed.json?t=1893456000", T2)
    assert hit is not None and hit.url == "https://news.example/feed.json"


def test_a_capture_with_another_buster_of_the_same_query_is_found_nearest_in_time(engine) -> None:
    assert fuzzy.closest_fuzzy(engine, f"{API}?page=1&_=1800000000000", T0).timestamp == T0
    assert fuzzy.closest_fuzzy(engine, f"{API}?page=1&_=1800000000000", T2).timestamp == T1
    assert fuzzy.closest_fuzzy(engine, f"{API}?page=1&_=1800000000000").timestamp == T1  # no time: the newest
    # Order and case of the parameters do not matter (SURT keys sort and fold them).
    hit = fuzzy.closest_fuzzy(engine, f"{API}?_=1&PAGE=2", T0)
    assert hit is not None and "page=2" in hit.url


def test_parameters_that_name_content_are_never_ignored(engine) -> None:
    hit = fuzzy.closest_fuzzy(engine, f"{API}?page=2&_=1800000000000", T0)
    assert hit is not None and "page=2" in hit.url  # never page 1, though page 1 is nearer in time
    assert fuzzy.closest_fuzzy(engine, f"{API}?page=3&_=1", T1) is None
    assert fuzzy.closest_fuzzy(engine, f"{API}?page=1&sort=old&cb=8", T1) is None
    hit = fuzzy.closest_fuzzy(engine, f"{API}?sort=new&page=1&cb=9&t=1764576000", T1)
    assert hit is not None and "sort=new" in hit.url
    assert index.closest(engine, f"{API}?page=1&_=1800000000000", T1) is None  # plain lookups stay exact


def test_a_path_with_many_captured_queries_costs_a_bounded_read(tmp_settings, monkeypatch) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    with ArchiveWriter(tmp_settings, engine, "busy", "https://busy.example/") as w:
        for n in range(90):  # keys sort by the buster: page 0's captures first, page 1's after
            w.response(f"https://busy.example/api?page={n // 60}&_={1000 + n}", b"{}", ts=T0, headers=JSON)
    monkeypatch.setattr(fuzzy, "SCAN_ROWS", 50)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    hit = fuzzy.closest_fuzzy(engine, "https://busy.example/api?page=0&_=1", T0)
    assert hit is not None and "page=0" in hit.url
    # The URL and the URL without its buster (two probes each: before and after the time), two
    # range reads of at most SCAN_ROWS index entries in all, and the capture chosen: never a scan.
    assert len(statements) <= 8 and all("LIMIT" in s for s in statements), statements
    # Page 1's captures lie beyond the bound: not found, rather than read at any cost.
    assert fuzzy.closest_fuzzy(engine, "https://busy.example/api?page=1&_=1", T0) is None


def test_a_buster_that_is_the_time_finds_the_captures_of_its_time_however_many(tmp_settings, monkeypatch) -> None:
    """jQuery's `_` is Date.now(): a page captured every day for months leaves a capture of its
    API per day, its key sorting by that time. The capture of the day asked for is found, far
    past the bound of entries read from either end."""
    engine = catalog.connect(tmp_settings.catalog_url)
    days = [index.pad_timestamp(f"202601{d:02d}") for d in range(1, 29)] + \
        [index.pad_timestamp(f"202602{d:02d}") for d in range(1, 29)] + \
        [index.pad_timestamp(f"202603{d:02d}") for d in range(1, 29)]
    with ArchiveWriter(tmp_settings, engine, "daily", "https://daily.example/") as w:
        for ts in days:
            ms = int(index.timestamp_seconds(ts)) * 1000 + 517  # fetched half a second into the capture
            w.response(f"https://daily.example/api?page=1&_={ms}", ts.encode(), ts=ts, headers=JSON)
    monkeypatch.setattr(fuzzy, "SCAN_ROWS", 10)
    for ts in (days[3], days[40], days[-2]):
        hit = fuzzy.closest_fuzzy(engine, "https://daily.example/api?page=1&_=1893456000000", ts)
        assert hit is not None and hit.timestamp == ts, (ts, hit)
    newest = fuzzy.closest_fuzzy(engine, "https://daily.example/api?page=1&_=1893456000000")
    assert newest is not None and newest.timestamp == days[-1]


def test_without_busters_keeps_the_rest_in_order() -> None:
    assert fuzzy.without_busters("example,news)/api?_=1&cb=2&page=1&t=1764576000&z=4") == "example,news)/api?page=1&z=4"
    assert fuzzy.without_busters("example,news)/api?_=1&t=3") == "example,news)/api?t=3"
    assert fuzzy.without_busters("example,news)/api?_=1") == "example,news)/api"
    assert fuzzy.without_busters("example,news)/api") == "example,news)/api"


def test_a_generic_name_is_a_buster_only_when_its_value_looks_like_one(tmp_settings) -> None:
    """`t`, `time`, `ts`... name content as often as a time: a phpBB topic (`viewtopic.php?t=`),
    an archive month, a year. Only a value that reads as a Unix time or a random token is ignored."""
    engine = catalog.connect(tmp_settings.catalog_url)
    topic = "https://forum.example/viewtopic.php"
    with ArchiveWriter(tmp_settings, engine, "forum", "https://forum.example/") as w:
        w.response(f"{topic}?t=101", b"<p>topic 101: land dispute</p>", ts=T0)
        w.response("https://forum.example/archive?time=2023-07", b"<p>July 2023</p>", ts=T0)
        w.response("https://forum.example/list", b"<p>list</p>", ts=T0)
        w.response("https://forum.example/feed?page=1&t=1764576000", b"{}", ts=T0, headers=JSON)
    assert fuzzy.closest_fuzzy(engine, f"{topic}?t=202", T0) is None  # never topic 101
    assert fuzzy.closest_fuzzy(engine, "https://forum.example/archive?time=2024-01", T0) is None
    assert fuzzy.closest_fuzzy(engine, "https://forum.example/list?ts=2019", T0) is None
    # A time in seconds or milliseconds, Math.random(), a random token: busters under any of these names.
    for query in ("t=1893456000", "ts=1893456000123", "rand=0.6180339887498949", "nc=8f3a9c2b7d",
                  "timestamp=kx8y2q9z1w"):
        hit = fuzzy.closest_fuzzy(engine, f"https://forum.example/list?{query}", T0)
        assert hit is not None and hit.url == "https://forum.example/list", query
    hit = fuzzy.closest_fuzzy(engine, "https://forum.example/feed?page=1&t=1893456000", T0)
    assert hit is not None and hit.url.endswith("t=1764576000")
    # Names that mean nothing but a cache-buster stay busters whatever their value.
    hit = fuzzy.closest_fuzzy(engine, f"{topic}?t=101&_=1893456000000&cb=x&nocache=1", T0)
    assert hit is not None and hit.url == f"{topic}?t=101"
