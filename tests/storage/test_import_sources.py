"""A WACZ package given to `refuge import` (storage.imports.sources): what is checked is what
is kept, whatever happens to the file given meanwhile, and its page list is read a bounded
line at a time."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import import_archives as ia
import pytest

from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.imports import importer, sources
from refuge.storage.wacz import verify


def _import(tmp_path: Path, name: str, given: Path) -> tuple[dict, object]:
    settings = Settings(data=tmp_path / "data")
    engine = catalog.connect(settings.catalog_url)
    return importer.import_archives(settings, engine, name, [given]), engine


def _kept(tmp_path: Path, summary: dict) -> bytes:
    stored = summary["sources"][0]["warcs"][0]["stored_as"]
    return (tmp_path / "data" / "archive" / summary["target"] / summary["id"] / stored).read_bytes()


def test_a_package_replaced_while_it_is_imported_is_imported_as_it_was_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package given is replaced by another, valid one right after Refuge has read it:
    the recorded SHA-256, the signature check and the WARC file kept are all of the package
    read, never a mix of the two."""
    ia.recorder_warc(tmp_path / "a.warc.gz")
    ia.recorder_warc(tmp_path / "b.warc.gz", site="https://another.example/")
    given = ia.wacz_package(tmp_path / "a.warc.gz", tmp_path / "given.wacz")
    other = ia.wacz_package(tmp_path / "b.warc.gz", tmp_path / "other.wacz")
    original = given.read_bytes()
    with zipfile.ZipFile(given) as package:
        packed = package.read("archive/a.warc.gz")
        created = json.loads(package.read("datapackage.json"))["created"]
    real_verify = verify.verify_wacz

    def replaced_meanwhile(path: Path, *args: object) -> verify.WaczCheck:
        os.replace(other, given)  # someone else's package takes its place
        return real_verify(path, *args)

    monkeypatch.setattr(verify, "verify_wacz", replaced_meanwhile)
    summary, _ = _import(tmp_path, "swapped", given)
    source = summary["sources"][0]
    assert source["sha256"] == hashlib.sha256(original).hexdigest()
    assert source["created"] == created
    assert source["warcs"][0]["member"] == "archive/a.warc.gz" and _kept(tmp_path, summary) == packed
    assert not list((tmp_path / "data" / "archive" / "swapped" / summary["id"]).glob("*.wacz"))  # copy removed


def test_a_page_line_too_long_to_hold_is_passed_over(tmp_path: Path) -> None:
    """The new target's URL is the package's first listed page; a line of the page list over
    MAX_PAGE_LINE (its text and all) is read past in bounded pieces, never held, and the
    next page is the first."""
    ia.recorder_warc(tmp_path / "a.warc.gz")
    header = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    long = {"id": "1", "url": ia.SITE, "ts": ia.T0, "text": "ស" * sources.MAX_PAGE_LINE}
    short = {"id": "2", "url": ia.SITE + "notes.txt", "ts": ia.T0, "title": "notes"}
    pages = tmp_path / "pages.jsonl"
    pages.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in (header, long, short)), "utf-8")
    given = tmp_path / "long-pages.wacz"
    subprocess.run([ia.WACZ, "create", "-o", str(given), "-p", str(pages), "-c", str(tmp_path / "a.warc.gz")],
                   check=True, capture_output=True, timeout=120)
    summary, engine = _import(tmp_path, "pages", given)
    assert summary["target_created"]
    assert catalog.get_target(engine, "pages").spec.url == ia.SITE + "notes.txt"
