"""`refuge export`: a capture as a static site that works from any prefix, a bucket, a
gateway and file://, with no reference back to the origin or a third party.

The fixture news site is captured once by the real crawler and both of its servers
are stopped before anything is exported or checked, so nothing can be fetched from
the origin by mistake.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, unquote

import pytest

import fixture_site as fs
from link_checker import check_site, serve_directory
from refuge.archiver.capture import run_capture
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.mirror.export.exporter import MANIFEST, export_capture
from refuge.mirror.export.paths import MAX_NAME, check_safe
from refuge.storage import catalog
from replay_fixtures import without_urls
from replay_helpers import ArchiveWriter

KHMER_HEADLINE = "សេរីភាពសារព័ត៌មាន"
PREFIX = "/a/b/c/mirror/"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    settings = Settings(data=root / "data", allow_private_networks=True, backoff=0.05, timeout=5,
                        max_response_bytes=1_000_000, max_pages=150)
    engine = catalog.connect(settings.catalog_url)
    with fs.serve_with_cdn() as (site, cdn):
        catalog.save_target(engine, make_target(site.url, name="fixture", scope="host"))
        summary = run_capture(settings, engine, "fixture")
        originals = {p: site.file_bytes(p) for p in ("/km/article-1.html", "/legacy/cp1251.html",
                                                      "/legacy/sjis.html")}
    started = time.monotonic()
    export = export_capture(settings, engine, "fixture", root / "out" / "mirror")
    seconds = time.monotonic() - started
    yield SimpleNamespace(settings=settings, engine=engine, summary=summary, export=export, root=root,
                          out=export.root, site=site, cdn=cdn, originals=originals, seconds=seconds,
                          forbidden={site.host, cdn.host})


def read(exported, url_path: str, site: str = "site") -> bytes:
    host = getattr(exported, site).host.replace(":", "_")
    return (exported.out / host / url_path).read_bytes()


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_tree_passes_a_link_check_under_a_deep_prefix(exported) -> None:
    export = exported.export
    assert export.capture_id == exported.summary["id"] and len(export.pages) >= 30
    with serve_directory(exported.out, PREFIX) as server:
        report = check_site(server.url, exported.forbidden)
    assert report.broken == []
    assert report.external_refs == [] and report.forbidden_refs == []
    reached = {unquote(u[len(server.url):]) for u in report.pages}
    assert set(export.pages) <= reached, set(export.pages) - reached
    assert {"index.html", "contents.html", "mirrors.html", export.seed_path} <= reached
    assert all(r.startswith(PREFIX) for r in server.requests)
    # What was not captured is linked at its original address, and only by links a reader follows.
    leaving = {url for _page, url in report.leaving_links}
    assert exported.site.abs("/missing") in leaving and exported.site.abs("/private/secret.html") in leaving
    # Each file is served with the type its name gives it (what buckets and gateways do too).
    types = {unquote(u[len(server.url):]): t for u, t in report.content_types.items()}
    assert types[export.seed_path].startswith("text/html")
    assert types[f"{exported.site.host.replace(':', '_')}/img/logo.png"] == "image/png"


def test_the_export_lists_every_file_with_its_hash(exported) -> None:
    export, out = exported.export, exported.out
    on_disk = files_of(out)
    assert sorted(on_disk) == [f.path for f in export.files]
    manifest = json.loads(on_disk[MANIFEST])
    assert manifest["target"] == "fixture" and manifest["capture"] == export.capture_id
    listed = {f["path"]: f for f in manifest["files"]}
    for f in export.files:
        assert len(on_disk[f.path]) == f.size
        check_safe(f.path)
        assert (out / f.path).resolve().is_relative_to(out.resolve())
        if f.role != "list" and f.path != MANIFEST:
            assert listed[f.path]["sha256"] == f.sha256
    assert {f.role for f in export.files} == {"page", "asset", "index", "list"}
    print(f"\nexported {len(export.files)} files ({len(export.pages)} pages) in {exported.seconds:.2f} s")


def test_exporting_the_same_capture_again_gives_the_same_bytes(exported) -> None:
    first = files_of(exported.out)
    again = export_capture(exported.settings, exported.engine, "fixture", exported.root / "again",
                           exported.export.capture_id)
    assert files_of(again.root) == first and again.digest == exported.export.digest
    # Over the previous export in place: replaced whole, no temporary folder left beside it.
    before = sorted(os.listdir(exported.out.parent))
    replaced = export_capture(exported.settings, exported.engine, "fixture", exported.out)
    assert replaced.digest == exported.export.digest and files_of(exported.out) == first
    assert sorted(os.listdir(exported.out.parent)) == before


def test_worker_processes_write_the_same_bytes(exported, monkeypatch) -> None:
    from refuge.mirror.export import exporter as module

    forks = []
    real = module.multiprocessing.get_context
    monkeypatch.setattr(module, "PARALLEL_PAGES", 1)
    monkeypatch.setattr(module, "_single_threaded", lambda: True)
    monkeypatch.setattr(module.multiprocessing, "get_context", lambda kind: forks.append(kind) or real(kind))
    parallel = export_capture(exported.settings, exported.engine, "fixture", exported.root / "parallel")
    assert forks == ["fork"] or (os.cpu_count() or 1) == 1
    assert files_of(parallel.root) == files_of(exported.out) and parallel.digest == exported.export.digest


def test_khmer_and_legacy_charsets_come_through_unchanged(exported) -> None:
    km = read(exported, "km/article-1.html")
    assert KHMER_HEADLINE.encode() in km
    # The whole document, not lines of it: what the export added (its head meta and banner)
    # taken out and URL values set aside, it is the archived page byte for byte.
    original = exported.originals["/km/article-1.html"]
    assert _without_export_additions(km) == without_urls(original)
    cp1251 = read(exported, "legacy/cp1251.html")
    assert "Свобода прессы в Камбодже".encode("cp1251") in cp1251
    assert cp1251.index(b'<meta charset="windows-1251">') < cp1251.index(b"<title>")
    # Shift_JIS named only in the HTTP header: the page now says so itself, for file:// and gateways.
    sjis = read(exported, "legacy/sjis.html")
    assert sjis.index(b'<meta charset="Shift_JIS">') < sjis.index(b"<title>")
    assert _without_export_additions(sjis) == without_urls(exported.originals["/legacy/sjis.html"])
    assert _without_export_additions(cp1251) == without_urls(exported.originals["/legacy/cp1251.html"])
    types = {f.path: f.content_type for f in exported.export.files}
    host = exported.site.host.replace(":", "_")
    assert types[f"{host}/legacy/cp1251.html"] == "text/html; charset=windows-1251"
    assert types[f"{host}/km/article-1.html"] == "text/html; charset=utf-8"


def test_query_strings_and_awkward_names_become_safe_files(exported) -> None:
    paths = {f.path for f in exported.export.files}
    host = exported.site.host.replace(":", "_")
    assert sum(p.startswith(f"{host}/calendar_q-") and p.endswith(".html") for p in paths) >= 3
    assert sum(p.startswith(f"{host}/search_q-") for p in paths) == 1  # /search?q=<Khmer>
    assert f"{host}/paths/a_b.html" in paths  # /paths/a%2Fb.html: an encoded slash is not a folder
    assert f"{host}/paths/ឯកសារ.html" in paths  # Khmer names stay readable
    long = [p for p in paths if "/paths/cambodia-regulator" in p]
    assert len(long) == 1 and len(long[0].rsplit("/", 1)[1].encode()) <= MAX_NAME
    index = read(exported, "index.html").decode()
    assert 'href="en/index_q-' in index and "?page=" not in index.split("refuge-banner")[1]


def test_hostile_urls_stay_inside_the_export(tmp_settings, tmp_path) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    site = "https://news.example/"
    hostile = ["a/%2e%2e/%2e%2e/%2e%2e/etc/passwd.html", "..%2F..%2Fescape.html", "%2F%2Fetc%2Fshadow.html",
               "x%00y%0Az.html", "a" * 400 + ".html", "%E1%9E%80" * 90 + ".html", "CON.html", "Same.html",
               "same.html", "dir", "dir/page.html", "q.html?x=1", "q.html?x=2", ".htaccess.html",
               "%E2%80%AEevil.html", "sp%20ace%3A%2A%3F%22%3C%3E%7C.html", "back%5Cslash.html", "./dot/./x.html"]
    links = "".join(f'<a href="/{h}">{i}</a>\n' for i, h in enumerate(hostile))
    with ArchiveWriter(tmp_settings, engine, "hostile", site) as w:
        w.response(site, f"<!DOCTYPE html><title>hostile</title><body>{links}</body>".encode())
        for h in hostile:
            if h == "dir":
                w.response(site + h, b"\x00binary", headers=[("Content-Type", "application/octet-stream")])
            else:
                w.response(site + h, f"<p>{h}</p><a href='{site}'>home</a>".encode())
    out = tmp_path / "out"
    export = export_capture(tmp_settings, engine, "hostile", out)
    assert sorted(os.listdir(tmp_path)) == ["data", "out"]  # nothing written beside OUT
    inside = out.resolve()
    for f in export.files:
        check_safe(f.path)
        assert (out / f.path).resolve().is_relative_to(inside)
        assert all(len(seg.encode()) <= MAX_NAME for seg in f.path.split("/"))
    assert len({f.path.casefold() for f in export.files}) == len(export.files)  # fine on a USB stick too
    assert len(export.pages) == len(hostile)  # the seed and every page but 'dir' (a file)
    with serve_directory(out, PREFIX) as server:
        report = check_site(server.url, {"news.example"})
    assert report.broken == [] and report.external_refs == [] and report.leaving_links == []
    assert len(report.fetched) >= len(hostile) + 3


def test_third_party_scripts_trackers_and_uncaptured_requisites_are_gone(exported) -> None:
    page = read(exported, "partners.html").decode()
    assert "widget.js" not in page and "googletagmanager" not in page and "gtag(" not in page
    assert 'data-inline", "kept"' in page  # a harmless inline script stays
    assert 'src="static/app.js"' in page  # the site's own captured script stays
    assert "gone.css" not in page and "preconnect" not in page
    assert '<img class="pixel" alt=""' in page  # the uncaptured tracking pixel loads nothing
    assert exported.cdn.host not in page.split('id="refuge-banner"')[0]
    head = page[:page.index("<meta charset=\"utf-8\">") + 200]
    assert head.startswith("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
                           "<meta http-equiv=\"Content-Security-Policy\"")
    assert '<meta name="referrer" content="no-referrer">' in head
    km = read(exported, "km/article-2.html").decode()
    assert "<base" not in km and 'src="img/article-2.jpg"' in km  # resolved against the old base


def test_uncaptured_links_keep_their_original_address_and_are_marked(exported) -> None:
    index = read(exported, "index.html").decode()
    missing = exported.site.abs("/missing")
    assert f'href="{missing}"' in index
    tag = index[index.rindex("<a ", 0, index.index(f'href="{missing}"')):index.index(f'href="{missing}"')]
    assert 'title="' in tag and "Leaves the archive" in tag
    assert 'a[href^="http:"]::after' in index  # the banner's style marks every such link
    assert 'href="moved/final.html"' in index  # /old -> /older -> /moved/final.html: straight there
    banner = index[index.index('id="refuge-banner"'):]
    assert 'href="../mirrors.html"' in banner and 'href="../index.html"' in banner
    assert exported.site.abs("/") in banner  # the original URL, as text


def _browse(browser, urls: list[str], allowed: tuple[str, ...]) -> list[str]:
    """Open each URL with JavaScript off; every image with a src must show. Returns every request."""
    context = browser.new_context(java_script_enabled=False)
    seen: list[str] = []
    shown = 0
    context.on("request", lambda r: seen.append(r.url))
    try:
        page = context.new_page()
        for url in urls:
            page.goto(url, wait_until="load")
            assert page.is_visible("#refuge-banner"), url
            sizes = page.evaluate("() => [...document.images].filter(i => i.getAttribute('src') && !i.src.startsWith('data:'))"
                                  ".map(i => [i.src, i.complete ? i.naturalWidth : 0])")
            assert all(w > 0 for _src, w in sizes), (url, sizes)
            shown += len(sizes)
        page.goto(urls[0], wait_until="load")
        background = page.evaluate("() => getComputedStyle(document.body).backgroundImage")
        assert background.startswith('url("' + allowed[0]), background
    finally:
        context.close()
    assert shown >= 4  # the logo, the CDN banner, an article photo, the lazy image (noscript)
    outside = [u for u in seen if not u.startswith(allowed)]
    assert outside == [], outside
    return seen


@pytest.mark.browser
def test_pages_render_without_javascript_from_a_static_server(exported, browser) -> None:
    host = exported.site.host.replace(":", "_")
    with serve_directory(exported.out, PREFIX) as server:
        urls = [server.url + quote(f"{host}/{p}") for p in ("index.html", "km/article-1.html", "media.html",
                                                           "partners.html", "paths/ឯកសារ.html")]
        _browse(browser, urls, (server.url, "data:"))
        # The root index.html opens the seed page.
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(server.url + "index.html", wait_until="load")
        page.wait_for_url(server.url + quote(exported.export.seed_path), timeout=5000)
        context.close()


@pytest.mark.browser
def test_pages_render_without_javascript_from_files(exported, browser) -> None:
    host = exported.out / exported.site.host.replace(":", "_")
    urls = [(host / p).as_uri() for p in ("index.html", "km/article-1.html", "media.html", "partners.html")]
    _browse(browser, urls, (exported.out.as_uri() + "/", "data:"))


def test_a_database_target_exports_its_records_with_offline_search(tmp_settings, tmp_path, monkeypatch,
                                                                   capsys) -> None:
    from kamnotra_site import KamnotraSite
    from refuge.cli.main import main

    monkeypatch.setenv("REFUGE_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("REFUGE_BACKOFF", "0.05")
    spec = tmp_path / "gazette.toml"
    with KamnotraSite() as site:
        spec.write_text(site.gazetteer_spec(), encoding="utf-8")
        data = ["--data", str(tmp_settings.data)]
        assert main([*data, "add", site.url("/"), "--name", "gazette", "--kind", "database", "--spec", str(spec),
                     "--max-pages", "500"]) == 0
        assert main([*data, "capture", "gazette", "--json"]) == 0
        forbidden = {site.base.split("//", 1)[1]}
    capsys.readouterr()
    engine = catalog.connect(tmp_settings.catalog_url)
    export = export_capture(tmp_settings, engine, "gazette", tmp_path / "out")
    roles = {f.path: f.role for f in export.files}
    assert roles["data/index.html"] == roles["data/search.js"] == roles["data/changes.html"] == "data"
    index = (export.root / "data" / "index.html").read_text(encoding="utf-8")
    assert index.count("<tr data-search=") == 46
    assert 'href="../index.html"' in index and 'href="../' in index.split("<tbody>")[1]
    assert 'href="data/index.html"' in (export.root / "index.html").read_text(encoding="utf-8")
    with serve_directory(export.root, PREFIX) as server:
        report = check_site(server.url, forbidden)
    assert report.broken == [] and report.external_refs == [] and report.forbidden_refs == []
    assert any(u.endswith("data/search.js") for u in report.fetched)


def test_a_folder_that_is_not_an_export_is_refused(exported, tmp_path) -> None:
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"not ours")
    with pytest.raises(BadInput) as err:
        export_capture(exported.settings, exported.engine, "fixture", foreign)
    assert str(foreign) in str(err.value) and "\n" not in str(err.value)
    assert os.listdir(foreign) == ["holiday.jpg"] and sorted(os.listdir(tmp_path)) == ["photos"]
    with pytest.raises(BadInput, match="not a directory"):
        export_capture(exported.settings, exported.engine, "fixture", foreign / "holiday.jpg")


def test_unknown_target_or_capture_is_refused(exported, tmp_path) -> None:
    with pytest.raises(BadInput, match="'nope'"):
        export_capture(exported.settings, exported.engine, "nope", tmp_path / "out")
    with pytest.raises(BadInput, match="20990101000000-0000000"):
        export_capture(exported.settings, exported.engine, "fixture", tmp_path / "out", "20990101000000-0000000")
    assert not (tmp_path / "out").exists()


def test_the_mirror_list_goes_at_the_root_without_changing_the_digest(exported, tmp_path) -> None:
    extra = {"mirrors.html": b"<!DOCTYPE html><title>Mirrors</title><p>list</p>", "mirrors.json": b"{}\n",
             "mirrors.json.minisig": b"untrusted comment: x\n", "refuge.pub": b"untrusted comment: key\n"}
    export = export_capture(exported.settings, exported.engine, "fixture", tmp_path / "out", extra_files=extra)
    roles = {f.path: (f.role, f.content_type) for f in export.files}
    assert roles["mirrors.html"] == ("list", "text/html; charset=utf-8")
    assert roles["mirrors.json"] == ("list", "application/json")
    assert (export.root / "mirrors.html").read_bytes() == extra["mirrors.html"]
    assert export.digest == exported.export.digest
    assert "mirrors.html" in {f.path for f in exported.export.files}  # a placeholder when none is given
    with pytest.raises(BadInput, match="index.html"):
        export_capture(exported.settings, exported.engine, "fixture", tmp_path / "o2", extra_files={"index.html": b""})


_HEAD_META = re.compile(rb"(<head[^>]*>)((?:<meta [^>]*>)+)", re.I)  # the export's, right after <head>


def _without_export_additions(page: bytes) -> bytes:
    """An exported page with the export's head meta and banner taken out and URL values set
    aside (replay_fixtures.without_urls), to compare with the archived page."""
    return without_urls(_HEAD_META.sub(rb"\1", page, count=1))
