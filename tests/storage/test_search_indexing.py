"""The search index is filled when a capture ends (even as the service stops), with that
capture's pages only, a rendered page by its DOM; captures made before it existed are indexed
by a rebuild, which deletes the old rows in short transactions; hostile pages are read within
their bounds (what is kept says so) and leave the rest of their capture indexed."""

from __future__ import annotations

import datetime
import gzip
import threading
import time
from pathlib import Path

import js_site
import pytest
from browser_warc import js_site_capture
from search_corpus import LAND_GRAB, utf8_database, write_warc
from sqlalchemy import event, func, select
from tiny_site import Route, serve

from refuge.archiver.capture import run_capture
from refuge.cli.pipeline import capture_and_follow
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import index, search_index
from refuge.storage.catalog.schema import search_pages
from refuge.storage.catalog.search import reindex, search
from refuge.storage.imports.importer import import_archives


def page(title: str, body: str, lang: str = "km") -> bytes:
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body><nav><a href="/">ទំព័រដើម</a></nav><main>{body}</main></body></html>').encode()


def site_routes() -> dict[str, Route]:
    return {
        "/": Route(page("ទំព័រដើម", '<a href="/land.html">ដីធ្លី</a> <a href="/en.html">English</a> '
                                     '<a href="/changing.html">ថ្មីៗ</a>')),
        "/land.html": Route(page("ដីធ្លី", f"<p>ពលរដ្ឋតវ៉ានឹង{LAND_GRAB}នៅភូមិរបស់ពួកគេ។</p>")),
        "/en.html": Route(page("Land", "<p>A report on land grabbing in Cambodia.</p>", "en")),
        "/changing.html": Route(page("ថ្មីៗ", "<p>firstversion</p>")),
    }


def rows(engine, **where) -> int:
    query = select(func.count()).select_from(search_pages)
    for column, value in where.items():
        query = query.where(search_pages.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar())


def test_a_capture_is_indexed_when_it_ends_and_the_next_adds_only_its_own(tmp_settings) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    routes = site_routes()
    with serve(routes) as site:
        catalog.save_target(engine, make_target(site.url("/"), name="village", every="6h"))
        first = capture_and_follow(tmp_settings, engine, "village")
        assert first.summary["status"] == "complete" and first.indexed == 4 and first.index_error is None
        found = search(engine, LAND_GRAB)
        assert [h.url for h in found.hits] == [site.url("/land.html")]
        ts1 = found.hits[0].timestamp
        assert index.closest(engine, site.url("/land.html"), ts1).timestamp == ts1  # a link replay resolves
        assert rows(engine) == 4

        routes["/changing.html"].body = page("ថ្មីៗ", "<p>secondversion</p>")
        time.sleep(1.1)  # capture times are whole seconds
        second = capture_and_follow(tmp_settings, engine, "village")
    assert second.indexed == 4
    # The changed page has a row of its own; the three unchanged ones were read no more, their
    # rows now reach the new capture (which holds revisits of them).
    assert rows(engine) == 5 and rows(engine, capture_id=second.summary["id"]) == 4
    assert rows(engine, capture_id=first.summary["id"]) == 1
    land = search(engine, LAND_GRAB).hits[0]
    assert land.timestamp > ts1 and index.closest(engine, land.url, land.timestamp).rectype == "revisit"
    changing = [h.timestamp for h in index.captures_of(engine, site.url("/changing.html"))]
    assert search(engine, "firstversion").hits[0].timestamp == changing[0]
    assert search(engine, "secondversion").hits[0].timestamp == changing[1]


def test_a_capture_ending_as_the_service_stops_is_indexed(tmp_settings) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    stop = threading.Event()
    routes = site_routes()
    routes["/land.html"].hook = stop.set  # the service is told to stop while this page is fetched
    with serve(routes) as site:
        catalog.save_target(engine, make_target(site.url("/"), name="village", every="6h"))
        outcome = capture_and_follow(tmp_settings, engine, "village", stop=stop)
    assert outcome.summary["status"] == "interrupted" and outcome.index_error is None
    # What it captured before stopping is found now, not only once a later run resumes it.
    assert outcome.indexed is not None and outcome.indexed >= 2
    assert [h.url for h in search(engine, LAND_GRAB).hits] == [site.url("/land.html")]


def test_captures_made_before_search_are_indexed_by_a_rebuild(tmp_settings) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    with serve(site_routes()) as site:
        catalog.save_target(engine, make_target(site.url("/"), name="village", every="6h"))
        catalog.save_target(engine, make_target(site.url("/en.html"), name="other", every="6h"))
        run_capture(tmp_settings, engine, "village")  # the capture alone, as before search existed
        run_capture(tmp_settings, engine, "other")
    assert search(engine, LAND_GRAB).total == 0
    done = reindex(engine, tmp_settings, "village")
    assert (done.targets, done.captures, done.pages, done.rows) == (1, 1, 4, 4)
    assert [h.target for h in search(engine, LAND_GRAB).hits] == ["village"]
    assert [h.target for h in search(engine, "grabbing").hits] == ["village"]  # not the other target's yet
    everything = reindex(engine, tmp_settings)
    assert (everything.targets, everything.captures, everything.rows) == (2, 2, 8)
    assert sorted(h.target for h in search(engine, "grabbing").hits) == ["other", "village"]
    assert reindex(engine, tmp_settings).rows == 8  # again: the same index


def test_a_rebuild_deletes_a_big_index_in_short_transactions(tmp_settings, tmp_path: Path) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    count = 2 * search_index.BATCH + 1
    pages = {f"https://many.example/{i}.html": page(f"ទំព័រ {i}", f"<p>manyword {i}</p>") for i in range(count)}
    import_archives(tmp_settings, engine, "many", [write_warc(tmp_path / "many.warc.gz", "2024-05-01T00:00:00Z", pages)])
    assert rows(engine) == count
    seen: list[str] = []  # the deletes of index rows, and the commits, in order

    def statement(conn, cursor, sql, parameters, context, executemany) -> None:  # noqa: ANN001
        if sql.lstrip().upper().startswith("DELETE FROM SEARCH_PAGES"):
            seen.append("delete")

    def commit(conn) -> None:  # noqa: ANN001
        seen.append("commit")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        done = reindex(engine, tmp_settings, "many")
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    deletes = [i for i, what in enumerate(seen) if what == "delete"]
    assert len(deletes) == 3  # BATCH, BATCH, 1: a writer beside it waits for one batch at most
    assert all(seen[i + 1] == "commit" for i in deletes)
    assert done.rows == count and search(engine, "manyword").total == count


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_rendered_page_is_indexed_by_its_dom_under_its_own_url(tmp_settings, backend, request) -> None:
    if backend == "postgresql":
        tmp_settings = tmp_settings.replace(database_url=utf8_database(request.getfixturevalue("postgres_server")))
    engine = catalog.connect(tmp_settings.catalog_url)
    js = js_site_capture(tmp_settings, engine)  # a browser-mode capture: shells, and their rendered DOMs
    assert search_index.index_capture(engine, tmp_settings, js.capture_id) > 0
    # The home page's shell lists no article; its DOM lists them all (scripts filled it in).
    garment = next(a for a in js_site.ARTICLES if a.slug == "garment-pay")
    hits = search(engine, '"owes them three months"').hits
    assert sorted(h.url for h in hits) == sorted([js.seed, js.origin + garment.path])
    home = next(h for h in hits if h.url == js.seed)
    assert (home.timestamp, home.lang) == (js.ts, "km") and "[owes them three months]" in "".join(
        f"[{text}]" if match else text for text, match in home.snippet)
    assert search(engine, LAND_GRAB).total >= 1  # a Khmer article, from its DOM too
    day = datetime.date(2026, 12, 1)  # js.ts's: a date filter finds the DOM's capture of the page
    assert js.seed in [h.url for h in search(engine, '"owes them three months"', since=day, until=day).hits]
    assert search(engine, '"owes them three months"', since=day + datetime.timedelta(days=1)).total == 0
    # The DOM's text wins: one row for the page (none for its shell), and none under urn:dom:.
    with engine.connect() as conn:
        urls = list(conn.execute(select(search_pages.c.url)).scalars())
    assert urls.count(js.seed) == 1 and not any(u.startswith("urn:") for u in urls)
    assert search(engine, "independent newsroom").total == 1  # a page with no DOM: as it was sent


def test_hostile_pages_are_read_within_bounds_and_the_rest_is_indexed(tmp_settings, tmp_path: Path) -> None:
    site = "https://hostile.example/"
    html = "text/html; charset=utf-8"
    pages = {
        site + "deep.html": (("<title>ជ្រៅ</title><p>deepword</p>" + "<div>x" * 400_000).encode(), html),
        site + "list.html": (("<p>listword</p>" + "<ul><li>" * 250_000).encode(), html),
        site + "attributes.html": (("<p>attrword</p><div " + " ".join(f"a{i}" for i in range(200_000))
                                    + ">after</div>").encode(), html),
        site + "charset.html": ("<p>charsetword кириллица</p>".encode("cp1251"), "text/html; charset=x-no-such"),
        site + "utf16.html": (b"\xff\xfe" + "<p>utf16word</p>".encode("utf-16-le") + b"\x00", "text/html; charset=utf-16"),
        site + "huge.html": (b"<p>hugestart</p>" + b"<p>filler</p>" * 800_000 + b"<p>hugeend</p>", html),
        site + "nul.html": (b"<title>nul\x00title</title><p>nulword\x00 \x1b[31m</p>", html),
        site + "good.html": (f"<title>good</title><p>goodword {LAND_GRAB}</p>".encode(), html),
    }
    warc = write_warc(tmp_path / "hostile.warc.gz", "2024-05-01T00:00:00Z", pages)
    bomb = tmp_path / "bomb.warc.gz"
    _gzip_bomb(bomb, site + "bomb.html")
    engine = catalog.connect(tmp_settings.catalog_url)
    summary = import_archives(tmp_settings, engine, "hostile", [warc, bomb])  # indexed as it is imported
    for word in ("deepword", "listword", "attrword", "charsetword", "utf16word", "hugestart", "nulword", "goodword",
                 "bombword", LAND_GRAB):
        assert search(engine, word).total == 1, word
    assert search(engine, "hugeend").total == 0  # past what is read of a page
    assert search(engine, "after").total == 0  # past the tag with too many attributes
    with engine.connect() as conn:
        longest = conn.execute(select(func.max(func.length(search_pages.c.text)))).scalar()
        titles = set(conn.execute(select(search_pages.c.title)).scalars())
    assert longest <= 20_000 and "nul\ufffdtitle" in titles  # as a browser shows it; PostgreSQL takes no NUL
    assert summary["pages"] == 9


def _gzip_bomb(path: Path, url: str) -> None:
    """A page whose gzip body inflates to 64 MB."""
    body = gzip.compress(b"<p>bombword</p>" + b"a" * (64 * 1024 * 1024), compresslevel=9)
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        head = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                                           ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(body), length=len(body),
                                                      http_headers=head,
                                                      warc_headers_dict={"WARC-Date": "2024-05-01T00:00:00Z"}))
