"""/search on the replay server, through real HTTP over real WARC files indexed by the real
full-text search (storage.catalog.search.index_capture): a Khmer word inside a sentence
finds its page, the snippet is marked and escaped, filters and paging keep each other, a
hidden page never shows, hostile parameters get a 400 with a message (never a 500), and
the page works in Chromium with JavaScript off, from the front page's search box to the
replayed result."""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests
from replay_fixtures import FIXTURE, SITE, T1
from replay_helpers import ArchiveWriter

from refuge.config.settings import Settings
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.metrics import route_kind
from refuge.mirror.replay.pages import READER_HEADERS
from refuge.mirror.replay.policy import archive_url
from refuge.mirror.replay.search_page import MAX_PAGE, PAGE_SIZE
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog
from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR
from refuge.storage.catalog.search import index_capture

HTML = [("Content-Type", "text/html; charset=utf-8")]
OTHER = "https://other.example/"
T_OLD = "20250110080000"  # the other site's capture, long before T1 (2026-11-27)
WORD = "អ៊ីនធឺណិត"  # "internet", inside a sentence of km/article-1.html
KM_TITLE = "សេរីភាពសារព័ត៌មាននៅកម្ពុជា"
KM_URL = SITE + "km/article-1.html"
SECRET = "Zanzibarwitness"
BULLETINS = PAGE_SIZE + 5
CODE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Escaping &lt;b&gt; in pages</title></head><body>"
        "<p>Write &lt;script&gt;alert(1)&lt;/script&gt; to show the tag; the word payload follows.</p>"
        "</body></html>").encode()


def page(title: str, text: str) -> bytes:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body><p>{text}</p></body></html>".encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("search-page") / "data"
    data.mkdir()
    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    captures = []
    with ArchiveWriter(settings, engine, "site", SITE) as w:
        w.response(SITE, page("Mekong Observer", "Front page of the Mekong Observer"), ts=T1, headers=HTML)
        w.response(KM_URL, (FIXTURE / "km/article-1.html").read_bytes(), ts=T1, headers=HTML)
        w.response(SITE + "km/article-2.html", (FIXTURE / "km/article-2.html").read_bytes(), ts=T1, headers=HTML)
        w.response(SITE + "en/code.html", CODE, ts=T1, headers=HTML)
        w.response(SITE + "en/secret.html", page("Source", f"{SECRET} named here"), ts=T1, headers=HTML)
        for i in range(BULLETINS):
            w.response(SITE + f"bulletin/{i:02d}.html", page(f"Bulletin {i:02d}", f"Daily bulletin number {i}"),
                       ts=T1, headers=HTML)
    captures.append(w.capture_id)
    with ArchiveWriter(settings, engine, "other", OTHER) as w:
        w.response(OTHER, page("Other news", "The Mekong river report, from the other site"), ts=T_OLD, headers=HTML)
    captures.append(w.capture_id)
    indexed = sum(index_capture(engine, settings, capture) for capture in captures)
    hidden.hide(engine, SITE + "en/secret.html", "Protects a source", CLI_ACTOR)
    with running_server(make_app(settings, engine)) as base:
        yield SimpleNamespace(base=base, engine=engine, indexed=indexed)
    engine.dispose()


def get(server, path: str, **kw) -> requests.Response:
    kw.setdefault("allow_redirects", False)
    kw.setdefault("timeout", 30)
    return requests.get(server.base + path, **kw)


def search(server, **params) -> requests.Response:
    return get(server, "/search", params=params)


def result_links(body: str) -> list[str]:
    return re.findall(r'<li><a href="([^"]+)"', body)


def test_a_khmer_word_inside_a_sentence_finds_its_page(server) -> None:
    assert server.indexed >= BULLETINS + 5
    r = search(server, q=WORD)
    assert r.status_code == 200
    body = r.text
    href = archive_url(T1, "", KM_URL)
    assert result_links(body) == [href]
    assert f'lang="km">{KM_TITLE}</a>' in body
    assert f"<mark>{WORD}</mark>" in body  # the match marked inside the snippet's sentence
    snippet = re.search(r'<p class="snippet"[^>]*>(.*?)</p>', body).group(1)
    assert "ត្រូវបានបញ្ជាឱ្យបិទ" in re.sub(r"</?mark>", "", snippet)
    assert "site" in body and "2026-11-27 23:41 UTC" in body and "news.example/km/article-1.html" in body
    # Khmer first, then English; a reader page with the reader headers, and no script.
    assert body.index("ស្វែងរកក្នុងបណ្ណសារ") < body.index("Search the archive")
    assert 'name="viewport"' in body and "<script" not in body.lower()
    for name, value in READER_HEADERS.items():
        assert r.headers[name] == value
    # The title leads into replay.
    replayed = get(server, href)
    assert replayed.status_code == 200 and KM_TITLE in replayed.text


def test_english_words_and_the_snippet_escaped(server) -> None:
    r = search(server, q="alert")
    assert r.status_code == 200
    body = r.text
    assert result_links(body) == [archive_url(T1, "", SITE + "en/code.html")]
    assert "&lt;script&gt;" in body and "<script" not in body.lower()
    assert "Escaping &lt;b&gt; in pages</a>" in body
    assert re.search(r"<mark>alert</mark>", body, re.I)


def test_filters_by_target_and_date(server) -> None:
    both = search(server, q="Mekong")
    assert set(result_links(both.text)) == {archive_url(T1, "", SITE), archive_url(T_OLD, "", OTHER)}
    assert '<option value="other">other</option>' in both.text
    only_other = search(server, q="Mekong", target="other")
    assert result_links(only_other.text) == [archive_url(T_OLD, "", OTHER)]
    assert '<option value="other" selected>' in only_other.text
    recent = search(server, q="Mekong", **{"from": "2026-01-01"})
    assert result_links(recent.text) == [archive_url(T1, "", SITE)]
    assert 'value="2026-01-01"' in recent.text
    old = search(server, q="Mekong", **{"from": "2025-01-10", "to": "2025-01-10"})  # both ends included
    assert result_links(old.text) == [archive_url(T_OLD, "", OTHER)]
    none = search(server, q="Mekong", target="other", **{"from": "2026-01-01"})
    assert none.status_code == 200 and result_links(none.text) == [] and "No page found" in none.text


def test_pages_of_results_keep_the_filters(server) -> None:
    first = search(server, q="bulletin", target="site")
    assert first.status_code == 200
    assert len(result_links(first.text)) == PAGE_SIZE
    assert f"Results 1–{PAGE_SIZE} of {BULLETINS}" in first.text and 'rel="prev"' not in first.text
    nxt = re.search(r'<a rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    assert nxt == "/search?q=bulletin&target=site&page=2"
    second = get(server, nxt)
    seen = set(result_links(first.text)) | set(result_links(second.text))
    assert len(result_links(second.text)) == BULLETINS - PAGE_SIZE and len(seen) == BULLETINS
    assert 'rel="next"' not in second.text
    prev = re.search(r'<a rel="prev" href="([^"]+)"', second.text).group(1).replace("&amp;", "&")
    assert prev == "/search?q=bulletin&target=site"
    # Past the last page (however far): told so, with the way back.
    far = search(server, q="bulletin", page=str(10**30))
    assert far.status_code == 200 and f"No results on page {MAX_PAGE}" in far.text
    assert 'href="/search?q=bulletin&amp;page=2"' in far.text


def test_a_hidden_page_is_never_in_results(server) -> None:
    r = search(server, q=SECRET)
    assert r.status_code == 200 and result_links(r.text) == [] and "secret.html" not in r.text


def test_no_query_shows_just_the_form(server) -> None:
    for path in ("/search", "/search?", "/search?q=", "/search?q=+++&target=site"):
        r = get(server, path)
        assert r.status_code == 200, path
        assert '<form class="search" method="get" action="/search"' in r.text
        assert "<ol" not in r.text and "No page found" not in r.text


@pytest.mark.parametrize("query, says", [
    ("q=x&from=2026-13-01", "'from' date '2026-13-01' is not a date"),
    ("q=x&to=yesterday", "'to' date 'yesterday' is not a date"),
    ("q=x&from=2026-02-30", "is not a date"),
    ("q=x&from=2026-05-01&to=2026-01-01", "is after the 'to' date"),
    ("q=x&page=two", "The page 'two' is not a number"),
    ("q=x&q=y", "Parameter 'q' is given more than once"),
    ("q=x&target=nope", "No target named 'nope'"),
    ("q=%FF%FE", "not UTF-8"),
    ("q=x&" + "&".join(f"p{i}=1" for i in range(40)), "Too many parameters"),
])
def test_hostile_parameters_get_a_400_that_says_why(server, query: str, says: str) -> None:
    r = get(server, "/search?" + query)
    assert r.status_code == 400, (query, r.status_code)
    assert says in r.text.replace("&#x27;", "'"), r.text
    assert '<form class="search"' in r.text and r.headers["Content-Security-Policy"] == READER_HEADERS[
        "Content-Security-Policy"]


def test_a_query_the_search_refuses_is_a_400_with_its_message(server) -> None:
    huge = "ក" * 5000
    r = get(server, "/search?q=" + quote(huge))
    assert r.status_code == 400
    message = re.search(r'<p class="problem" role="alert"><strong>(.*?)</strong></p>', r.text, re.S).group(1)
    assert "\n" not in message and len(message) < 1000  # the search's one-line message
    assert huge not in r.text  # not echoed whole
    many = search(server, q=" ".join(f"w{i}" for i in range(200)))
    assert many.status_code == 400 and 'class="problem"' in many.text


@pytest.mark.parametrize("page_value", ["0", "-5", "+2", str(10**30), "00000000000000000000001"])
def test_page_numbers_are_clamped(server, page_value: str) -> None:
    assert search(server, q="bulletin", page=page_value).status_code == 200


def test_hostile_query_text_is_echoed_escaped(server) -> None:
    r = search(server, q='"><script>alert(1)</script>')
    assert r.status_code == 200 and "<script" not in r.text.lower()
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in r.text


def test_front_and_not_found_pages_have_the_search_box(server) -> None:
    for path, status in (("/", 200), ("/web/20261127234147/https://news.example/never.html", 404)):
        r = get(server, path)
        assert r.status_code == status
        assert '<form class="search" method="get" action="/search" role="search">' in r.text


def test_search_from_a_replayed_page_is_that_sites_own_search(server) -> None:
    """A replayed page's script asking for /search means its site's /search, in the archive."""
    r = get(server, "/search?q=x", headers={"Referer": f"{server.base}/web/{T1}/{SITE}", "Sec-Fetch-Dest": "document"})
    assert r.status_code == 302 and r.headers["Location"] == f"/web/{T1}/{SITE}search?q=x"


def test_search_requests_have_their_own_metrics_label() -> None:
    assert route_kind("/search") == "search" and route_kind("/searching") == "other"


def test_it_works_in_a_browser_with_javascript_off(server, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        tab = context.new_page()
        tab.goto(server.base + "/")
        tab.locator('form.search input[name="q"]').fill(WORD)
        tab.locator("form.search button").click()
        tab.wait_for_load_state()
        assert tab.url.startswith(server.base + "/search?q=")
        results = tab.locator("ol.results li")
        assert results.count() == 1 and tab.locator("mark").first.inner_text() == WORD
        # The full form there: a target and dates, sent as a plain GET.
        tab.locator("select#target").select_option("site")
        tab.locator("input#from").fill("2026-11-01")
        tab.locator("form.search button").click()
        tab.wait_for_load_state()
        assert "target=site" in tab.url and "from=2026-11-01" in tab.url
        results.first.locator("a").click()
        tab.wait_for_load_state()
        assert tab.url == server.base + archive_url(T1, "", KM_URL)
    finally:
        context.close()
