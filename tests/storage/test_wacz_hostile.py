"""A WACZ page list of a capture holding a page nested too deep for a tree builder: the
package is written in bounded time, and the page is listed with the words it begins with."""

from __future__ import annotations

import json
import time
import zipfile

from search_corpus import write_warc

from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.imports.importer import import_archives
from refuge.storage.wacz.package import write_wacz

SITE = "https://hostile.example/"


def test_a_page_nested_too_deep_is_listed_by_its_first_words_in_bounded_time(tmp_path) -> None:
    settings = Settings(data=tmp_path / "data", allow_private_networks=True)
    engine = catalog.connect(settings.catalog_url)
    # 300,000 <div> never closed: Lexbor alone would take minutes (its time grows with depth squared).
    deep = ("<title>deep</title><p>first words</p>" + "<div>x" * 300_000).encode()
    html = "text/html; charset=utf-8"
    warc = write_warc(tmp_path / "deep.warc.gz", "2024-05-01T00:00:00Z", {SITE: (deep, html)})
    import_archives(settings, engine, "hostile", [warc])
    began = time.monotonic()
    made = write_wacz(settings, engine, "hostile", tmp_path / "hostile.wacz")
    assert time.monotonic() - began < 30.0
    lines = zipfile.ZipFile(made.path).read("pages/pages.jsonl").decode().splitlines()
    [page] = [json.loads(line) for line in lines[1:]]
    assert page["url"] == SITE and page["title"] == "deep" and page["text"].startswith("first words")
