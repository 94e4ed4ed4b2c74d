"""The search index is filled when a capture ends, with that capture's pages only; captures
made before it existed are indexed by a rebuild; hostile pages cost bounded time and leave
the rest of their capture indexed."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

from search_corpus import LAND_GRAB, write_warc
from sqlalchemy import func, select
from tiny_site import Route, serve

from refuge.archiver.capture import run_capture
from refuge.cli.pipeline import capture_and_follow
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import index
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


def test_hostile_pages_take_bounded_time_and_the_rest_is_indexed(tmp_settings, tmp_path: Path) -> None:
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
    began = time.monotonic()
    summary = import_archives(tmp_settings, engine, "hostile", [warc, bomb])  # indexed as it is imported
    took = time.monotonic() - began
    assert took < 20, f"importing and indexing the hostile pages took {took:.1f} s"
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
