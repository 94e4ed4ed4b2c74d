"""The offline search page of a static export (export.offline_search), opened from file:// in
Chromium as a reader with a USB stick would: a Khmer word inside a sentence finds its page,
the snippet marks it and shows a page's "<script>" as text, the link opens the page, nothing
is requested outside the folder; with JavaScript off, every title is listed. The index is
bounded, has no banner or navigation text, and never holds a hidden page."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from link_checker import serve_directory
from playwright.sync_api import expect
from replay_fixtures import FIXTURE, SITE, T1
from replay_helpers import ArchiveWriter

from refuge.config.settings import Settings
from refuge.mirror.export import offline_search
from refuge.mirror.export.exporter import MANIFEST, export_capture
from refuge.storage import catalog
from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR

HTML = [("Content-Type", "text/html; charset=utf-8")]
HOST = "news.example"
WORD = "អ៊ីនធឺណិត"  # "internet", inside a sentence of km/article-1.html (no space around it)
KM_TITLE = "សេរីភាពសារព័ត៌មាននៅកម្ពុជា"
SECRET = "Zanzibarwitness"
NAV = "Navigationlinkword"
INDEX = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Mekong Observer</title></head><body>"
         f"<nav><a href='/km/article-1.html'>{NAV}</a></nav><h1>Mekong Observer</h1>"
         "<a href='/km/article-1.html'>ខ្មែរ</a> <a href='/en/code.html'>code</a> <a href='/en/secret.html'>s</a>"
         "</body></html>").encode()
CODE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Escaping &lt;b&gt; in pages</title></head><body>"
        "<p>Write &lt;script&gt;alert(1)&lt;/script&gt; to show the tag; the word payload follows.</p>"
        "<script>document.title = 'ran'</script></body></html>").encode()
SECRET_PAGE = f"<html><head><title>Source</title></head><body><p>{SECRET} named</p></body></html>".encode()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("search-offline")
    settings = Settings(data=root / "data")
    (root / "data").mkdir()
    engine = catalog.connect(settings.catalog_url)
    with ArchiveWriter(settings, engine, "site", SITE) as w:
        w.response(SITE, INDEX, ts=T1, headers=HTML)
        w.response(SITE + "km/article-1.html", (FIXTURE / "km/article-1.html").read_bytes(), ts=T1, headers=HTML)
        w.response(SITE + "km/article-2.html", (FIXTURE / "km/article-2.html").read_bytes(), ts=T1, headers=HTML)
        w.response(SITE + "en/article-1.html", (FIXTURE / "en/article-1.html").read_bytes(), ts=T1, headers=HTML)
        w.response(SITE + "legacy/cp1251.html", (FIXTURE / "legacy/cp1251.html").read_bytes(), ts=T1,
                   headers=[("Content-Type", "text/html")])
        w.response(SITE + "en/code.html", CODE, ts=T1, headers=HTML)
        w.response(SITE + "en/secret.html", SECRET_PAGE, ts=T1, headers=HTML)
    takedown = hidden.hide(engine, SITE + "en/secret.html", "Protects a source", CLI_ACTOR)
    export = export_capture(settings, engine, "site", root / "usb" / "mirror")
    hidden.unhide(engine, takedown["id"], CLI_ACTOR)
    yield SimpleNamespace(export=export, out=export.root)
    engine.dispose()


def index_of(out) -> list[dict[str, str]]:
    script = (out / offline_search.INDEX).read_text(encoding="utf-8")
    assert script.startswith("var REFUGE_SEARCH = ") and script.endswith(";\n")
    return json.loads(script[len("var REFUGE_SEARCH = "):-2])["pages"]


def test_every_exported_page_is_indexed_once_without_banner_or_navigation(exported) -> None:
    pages = {e["p"]: e for e in index_of(exported.out)}
    assert sorted(pages) == sorted(exported.export.pages)
    article = pages[f"{HOST}/km/article-1.html"]
    assert article["t"] == KM_TITLE and WORD in article["x"]
    assert article["u"] == "https://news.example/km/article-1.html"
    legacy = pages[f"{HOST}/legacy/cp1251.html"]  # read in its own charset
    assert legacy["t"] == "Свобода прессы в Камбодже" and "интернет-провайдерам" in legacy["x"]
    code = pages[f"{HOST}/en/code.html"]
    assert "<script>alert(1)</script>" in code["x"] and "document.title" not in code["x"]
    for entry in pages.values():
        assert "Refuge" not in entry["x"] and NAV not in entry["x"], entry  # banner, <nav>
        assert len(entry["x"]) <= offline_search.text_chars(len(pages))
    # The three files are in the export and its manifest; the root pages link to the search.
    listed = {f["path"] for f in json.loads((exported.out / MANIFEST).read_text(encoding="utf-8"))["files"]}
    assert offline_search.NAMES <= listed
    assert 'href="search.html"' in (exported.out / "index.html").read_text(encoding="utf-8")
    assert 'href="search.html"' in (exported.out / "contents.html").read_text(encoding="utf-8")


def test_a_hidden_page_is_neither_indexed_nor_listed(exported) -> None:
    assert not any("secret" in e["p"] or SECRET in e["x"] for e in index_of(exported.out))
    for name in offline_search.NAMES:
        text = (exported.out / name).read_text(encoding="utf-8")
        assert SECRET not in text and "secret.html" not in text, name


def test_text_kept_per_page_is_bounded() -> None:
    assert offline_search.text_chars(10) == offline_search.TEXT_CHARS
    assert offline_search.text_chars(2000) == offline_search.INDEX_CHARS // 2000
    assert offline_search.text_chars(10**6) == offline_search.MIN_TEXT_CHARS
    long_page = ("<html><body><p>" + "ក" * 50_000 + "</p></body></html>").encode()
    entry = offline_search.page_entry(long_page, "text/html; charset=utf-8", "a.html", "https://x.example/", 500)
    assert len(entry.text) == 500


def _offline(context) -> list[str]:
    """Route CONTEXT so that anything but file:// is refused; the list of what was tried."""
    attempts: list[str] = []

    def handle(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            attempts.append(route.request.url)
            route.abort()

    context.route("**/*", handle)
    context.on("request", lambda r: None if r.url.startswith("file://") else attempts.append(r.url))
    return attempts


def test_khmer_word_inside_a_sentence_is_found_from_file_url(exported, browser) -> None:
    context = browser.new_context()
    attempts = _offline(context)
    problems: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        page.goto((exported.out / "search.html").as_uri())
        box = page.locator("#q")
        box.wait_for(state="visible")  # the script ran: CSP let it, and it showed the form
        box.fill(WORD)
        first = page.locator("#results li").first
        first.wait_for()
        assert page.locator("#results li").count() == 1
        assert first.locator("a").inner_text() == KM_TITLE
        assert first.locator(".snippet mark").all_inner_texts() == [WORD]
        around = first.locator(".snippet").inner_text()
        assert "ត្រូវបានបញ្ជាឱ្យបិទ" in around  # the sentence around it
        assert not re.match("(… )?[\u17b4-\u17d3]", around), around  # never cut inside a Khmer cluster
        assert page.locator("#all-pages").is_hidden() and page.locator("#count").is_visible()

        # A page's "<script>" is text in the snippet, never markup.
        box.fill("alert(1)")
        page.locator("#results li .snippet", has_text="alert(1)").wait_for()  # no string eval: the CSP forbids it
        snippet = page.locator("#results li .snippet")
        assert "<script>alert(1)</script>" in snippet.inner_text()
        assert snippet.locator("script").count() == 0 and page.title() != "ran"
        assert page.locator("#results li a mark").count() == 0

        # Words in any case, both required; nothing found says so.
        box.fill("INTERNET providers")
        expect(page.locator("#results li a")).to_have_text(["Regulator orders ISPs to block independent news sites"
                                                            " — Mekong Observer"])
        box.fill(WORD + " " + SECRET)
        page.locator("#none").wait_for(state="visible")
        assert page.locator("#results li").count() == 0

        # Following the result opens the page, from the USB stick, by its relative path.
        page.goto((exported.out / "search.html").as_uri() + "?q=" + WORD)
        link = page.locator("#results li a").first
        link.wait_for()
        link.click()
        page.wait_for_load_state()
        assert page.url == (exported.out / HOST / "km" / "article-1.html").as_uri()
        assert KM_TITLE in page.locator("h1").inner_text()
    finally:
        context.close()
    assert attempts == [], attempts
    assert problems == [], problems


def test_it_works_from_a_static_server_under_a_deep_prefix(exported, browser) -> None:
    """As from a bucket or /ipfs/<cid>/ on a gateway: relative paths, versioned script URLs."""
    with serve_directory(exported.out, "/a/b/mirror/") as server:
        context = browser.new_context()
        attempts: list[str] = []
        context.on("request", lambda r: None if r.url.startswith(server.url) else attempts.append(r.url))
        try:
            page = context.new_page()
            page.goto(server.url + "search.html?q=" + quote(WORD))
            link = page.locator("#results li a")
            expect(link).to_have_text([KM_TITLE])
            link.click()
            page.wait_for_load_state()
            assert page.url == server.url + f"{HOST}/km/article-1.html"
        finally:
            context.close()
    assert attempts == [], attempts
    assert any(r.startswith("/a/b/mirror/search-index.js?v=") for r in server.requests), server.requests


def test_with_javascript_off_every_title_is_listed(exported, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    attempts = _offline(context)
    page = context.new_page()
    try:
        page.goto((exported.out / "search.html").as_uri())
        assert page.locator("#search").is_hidden() and page.locator("#results li").count() == 0
        assert "Search needs JavaScript" in page.locator("body").inner_text()
        titles = page.locator("#all-pages li a").all_inner_texts()
        assert len(titles) == len(exported.export.pages)
        assert {KM_TITLE, "Mekong Observer", "Escaping <b> in pages", "Свобода прессы в Камбодже"} <= set(titles)
        assert SECRET not in page.content()
        page.locator("#all-pages a", has_text=KM_TITLE).click()
        page.wait_for_load_state()
        assert page.url == (exported.out / HOST / "km" / "article-1.html").as_uri()
    finally:
        context.close()
    assert attempts == [], attempts


def test_the_page_is_a_reader_page_with_a_strict_policy(exported) -> None:
    html = (exported.out / "search.html").read_text(encoding="utf-8")
    assert html.index('lang="km"') < html.index('lang="en" class="en"')
    assert 'name="viewport"' in html
    assert f'content="{offline_search.CSP}"' in html
    # Its two scripts are the copy's own files, named with their version.
    assert re.findall(r'<script src="([^"]+)"', html) == [
        f"search-index.js?v={_v(exported.out / 'search-index.js')}", f"search.js?v={_v(exported.out / 'search.js')}"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def _v(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
