"""Database targets end to end: a Kamnotra-like site on loopback, captured whole,
exported as data, searched in Khmer, and compared over time."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from werkzeug.test import Client

from kamnotra_site import UNIQUE_KM_WORD, UNIQUE_RECORD_ID, KamnotraSite
from refuge.cli.main import main
from refuge.mirror.pages.data_table import public_reason
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog


@pytest.fixture(autouse=True)
def _loopback(monkeypatch) -> None:
    """The CLI reads its settings afresh: let it reach the fixture on 127.0.0.1."""
    monkeypatch.setenv("REFUGE_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("REFUGE_BACKOFF", "0.05")


@pytest.fixture
def kamnotra():
    with KamnotraSite() as site:
        yield site


def _add(settings, site: KamnotraSite, name: str, spec: str, tmp_path: Path, url: str = "") -> None:
    path = tmp_path / f"{name}.toml"
    path.write_text(spec, encoding="utf-8")
    assert main(["--data", str(settings.data), "add", url or site.url("/"), "--name", name, "--kind", "database",
                 "--spec", str(path), "--max-pages", "500"]) == 0


def _capture(settings, name: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["--data", str(settings.data), "capture", name, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _dataset(settings, name: str, tmp_path: Path, fmt: str = "jsonl", *extra: str) -> Path:
    out = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.{fmt}"
    assert main(["--data", str(settings.data), "dataset", name, "--format", fmt, "--out", str(out), *extra]) == 0
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_snapshot_captures_every_record_and_matches_the_source_exactly(
        tmp_settings, kamnotra, tmp_path, capsys) -> None:
    _add(tmp_settings, kamnotra, "gazette", kamnotra.gazetteer_spec(), tmp_path)
    summary = _capture(tmp_settings, "gazette", capsys)
    snap = summary["snapshot"]
    assert summary["status"] == "complete"
    assert snap["complete"] and snap["expected"] == 23 and snap["records"] == 23 and snap["rows"] == 46
    assert snap["attachments"] == 23 and snap["attachments_failed"] == 0
    assert kamnotra.fetched_twice() == []

    rows = _jsonl(_dataset(tmp_settings, "gazette", tmp_path))
    got = sorted(({"id": r["id"], "lang": r["lang"], "url": r["url"], "title": r["title"], "date": r["date"],
                   "ministry": r["ministry"], "kind": r["kind"], "attachment_url": r["attachments"][0]["url"],
                   "attachment_sha256": r["attachments"][0]["sha256"], "attachment_size": r["attachments"][0]["size"]}
                  for r in rows), key=lambda r: (int(r["id"]), r["lang"]))
    want = sorted(kamnotra.gazetteer_expected(), key=lambda r: (int(r["id"]), r["lang"]))
    assert got == want
    first = rows[0]
    assert first["warc_file"].endswith(".warc.gz") and first["warc_offset"] >= 0 and len(first["sha256"]) == 64
    assert first["captured_at"].endswith("Z")

    # CSV keeps Khmer intact (with a BOM, for spreadsheets).
    text = _dataset(tmp_settings, "gazette", tmp_path, "csv").read_text(encoding="utf-8-sig")
    assert UNIQUE_KM_WORD in text and text.startswith("id,lang,url,captured_at,title")


def test_khmer_search_finds_a_word_inside_a_title(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    _add(tmp_settings, kamnotra, "gazette", kamnotra.gazetteer_spec(), tmp_path)
    _capture(tmp_settings, "gazette", capsys)
    db = sqlite3.connect(_dataset(tmp_settings, "gazette", tmp_path, "sqlite"))
    found = db.execute("SELECT records.id, records.lang, records.title FROM records_fts "
                       "JOIN records ON records.rowid = records_fts.rowid WHERE records_fts MATCH ?",
                       [f'"{UNIQUE_KM_WORD}"']).fetchall()
    assert [(i, lang) for i, lang, _ in found] == [(str(UNIQUE_RECORD_ID), "km")]
    title = found[0][2]
    assert not title.startswith(UNIQUE_KM_WORD) and not title.endswith(UNIQUE_KM_WORD)  # mid-title
    # Part of a word, with no space on either side: Khmer runs words together.
    inner = UNIQUE_KM_WORD[1:-1]
    assert db.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH ?", [f'"{inner}"']).fetchone() == (1,)

    engine = catalog.connect(tmp_settings.catalog_url)
    client = Client(make_app(tmp_settings, engine))
    page = client.get(f"/data/gazette/?q={UNIQUE_KM_WORD}").get_data(as_text=True)
    assert f">{UNIQUE_RECORD_ID}</a>" in page and page.count("<tr><td>") == 1
    assert client.get(f"/data/gazette/?q={UNIQUE_KM_WORD[1:-1]}").get_data(as_text=True).count("<tr><td>") == 1
    english = client.get("/data/gazette/?q=concession").get_data(as_text=True)
    assert 0 < english.count("<tr><td>") < 46  # English words are found too, and only matching rows shown
    table = client.get("/data/gazette/?sort=date&order=desc").get_data(as_text=True)
    assert table.count("<tr><td>") == 46
    # A search made to be slow is refused at once, in both languages, on one line.
    for hostile in ("?q=" + "+".join(["word"] * 60_000), "?q=" + "x" * 5000,
                    "?" + "&".join(f"f{i}=v" for i in range(5000))):
        refused = client.get("/data/gazette/" + hostile)
        assert refused.status_code == 400, hostile[:20]
        assert "ការស្វែងរកវែងពេក" in refused.get_data(as_text=True)
        assert "Search too long: at most 12 words and 200 characters" in refused.get_data(as_text=True)
    # Each record links to its replayed page, which the replay server serves.
    link = table.split('<tr><td><a href="', 1)[1].split('"', 1)[0]
    assert client.get(link.replace("&amp;", "&")).status_code == 200


def test_diff_between_snapshots_lists_exactly_what_changed(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    _add(tmp_settings, kamnotra, "gazette", kamnotra.gazetteer_spec(), tmp_path)
    first = _capture(tmp_settings, "gazette", capsys)
    added = kamnotra.add_record()
    kamnotra.change_record(5, title_en="Sub-Decree on a Corrected Land Concession")
    kamnotra.remove_record(9)
    second = _capture(tmp_settings, "gazette", capsys)
    assert second["snapshot"]["records"] == 23 and second["snapshot"]["complete"]
    capsys.readouterr()
    assert main(["--data", str(tmp_settings.data), "diff", "gazette", "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff == {"from": first["id"], "to": second["id"], "added": [str(added.id)], "removed": ["9"],
                    "changed": ["5"], "unchanged": 21, "markup_only": []}
    assert main(["--data", str(tmp_settings.data), "diff", "gazette", "--from", first["id"], "--to", first["id"],
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] == 23
    changes = Client(make_app(tmp_settings, catalog.connect(tmp_settings.catalog_url))).get("/data/gazette/changes")
    assert "<li>9</li>" in changes.get_data(as_text=True)


@pytest.mark.parametrize("kind, first_page", [("gazette", "/en/gazetteer?page=1"), ("disputes", "/api/disputes?page=1")])
def test_a_target_whose_url_is_its_first_listing_page_is_enumerated_from_it(
        tmp_settings, kamnotra, tmp_path, capsys, kind, first_page) -> None:
    # What an admin naturally types: the seed is the first listing (or API) page itself.
    spec = kamnotra.gazetteer_spec() if kind == "gazette" else kamnotra.disputes_spec()
    _add(tmp_settings, kamnotra, kind, spec, tmp_path, url=kamnotra.url(first_page))
    summary = _capture(tmp_settings, kind, capsys)
    snap = summary["snapshot"]
    expected = 23 if kind == "gazette" else 7
    assert summary["status"] == "complete" and snap["complete"], snap["missing"]
    assert snap["expected"] == snap["records"] == expected and snap["rows"] == 2 * expected
    assert kamnotra.fetched_twice() == []
    capsys.readouterr()
    out = _dataset(tmp_settings, kind, tmp_path)
    assert len(_jsonl(out)) == 2 * expected
    assert f"wrote {2 * expected} rows ({expected} records)" in capsys.readouterr().out


def test_a_listing_the_spec_cannot_read_is_never_complete(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    wrong = kamnotra.gazetteer_spec().replace('records = "a.record-link"', 'records = "a.no-such-class"')
    wrong = wrong.replace('total = ".result-count"\n', "")
    _add(tmp_settings, kamnotra, "gazette", wrong, tmp_path)
    snap = _capture(tmp_settings, "gazette", capsys)["snapshot"]
    assert not snap["complete"] and snap["records"] == 0
    assert snap["missing"]["listing"].endswith("named no records the spec could read")
    capsys.readouterr()
    _dataset(tmp_settings, "gazette", tmp_path)
    assert "the snapshot is INCOMPLETE" in capsys.readouterr().out


def test_a_listing_that_stops_early_is_marked_incomplete(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    kamnotra.stop_listing_after(1)
    _add(tmp_settings, kamnotra, "gazette", kamnotra.gazetteer_spec(), tmp_path)
    snap = _capture(tmp_settings, "gazette", capsys)["snapshot"]
    assert not snap["complete"] and snap["records"] == 10 and snap["expected"] == 23
    assert snap["missing"]["records"] == "the source states 23 records; 10 were captured"
    assert "INCOMPLETE" in Client(make_app(tmp_settings, catalog.connect(tmp_settings.catalog_url))).get(
        "/data/gazette/").get_data(as_text=True)


def test_a_failed_attachment_is_reported_and_the_rest_kept(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    kamnotra.fail_attachment(3)
    _add(tmp_settings, kamnotra, "gazette", kamnotra.gazetteer_spec(), tmp_path)
    snap = _capture(tmp_settings, "gazette", capsys)["snapshot"]
    assert snap["records"] == 23 and snap["attachments"] == 22 and snap["attachments_failed"] == 1
    assert snap["missing"]["attachments_failed"][0]["url"] == kamnotra.url(kamnotra.attachment_path(3))
    rows = _jsonl(_dataset(tmp_settings, "gazette", tmp_path))
    broken = [r for r in rows if r["id"] == "3"]
    assert len(broken) == 2 and all("error" in r["attachments"][0] for r in broken)
    assert all("sha256" in r["attachments"][0] for r in rows if r["id"] != "3")
    page = Client(make_app(tmp_settings, catalog.connect(tmp_settings.catalog_url))).get("/data/gazette/")
    assert page.get_data(as_text=True).count('<del title="HTTP 500">') == 2


@pytest.mark.parametrize("error, shown", [
    ("HTTP 404", "HTTP 404"),
    ("10.0.0.5 resolves to 10.0.0.5, a loopback, private, link-local or reserved address", "not captured"),
    ("Failed to establish a new connection: [Errno 111] Connection refused", "not captured"),
])
def test_a_public_page_never_shows_what_the_crawlers_network_answered(error: str, shown: str) -> None:
    assert public_reason(error) == shown


def test_a_json_api_is_captured_with_its_items_whole(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    _add(tmp_settings, kamnotra, "disputes", kamnotra.disputes_spec(), tmp_path)
    first = _capture(tmp_settings, "disputes", capsys)
    snap = first["snapshot"]
    assert snap["complete"] and snap["expected"] == 7 and snap["records"] == 7 and snap["rows"] == 14
    rows = _jsonl(_dataset(tmp_settings, "disputes", tmp_path))
    items = {r["id"]: r["item"] for r in rows}
    assert sorted(items.values(), key=lambda i: i["id"]) == sorted(kamnotra.disputes_expected(), key=lambda i: i["id"])
    km = next(r for r in rows if r["lang"] == "km" and r["id"] == rows[0]["id"])
    assert km["name"] == items[km["id"]]["name"]["km"]

    # A change in an item alone (its page says the same) is a change.
    kamnotra.disputes[2].households += 100
    second = _capture(tmp_settings, "disputes", capsys)
    capsys.readouterr()
    assert main(["--data", str(tmp_settings.data), "diff", "disputes", "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert (diff["from"], diff["to"]) == (first["id"], second["id"])
    assert diff["changed"] == [str(kamnotra.disputes[2].id)] and diff["unchanged"] == 6


@pytest.mark.parametrize("spec, needle", [
    ('[listing]\nurl = "http://x.example/?page={page}"\nrecrods = "a"\n[record]\nid = "/(\\\\d+)"\n',
     "unknown key 'recrods'"),
    ('[listing]\nurl = "http://x.example/?page={page}"\nrecords = "a["\n[record]\nid = "/(\\\\d+)"\n',
     "records"),
    ('[record]\nid = "/(\\\\d+)"\n', "needs [listing] or [api]"),
])
def test_a_malformed_spec_is_refused_at_add(tmp_settings, tmp_path, capsys, spec: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(spec)
    assert main(["--data", str(tmp_settings.data), "add", "http://x.example/", "--kind", "database",
                 "--spec", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(path) in err and err.count("\n") == 1
    assert catalog.list_targets(catalog.connect(tmp_settings.catalog_url)) == []


def test_targets_shows_how_complete_the_newest_snapshot_is(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    kamnotra.stop_listing_after(2)
    _add(tmp_settings, kamnotra, "gazette", kamnotra.gazetteer_spec(), tmp_path)
    _capture(tmp_settings, "gazette", capsys)
    assert main(["--data", str(tmp_settings.data), "targets"]) == 0
    assert "complete, 20/23 records INCOMPLETE" in capsys.readouterr().out
    assert main(["--data", str(tmp_settings.data), "targets", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["kind"] == "database" and row["database"]["listing"]["records"] == "a.record-link"
    assert row["snapshot"]["records"] == 20 and row["snapshot"]["complete"] is False


def test_a_catalog_from_before_database_targets_gains_the_column(tmp_settings) -> None:
    from sqlalchemy import text

    from refuge.config.targets import make_target

    engine = catalog.connect(tmp_settings.catalog_url)
    catalog.save_target(engine, make_target("https://old.example/", name="old"))
    with engine.begin() as conn:  # as an issue-2 catalog was
        conn.execute(text('ALTER TABLE targets DROP COLUMN "database"'))
        conn.execute(text("DROP TABLE refuge_schema"))
    engine.dispose()
    engine = catalog.connect(tmp_settings.catalog_url)
    assert catalog.get_target(engine, "old").spec.database is None
    assert catalog.list_targets(engine)[0].spec.url == "https://old.example/"


def test_a_catalog_brought_up_to_an_older_schema_is_brought_up_to_this_one(tmp_settings) -> None:
    from sqlalchemy import text

    engine = catalog.connect(tmp_settings.catalog_url)
    with engine.begin() as conn:  # as a release without mirror checks or the capture index left it
        conn.execute(text("DROP TABLE mirror_checks"))
        conn.execute(text("DROP INDEX cdx_by_capture"))
        conn.execute(text("UPDATE refuge_schema SET value = 'an older schema'"))
    engine.dispose()
    engine = catalog.connect(tmp_settings.catalog_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM mirror_checks")).scalar() == 0
        assert conn.execute(text("SELECT value FROM refuge_schema")).scalar() != "an older schema"
        assert conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'cdx_by_capture'")).scalar()


def test_one_captures_records_are_read_without_reading_the_archives(tmp_settings) -> None:
    """An export reads its capture's rows through an index: its time does not grow with
    the number of captures kept."""
    from sqlalchemy import text

    from refuge.storage.catalog.index import capture_query

    engine = catalog.connect(tmp_settings.catalog_url)
    sql = str(capture_query("20240601000000-abcdef0").compile(dialect=engine.dialect,
                                                               compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "USING INDEX cdx_by_capture" in plan and "SCAN cdx" not in plan, plan


@pytest.mark.browser
def test_the_static_index_searches_offline_and_reads_without_javascript(
        tmp_settings, kamnotra, tmp_path, capsys, browser) -> None:
    from refuge.mirror.export.data import write_data_index

    _add(tmp_settings, kamnotra, "gazette", kamnotra.gazetteer_spec(), tmp_path)
    _capture(tmp_settings, "gazette", capsys)
    engine = catalog.connect(tmp_settings.catalog_url)
    folder = tmp_path / "copy" / "data"

    def href(url: str, ts: str) -> str | None:  # pages "in the copy": record pages only
        return "../pages/" + url.rsplit("/", 1)[1] + ".html" if "/records/" in url else None

    files = write_data_index(engine, "gazette", folder, href)
    first = [f.read_bytes() for f in files]
    assert [f.read_bytes() for f in write_data_index(engine, "gazette", folder, href)] == first  # reproducible
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert "http://" not in html.replace(kamnotra.base, "")  # no link out but the originals named in text
    assert 'href="../pages/17.html"' in html

    for javascript in (True, False):
        context = browser.new_context(java_script_enabled=javascript)
        requests_seen: list[str] = []
        context.on("request", lambda r: requests_seen.append(r.url))
        page = context.new_page()
        page.goto((folder / "index.html").as_uri())
        if javascript:
            page.fill("#q", UNIQUE_KM_WORD[1:-1])
            assert page.locator("tbody tr:visible").count() == 1
            assert page.locator("tbody tr:visible td a").first.inner_text() == str(UNIQUE_RECORD_ID)
            assert page.inner_text("#shown") == "1"
            page.fill("#q", "")
        else:
            assert not page.is_visible("#search")  # the search needs JavaScript: hidden without it
        assert page.locator("tbody tr:visible").count() == 46
        assert all(u.startswith("file://") for u in requests_seen), requests_seen
        context.close()


def test_a_listing_that_ignores_the_page_number_ends_and_says_so(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    """Every page number returns page 1: the walk stops at the first page with nothing new."""
    spec = kamnotra.gazetteer_spec().replace("gazetteer?page={page}", "gazetteer?pg={page}")
    _add(tmp_settings, kamnotra, "gazette", spec, tmp_path)
    snap = _capture(tmp_settings, "gazette", capsys)["snapshot"]
    assert snap["records"] == 10 and not snap["complete"]
    assert [p for p in kamnotra.requests_log if "gazetteer?pg=" in p] == [
        "/en/gazetteer?pg=1", "/en/gazetteer?pg=2"]


def test_record_pages_that_moved_are_read_where_they_went(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    spec = kamnotra.disputes_spec().replace("/{lang}/in-dispute/{id}", "/moved/{lang}/in-dispute/{id}")
    _add(tmp_settings, kamnotra, "disputes", spec, tmp_path)
    snap = _capture(tmp_settings, "disputes", capsys)["snapshot"]
    assert snap["complete"] and snap["rows"] == 14
    rows = _jsonl(_dataset(tmp_settings, "disputes", tmp_path))
    assert all("/moved/" not in r["url"] and r["name"] for r in rows)


def test_a_record_missing_in_one_language_makes_the_snapshot_incomplete(
        tmp_settings, kamnotra, tmp_path, capsys) -> None:
    """Asking for French too: the site has no /fr/ pages, so every record is there in
    Khmer and English and missing in French."""
    spec = kamnotra.gazetteer_spec().replace('languages = ["km", "en"]', 'languages = ["km", "en", "fr"]')
    _add(tmp_settings, kamnotra, "gazette", spec, tmp_path)
    snap = _capture(tmp_settings, "gazette", capsys)["snapshot"]
    assert snap["records"] == 23 and snap["rows"] == 46 and not snap["complete"]
    assert snap["missing"]["pages_count"] == 23
    assert {(p["lang"], p["reason"]) for p in snap["missing"]["pages"]} == {("fr", "HTTP 404")}


def test_an_api_without_record_pages_gives_one_row_per_item(tmp_settings, kamnotra, tmp_path, capsys) -> None:
    spec = "\n".join(line for line in kamnotra.disputes_spec().splitlines()
                     if not line.startswith(("record_url", "[record]", "languages", "fields")))
    _add(tmp_settings, kamnotra, "disputes", spec, tmp_path)
    snap = _capture(tmp_settings, "disputes", capsys)["snapshot"]
    assert snap["complete"] and snap["records"] == 7 and snap["rows"] == 7
    rows = _jsonl(_dataset(tmp_settings, "disputes", tmp_path))
    assert [r["item"] for r in rows] == kamnotra.disputes_expected()
    assert all(r["warc_file"].endswith(".warc.gz") and "/api/disputes?page=" in r["url"] for r in rows)
