"""ZIM bundles: a capture's static export as one file for Kiwix, read back with libzim's
own reader and searcher, and served by kiwix-serve (Debian's kiwix-tools) to Chromium with
JavaScript off, as a reader with Kiwix would get it.

The fixture news site (Khmer and English pages, legacy charsets, awkward file names) is
captured once by the real crawler; both of its servers are stopped before anything is
bundled, so nothing can come from the origin by mistake.
"""

from __future__ import annotations

import hashlib
import os
import struct
from types import SimpleNamespace
from urllib.parse import quote, unquote, urlsplit

import fixture_site as fs
import pytest
import requests
from kiwix_server import start_kiwix_serve
from libzim.reader import Archive
from libzim.search import Query, Searcher

from refuge.archiver.capture import run_capture
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.formats.charset import html_charset
from refuge.mirror.export.exporter import export_capture
from refuge.mirror.export.zim import write_zim
from refuge.mirror.export.zim_metadata import zim_name
from refuge.mirror.export.zim_text import page_text
from refuge.storage import catalog

OPERATOR = "Cambodia Records Project <archive@example.org>"
# Words that stand inside a Khmer sentence of km/article-1.html, glued to their neighbours.
INTERNET, IN_SENTENCE = "អ៊ីនធឺណិត", "អ្នកផ្តល់សេវាអ៊ីនធឺណិតនៅកម្ពុជា"
ARCHIVE, ARCHIVE_SENTENCE = "បណ្ណសារ", "បណ្ណសារគេហទំព័រជួយរក្សាទុក"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("zim")
    settings = Settings(data=root / "data", allow_private_networks=True, backoff=0.05, timeout=5,
                        max_response_bytes=1_000_000, max_pages=150, operator=OPERATOR)
    engine = catalog.connect(settings.catalog_url)
    with fs.serve_with_cdn() as (site, cdn):
        catalog.save_target(engine, make_target(site.url, name="fixture", scope="host"))
        run_capture(settings, engine, "fixture")
    made = write_zim(settings, engine, "fixture", root / "out" / "fixture.zim")
    # The same capture exported again gives the same files: what the ZIM must hold.
    export = export_capture(settings, engine, "fixture", root / "export", made.capture_id)
    yield SimpleNamespace(settings=settings, engine=engine, made=made, export=export, root=root, site=site,
                          host=site.host.replace(":", "_"), archive=Archive(made.path))


@pytest.fixture(scope="module")
def kiwix(bundle):
    server = start_kiwix_serve([bundle.made.path], bundle.root / "kiwix")
    try:
        yield SimpleNamespace(server=server, book=server.book_url(zim_name("fixture")))
    finally:
        server.stop()


def test_every_file_of_the_export_is_in_the_zim_with_its_bytes_and_type(bundle) -> None:
    made, archive = bundle.made, bundle.archive
    data = made.path.read_bytes()
    assert made.size == len(data) and made.sha256 == hashlib.sha256(data).hexdigest()
    assert made.target == "fixture" and made.entries == len(bundle.export.files) >= 40
    assert archive.check()  # libzim's own checksum of the whole file
    legacy = 0
    for f in bundle.export.files:
        item, exported = archive.get_entry_by_path(f.path).get_item(), (bundle.export.root / f.path).read_bytes()
        codec = html_charset(f.content_type, exported) if f.content_type.startswith("text/html") else "utf-8"
        if codec == "utf-8":
            assert bytes(item.content) == exported, f.path
            assert item.mimetype == f.content_type, f.path
            continue
        # Kiwix reads every page as UTF-8: a page in another charset is there in UTF-8, its
        # text unchanged, the charset the export declared first now saying so.
        legacy += 1
        label = f.content_type.partition("charset=")[2]
        assert item.mimetype == "text/html; charset=utf-8", f.path
        assert bytes(item.content).decode("utf-8") == exported.decode(codec).replace(
            f'<meta charset="{label}">', '<meta charset="utf-8">', 1), f.path
    assert legacy == 2  # the windows-1251 and the Shift_JIS pages
    assert archive.article_count == len(bundle.export.pages)  # captured pages, not the root pages
    assert sorted(os.listdir(made.path.parent)) == ["fixture.zim"]  # no temporary file left beside it


def test_the_metadata_kiwix_shows_reads_back_with_libzim(bundle) -> None:
    archive = bundle.archive

    def meta(name: str) -> str:
        return archive.get_metadata(name).decode("utf-8")

    assert meta("Language") == "khm,eng" and meta("Name") == "refuge_mul_fixture"
    assert meta("Publisher") == OPERATOR and meta("Source") == bundle.site.url
    assert meta("Creator") == "127.0.0.1" and meta("Date") == made_date(bundle)
    assert len(meta("Title")) <= 30 and "fixture" in meta("Title")
    assert len(meta("Description")) <= 80 and "Archived copy" in meta("Description")
    assert "ច្បាប់ចម្លងបណ្ណសារ" in meta("LongDescription") and "refuge" in meta("Tags")
    png = bytes(archive.get_illustration_item(48).content)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and struct.unpack(">II", png[16:24]) == (48, 48)
    main = archive.main_entry
    main = main.get_redirect_entry() if main.is_redirect else main
    assert main.path == bundle.export.seed_path  # Kiwix opens the site's own front page
    assert archive.has_title_index and archive.has_fulltext_index
    khmer = f"{bundle.host}/km/article-1.html"
    assert archive.get_entry_by_path(khmer).title == "សេរីភាពសារព័ត៌មាននៅកម្ពុជា"


def made_date(bundle) -> str:
    ts = bundle.made.capture_id
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]}"


def _libzim_search(archive: Archive, words: str) -> list[str]:
    found = Searcher(archive).search(Query().set_query(words))
    return list(found.getResults(0, 50))


def test_libzims_own_search_finds_a_khmer_word_inside_a_sentence(bundle) -> None:
    page = f"{bundle.host}/km/article-1.html"
    text = (bundle.export.root / page).read_text("utf-8")
    assert IN_SENTENCE in text and ARCHIVE_SENTENCE in text and f" {INTERNET} " not in text
    assert page in _libzim_search(bundle.archive, INTERNET)
    assert page in _libzim_search(bundle.archive, ARCHIVE)
    # English is stemmed: "letters" finds the page that says "letter".
    assert f"{bundle.host}/en/article-1.html" in _libzim_search(bundle.archive, "telecommunications letters")
    assert _libzim_search(bundle.archive, "ឆ្កែចចក") == []  # a word no page has
    # Root pages name every page: they are not search results.
    assert "contents.html" not in _libzim_search(bundle.archive, ARCHIVE)


def test_kiwix_serve_finds_a_khmer_word_inside_a_sentence(bundle, kiwix) -> None:
    page = f"{bundle.host}/km/article-1.html"
    assert page in kiwix.server.search(kiwix.book, INTERNET)
    assert page in kiwix.server.search(kiwix.book, ARCHIVE)
    assert kiwix.server.search(kiwix.book, "ឆ្កែចចក") == []
    # The book opens at the site's own front page.
    front = requests.get(kiwix.book, timeout=10)
    assert front.status_code == 200 and unquote(front.url).endswith(bundle.export.seed_path)


@pytest.mark.browser
def test_every_page_loads_through_kiwix_serve_in_chromium_without_javascript(bundle, kiwix, browser) -> None:
    """Every HTML file of the export, opened at kiwix-serve's URL for it: it loads with its
    content, every image shows, every link into the book names an entry of the ZIM, no
    request fails, and nothing is asked of any other server."""
    server, book, archive = kiwix.server, kiwix.book, bundle.archive
    own = server.base + "/"
    elsewhere: list[str] = []
    failed: list[str] = []
    context = browser.new_context(java_script_enabled=False)

    def only_kiwix(route) -> None:
        if route.request.url.startswith(own):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_kiwix)
    # kiwix-serve 3.3 adds its own bar to each page, with stylesheets from /skin/: not the ZIM's,
    # and a page's own Content-Security-Policy may refuse them. A request cut short because the
    # page moved on (a meta refresh) is no failure either; anything else is.
    bar = server.base + "/skin/"
    context.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    context.on("requestfailed", lambda r: not r.url.startswith(bar) and r.failure != "net::ERR_ABORTED"
               and failed.append(f"{r.failure} {r.url}"))
    html = [f for f in bundle.export.files if f.content_type.startswith("text/html")]
    pages = set(bundle.export.pages)
    try:
        tab = context.new_page()
        for f in html:
            url = book + quote(f.path)
            if f.path == "index.html":  # the export's own front door: it opens the seed page
                tab.goto(url, wait_until="load")
                tab.wait_for_url(book + quote(bundle.export.seed_path), timeout=10_000)
                continue
            answer = tab.goto(url, wait_until="load")
            assert answer is not None and answer.status == 200, f.path
            exported = (bundle.export.root / f.path).read_bytes()
            moves_on = b'http-equiv="refresh"' in exported.lower()  # a captured meta refresh
            if moves_on:
                tab.wait_for_url(lambda now, url=url: now != url, timeout=10_000)
                tab.wait_for_load_state("load")
            if f.path in pages:
                assert tab.is_visible("#refuge-banner"), f.path
                title, _text = page_text(exported, html_charset(f.content_type, exported))
                if title and not moves_on:
                    assert tab.title() == title, f.path
            else:
                assert tab.inner_text("body").strip(), f.path
            images = tab.evaluate("() => [...document.images].filter(i => i.getAttribute('src') "
                                  "&& !i.src.startsWith('data:')).map(i => [i.src, i.complete ? i.naturalWidth : 0])")
            assert all(width > 0 for _src, width in images), (f.path, images)
            links = tab.evaluate("() => [...document.querySelectorAll('a[href], area[href]')]"
                                 ".filter(a => !a.closest('.kiwix')).map(a => a.href)")  # not kiwix-serve's own bar
            for link in links:
                if link.startswith(book):
                    inside = unquote(urlsplit(link).path[len(urlsplit(book).path):])
                    assert inside and archive.has_entry_by_path(inside), (f.path, link)
    finally:
        context.close()
    assert failed == []
    assert elsewhere == []
    assert len(html) >= 40


def test_a_new_bundle_replaces_the_old_whole(bundle) -> None:
    out = bundle.root / "again" / "deeper" / "fixture.zim"
    first = write_zim(bundle.settings, bundle.engine, "fixture", out)
    second = write_zim(bundle.settings, bundle.engine, "fixture", out)
    assert second.path == out and out.stat().st_size == second.size
    assert hashlib.sha256(out.read_bytes()).hexdigest() == second.sha256
    assert first.entries == second.entries and sorted(os.listdir(out.parent)) == ["fixture.zim"]
    assert not any(p.name.startswith(".zim-export-") for p in bundle.settings.data.iterdir())


@pytest.mark.parametrize("name, out, message", [
    ("nope", "x.zim", "no such target"),
    ("fixture", "x.txt", "must end in .zim"),
    ("fixture", "a-file/x.zim", "is a file, not a folder"),
    ("fixture", "folder.zim", "a directory"),
])
def test_bad_requests_get_one_line_errors_and_write_nothing(bundle, tmp_path, name, out, message) -> None:
    (tmp_path / "a-file").write_bytes(b"not a folder")
    (tmp_path / "folder.zim").mkdir()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(BadInput, match=message) as caught:
        write_zim(bundle.settings, bundle.engine, name, tmp_path / out)
    assert "\n" not in str(caught.value)
    assert sorted(os.listdir(tmp_path)) == before
