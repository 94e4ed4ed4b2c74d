"""An archive for the /cdx and Memento tests, and the replay server over it.

Real WARC files written by the capture side's own writer (replay_helpers.ArchiveWriter),
three captures of two targets, chosen so that every matchType has something to find and
something to leave out:

- news.example: the front page captured six times (one of them a revisit), pages under
  /en/, a query string, a raw-Khmer URL and a percent-encoded one, an image, a 404, a
  redirect, a page on www. (the same SURT host), one on a subdomain, and LONG_A;
- newsroom.example (its SURT key starts with news.example's: 'example,newsroom)' beside
  'example,news)', which a domain query must not take) and news.example.org.

A test module gets the ``cdx_replay`` fixture by importing ``cdx_replay_fixture``: the
archive is written and the server started once per module. ``.timemap_page`` of the app
is small (FRONT has more mementos than a page holds), so TimeMap paging shows here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from refuge.config.settings import Settings
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog
from replay_helpers import ArchiveWriter
from replay_fixtures import PNG

FRONT = "https://news.example/"
# The front page's captures, oldest first; the one at REVISIT_TS is a revisit of the first.
FRONT_TIMES = ["20240101000000", "20240301120000", "20240601120000", "20241201120000", "20250101000000",
               "20250301000000"]
REVISIT_TS = "20250101000000"
KHMER_RAW = "https://news.example/km/ព័ត៌មាន.html"
KHMER_ENCODED = "https://news.example/km/%E1%9E%80%E1%9E%98%E1%9F%92%E1%9E%96%E1%9E%BB%E1%9E%87%E1%9E%B6.html"
# A regex filter such as ~url:.*(a|aa)+$ backtracks for ever on this URL.
LONG_A = "https://news.example/" + "a" * 40 + "!"
HTML = [("Content-Type", "text/html; charset=utf-8")]
TIMEMAP_PAGE = 4


def page(title: str) -> bytes:
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body><p>{title}</p></body></html>".encode()


def write_archive(settings: Settings, engine) -> dict[str, dict]:
    """Write the archive described above; its rows by name."""
    rows: dict[str, dict] = {}
    first, *later = FRONT_TIMES
    with ArchiveWriter(settings, engine, "news", FRONT) as w:
        rows["front0"] = w.response(FRONT, page("Front 0"), ts=first, headers=HTML)
        rows["about"] = w.response(FRONT + "about.html", page("About"), ts="20240101000005", headers=HTML)
        rows["a1"] = w.response(FRONT + "en/article-1.html", page("Article 1"), ts="20240101000010", headers=HTML)
        rows["a2"] = w.response(FRONT + "en/article-2.html?page=2&sort=date", page("Article 2"),
                                ts="20240101000011", headers=HTML)
        rows["km_raw"] = w.response(KHMER_RAW, page("ព័ត៌មាន"), ts="20240101000012", headers=HTML)
        rows["km_enc"] = w.response(KHMER_ENCODED, page("កម្ពុជា"), ts="20240101000013", headers=HTML)
        rows["logo"] = w.response(FRONT + "img/logo.png", PNG, ts="20240101000014",
                                  headers=[("Content-Type", "image/png")])
        rows["missing"] = w.response(FRONT + "missing.html", b"not here", ts="20240101000015", status=404,
                                     headers=[("Content-Type", "text/plain")])
        rows["old"] = w.response("http://news.example/old", b"", ts="20240101000016", status=301,
                                 headers=[("Location", "/en/article-1.html")])
        rows["www"] = w.response("https://www.news.example/www.html", page("www"), ts="20240101000017", headers=HTML)
        rows["sub"] = w.response("https://sub.news.example/page.html", page("Sub"), ts="20240101000018",
                                 headers=HTML)
        rows["long"] = w.response(LONG_A, page("Long"), ts="20240101000019", headers=HTML)
    with ArchiveWriter(settings, engine, "news", FRONT) as w:
        for n, ts in enumerate(later, 1):
            if ts == REVISIT_TS:
                rows[f"front{n}"] = w.revisit(FRONT, rows["front0"], ts=ts, headers=HTML)
            else:
                rows[f"front{n}"] = w.response(FRONT, page(f"Front {n}"), ts=ts, headers=HTML)
        rows["a1_later"] = w.response(FRONT + "en/article-1.html", page("Article 1, corrected"),
                                      ts="20250301000010", headers=HTML)
    with ArchiveWriter(settings, engine, "others", "https://newsroom.example/") as w:
        rows["newsroom"] = w.response("https://newsroom.example/", page("Newsroom"), ts="20240601000000",
                                      headers=HTML)
        rows["org"] = w.response("https://news.example.org/x", page("Org"), ts="20240601000001", headers=HTML)
    return rows


def warc_paths(settings: Settings) -> list[Path]:
    """Every sealed WARC file of the archive."""
    return sorted(settings.archive_dir.rglob("*.warc.gz"))


@pytest.fixture(scope="module", name="cdx_replay")
def cdx_replay_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    data = tmp_path_factory.mktemp("cdx") / "data"
    data.mkdir()
    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    rows = write_archive(settings, engine)
    app = make_app(settings, engine)
    app.timemap_page = TIMEMAP_PAGE
    with running_server(app) as base:
        yield SimpleNamespace(base=base, settings=settings, engine=engine, rows=rows, app=app)
    engine.dispose()
