"""ZIM bundles of hostile pages: a page nested deeper than any tree builder copes with and a
long page of Khmer with no space in it are bundled in bounded time and memory, are in the ZIM
byte for byte, and are found by their beginning; a site's navigation finds no page.

The pages come in as a WARC file through `refuge import`, as any capture's would, and the ZIM
is read back with libzim's own reader and searcher.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from libzim.reader import Archive
from libzim.search import Query, Searcher
from search_corpus import write_warc

from refuge.config.settings import Settings
from refuge.formats.html.text import MAX_TAGS
from refuge.mirror.export.zim import write_zim
from refuge.mirror.export.zim_text import MAX_TERM_BYTES, MAX_TERMS, fold, index_text, khmer_terms, page_text
from refuge.storage import catalog
from refuge.storage.imports.importer import import_archives

SITE = "https://hostile.example/"
INTERNET = "អ៊ីនធឺណិត"  # five clusters, glued to the start of the spaceless page
# Nested past MAX_TAGS: the words after the cut are not read, the words before it are.
DEEP = ("<title>deep</title><header><nav><a href='/'>menuword</a></nav></header><p>deepword</p>"
        + "<div>x" * (3 * MAX_TAGS) + "<p>tailword</p>").encode()


def spaceless_khmer(clusters: int) -> str:
    """INTERNET, then CLUSTERS random consonant-and-vowel clusters, without a space."""
    rnd = random.Random(18)
    consonants = [chr(c) for c in range(0x1780, 0x17A3)]
    vowels = [chr(c) for c in range(0x17B6, 0x17C6)]
    return INTERNET + "".join(rnd.choice(consonants) + rnd.choice(vowels) for _ in range(clusters))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("zim-hostile")
    settings = Settings(data=root / "data", allow_private_networks=True)
    engine = catalog.connect(settings.catalog_url)
    html = "text/html; charset=utf-8"
    khmer = f"<title>ខ្មែរ</title><p>{spaceless_khmer(60_000)}</p>".encode()
    pages = {SITE: (b"<title>home</title><a href='deep.html'>deep</a> <a href='khmer.html'>khmer</a>", html),
             SITE + "deep.html": (DEEP, html), SITE + "khmer.html": (khmer, html)}
    import_archives(settings, engine, "hostile", [write_warc(root / "hostile.warc.gz", "2024-05-01T00:00:00Z", pages)])
    made = write_zim(settings, engine, "hostile", root / "hostile.zim")
    return SimpleNamespace(made=made, archive=Archive(made.path), deep=DEEP, khmer=khmer)


def _search(archive: Archive, words: str) -> list[str]:
    return list(Searcher(archive).search(Query().set_query(words)).getResults(0, 50))


def test_a_page_nested_too_deep_is_bundled_and_indexed_from_its_bounded_parse(hostile) -> None:
    archive = hostile.archive
    deep = "hostile.example/deep.html"
    assert archive.check() and hostile.made.entries >= 3
    assert b"tailword" in bytes(archive.get_entry_by_path(deep).get_item().content)  # the reader gets all of it
    assert _search(archive, "deepword") == [deep]
    # The index holds the text of the bounded parse: nothing past the cut.
    assert _search(archive, "tailword") == []
    title, text = page_text(hostile.deep, "utf-8")
    assert title == "deep" and "deepword" in text and "tailword" not in text


def test_a_sites_navigation_is_not_in_the_index(hostile) -> None:
    assert _search(hostile.archive, "menuword") == []
    assert "menuword" not in page_text(hostile.deep, "utf-8")[1]


def test_a_long_page_of_spaceless_khmer_is_found_by_its_beginning(hostile) -> None:
    archive = hostile.archive
    khmer = "hostile.example/khmer.html"
    assert bytes(archive.get_entry_by_path(khmer).get_item().content).endswith(hostile.khmer[-200:])
    assert _search(archive, INTERNET) == [khmer]


def test_a_long_page_of_spaceless_khmer_gives_bounded_index_text() -> None:
    text = spaceless_khmer(100_000)
    terms = khmer_terms(text)
    assert len(terms) == MAX_TERMS == len(set(terms))
    assert INTERNET in terms and fold(INTERNET) in terms  # both forms, from the page's start
    indexed = index_text(text)
    assert len(indexed.encode()) <= 2 * len(text.encode()) + MAX_TERMS * (MAX_TERM_BYTES + 1)
