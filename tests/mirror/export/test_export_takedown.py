"""A takedown in the static export: the hidden pages have no file, links to them lead to a
bilingual notice with the reason, the WARC files are untouched (verify passes), and the
next export after unhiding has them again."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from link_checker import check_site, serve_directory
from refuge.cli.main import main
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.mirror.export.exporter import MANIFEST, ROOT_NAMES, export_capture
from refuge.mirror.export.plan import Plan
from refuge.storage import catalog
from refuge.storage.capture_records import read_capture_records
from refuge.storage.catalog import hidden, snapshots
from refuge.storage.catalog.events import CLI_ACTOR
from refuge.storage.catalog.schema import files as files_table
from refuge.storage.warc.files import warc_files
from replay_fixtures import CSS, FIXTURE, FRAME, INDEX, KHMER, KM_PATH, PNG, SITE, T1
from replay_helpers import ArchiveWriter

HTML = [("Content-Type", "text/html; charset=utf-8")]
HOST = "news.example"
SOURCE = "Names a source: withheld at her request. ឈ្មោះប្រភពព័ត៌មាន"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A small capture of the replay tests' news site (their documents, written the same way)."""
    root = tmp_path_factory.mktemp("takedown")
    settings = Settings(data=root / "data")
    (root / "data").mkdir()
    engine = catalog.connect(settings.catalog_url)
    with ArchiveWriter(settings, engine, "site", SITE) as w:
        w.response(SITE, INDEX, ts=T1, headers=HTML)
        w.response(SITE + "en/article-1.html", FRAME, ts=T1, headers=HTML)
        w.response(SITE + "frame.html", FRAME, ts=T1, headers=HTML)
        w.response(SITE + KM_PATH, KHMER, ts=T1, headers=HTML)
        w.response(SITE + "km/article-2.html", (FIXTURE / "km/article-2.html").read_bytes(), ts=T1, headers=HTML)
        w.response(SITE + "static/site.css", CSS, ts=T1, headers=[("Content-Type", "text/css")])
        w.response(SITE + "img/logo.png", PNG, ts=T1, headers=[("Content-Type", "image/png")])
        w.response(SITE + "old", b"moved", ts=T1, status=301, headers=[("Location", "/moved/final.html")])
        w.response(SITE + "moved/final.html", b"<html><body>final</body></html>", ts=T1, headers=HTML)
    yield SimpleNamespace(settings=settings, engine=engine, root=root, capture=w.capture_id)
    engine.dispose()


def warc_hashes(site) -> dict[str, str]:
    with site.engine.connect() as conn:
        paths = conn.execute(select(files_table.c.path)).scalars().all()
    return {p: hashlib.sha256((site.settings.data / p).read_bytes()).hexdigest() for p in paths}


def exported_paths(export) -> set[str]:
    return {f.path for f in export.files}


def test_hidden_pages_are_left_out_and_links_lead_to_the_reason(site, capsys) -> None:
    before = warc_hashes(site)
    full = export_capture(site.settings, site.engine, "site", site.root / "full")
    assert {f"{HOST}/en/article-1.html", f"{HOST}/km/article-2.html"} <= exported_paths(full)

    exact = hidden.hide(site.engine, SITE + "en/article-1.html", SOURCE, CLI_ACTOR)
    folder = hidden.hide(site.engine, "news.example/km/*", "Court order 4/2026", CLI_ACTOR)
    try:
        export = export_capture(site.settings, site.engine, "site", site.root / "out")
    finally:
        hidden.unhide(site.engine, exact["id"], CLI_ACTOR)
        hidden.unhide(site.engine, folder["id"], CLI_ACTOR)
    paths = exported_paths(export)
    out = export.root
    assert not any(p.startswith((f"{HOST}/en/article-1", f"{HOST}/km/")) for p in paths), sorted(paths)
    assert not (out / HOST / "en" / "article-1.html").exists() and not (out / HOST / "km").exists()
    assert {f"{HOST}/index.html", f"{HOST}/frame.html", f"{HOST}/img/logo.png"} <= paths  # the rest stays
    listed = {f["path"] for f in json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"]}
    assert not any(p.startswith(f"{HOST}/km/") for p in listed)
    assert "article-1" not in (out / "contents.html").read_text(encoding="utf-8")

    # The link to the hidden article leads to the notice of its takedown, which gives the reason.
    page = (out / HOST / "index.html").read_text(encoding="utf-8")
    notice = f"withheld/{exact['id']}.html"
    assert f'id="l1" href="../{notice}"' in page
    text = (out / notice).read_text(encoding="utf-8")
    assert "ទំព័រនេះត្រូវបានដកចេញពីការបង្ហាញ" in text and "This page has been withheld" in text
    assert SOURCE in text and "article-1" not in text  # the reason, not the URL
    assert (out / notice).stat().st_size > 0 and notice in paths
    # One notice for each takedown that left something out, whether linked to or not.
    assert "Court order 4/2026" in (out / f"withheld/{folder['id']}.html").read_text(encoding="utf-8")
    assert sorted(p for p in paths if p.startswith("withheld/")) == sorted([notice, f"withheld/{folder['id']}.html"])

    # Every link in the copy works; nothing reaches out.
    with serve_directory(out, "/m/") as server:
        report = check_site(server.url, {HOST})
    assert report.broken == [] and report.external_refs == [] and report.forbidden_refs == []
    assert any(u.endswith(notice) for u in report.fetched)

    # The evidence is kept: the same WARC bytes, and verify says so.
    assert warc_hashes(site) == before
    assert main(["--data", str(site.settings.data), "verify", "--all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True

    # Unhidden, the next export has the pages again, byte for byte as before.
    again = export_capture(site.settings, site.engine, "site", site.root / "again")
    assert again.digest == full.digest


def test_redirects_into_a_hidden_page_lead_to_its_notice(site) -> None:
    row = hidden.hide(site.engine, SITE + "moved/final.html", "Protects a witness", CLI_ACTOR)
    try:
        records = read_capture_records(site.engine, warc_files(site.settings, site.engine), site.capture)
        plan = Plan(records, ROOT_NAMES, hidden.active(site.engine))
    finally:
        hidden.unhide(site.engine, row["id"], CLI_ACTOR)
    notice = f"withheld/{row['id']}.html"
    assert plan.lookup(SITE + "moved/final.html") == notice
    assert plan.lookup("http://www.news.example/moved/final.html") == notice
    assert plan.lookup(SITE + "old") == notice
    assert plan.notices == {notice: row}
    assert plan.lookup(SITE + "frame.html") == f"{HOST}/frame.html"


def test_a_site_whose_every_page_is_hidden_is_not_exported(site, tmp_path) -> None:
    row = hidden.hide(site.engine, "news.example/*", "The whole site, on request", CLI_ACTOR)
    try:
        with pytest.raises(BadInput, match="nothing to export .*every one hidden: see `refuge hidden`"):
            export_capture(site.settings, site.engine, "site", tmp_path / "out")
    finally:
        hidden.unhide(site.engine, row["id"], CLI_ACTOR)
    assert not (tmp_path / "out").exists()


def test_a_database_record_taken_down_leaves_the_data_pages(tmp_settings, tmp_path, monkeypatch, capsys) -> None:
    from kamnotra_site import KamnotraSite
    from refuge.mirror.replay import data_pages

    monkeypatch.setenv("REFUGE_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("REFUGE_BACKOFF", "0.05")
    spec = tmp_path / "gazette.toml"
    data = ["--data", str(tmp_settings.data)]
    with KamnotraSite() as kamnotra:
        spec.write_text(kamnotra.gazetteer_spec(), encoding="utf-8")
        assert main([*data, "add", kamnotra.url("/"), "--name", "gazette", "--kind", "database", "--spec",
                     str(spec), "--max-pages", "500"]) == 0
        assert main([*data, "capture", "gazette", "--json"]) == 0
    engine = catalog.connect(tmp_settings.catalog_url)
    rows = snapshots.records(engine, snapshots.pick(engine, "gazette", None))
    record = next(r for r in rows if "/km/" in (r["url"] or ""))
    capsys.readouterr()
    assert main([*data, "hide", record["url"], "--reason", "Names a land-rights defender"]) == 0
    export = export_capture(tmp_settings, engine, "gazette", tmp_path / "out")
    index = (export.root / "data" / "index.html").read_text(encoding="utf-8")
    assert index.count("<tr data-search=") == len(rows) - 1
    page_path = urlsplit(record["url"]).path  # the same record in the other language stays
    exported = {f.path.split("/", 1)[1] for f in export.files if "/" in f.path}
    assert page_path.replace("/km/", "/en/")[1:] + ".html" in exported
    assert page_path[1:] + ".html" not in exported and f'{page_path}.html"' not in index
    status, page = data_pages.handle(engine, "/data/gazette/")
    assert status == 200 and page.count(b"<tr><td>") == len(rows) - 1
    assert f'{record["url"]}"'.encode() not in page
    engine.dispose()
