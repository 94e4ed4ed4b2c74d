"""A site that needs JavaScript, captured in browser mode by the real crawler and headless
Chromium, then read as readers read it, in Chromium too:

- replayed with JavaScript on, the page's own scripts run against the archive: the article
  list fetched from the JSON API (with a new cache-buster each time), the second batch when
  Load more is pressed on the replayed page, lazy images as they scroll into view, an
  article's body cloned from its <template>; every request that is not to the replay server
  is aborted, and none is tried;
- exported and opened with JavaScript off from a static server, the same page has it all
  without a script: both batches, every image, the template's body, and its screenshot
  linked from the banner; no request leaves the export.

The site (tests/support/js_site.py) is stopped before anything is replayed or exported."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import quote

import pytest

import js_site
from guarded_browser import guarded_context
from link_checker import serve_directory
from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.mirror.export.exporter import export_capture
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog
from refuge.storage.catalog import index

pytestmark = pytest.mark.browser

ARTICLE = next(a for a in js_site.ARTICLES if a.batch == 2)  # reached only through Load more


@pytest.fixture(scope="module")
def captured(tmp_path_factory, browser):  # browser: Chromium is there (or the test fails under CI)
    root = tmp_path_factory.mktemp("js-readers")
    settings = Settings(data=root / "data", allow_private_networks=True, backoff=0.05, timeout=5.0)
    settings.data.mkdir()
    engine = catalog.connect(settings.catalog_url)
    with js_site.serve_js_site() as site:
        catalog.save_target(engine, make_target(site.url, name="js", scope="host", browser=True, scroll=True,
                                                click=["button#load-more"], max_clicks=3))
        summary = run_capture(settings, engine, "js")
    assert summary["status"] == "complete" and not summary["failures"], summary
    home = index.closest(engine, site.url)
    assert home is not None and index.closest(engine, "urn:dom:" + site.url) is not None
    return SimpleNamespace(settings=settings, engine=engine, site=site, home=home, root=root)


def _card_titles(page) -> list[str]:
    return page.locator("#articles li.card a.title").all_inner_texts()


def test_replayed_with_javascript_on_the_pages_scripts_are_answered_from_the_archive(captured, browser) -> None:
    with running_server(make_app(captured.settings, captured.engine)) as base:
        with guarded_context(browser, (base + "/", "data:", "blob:")) as (context, outside):
            page = context.new_page()
            page.goto(f"{base}/web/{captured.home.timestamp}/{captured.home.url}", wait_until="load")
            page.wait_for_function("document.querySelectorAll('#articles li.card').length === 3", timeout=15_000)
            assert _card_titles(page) == list(js_site.BATCH_1)
            # The banner's links stay the server's own; the screenshot's among them.
            links = page.eval_on_selector_all("#refuge-banner a", "as => as.map(a => a.getAttribute('href'))")
            assert links == [f"/web/*/{captured.home.url}", "/",
                             f"/web/{captured.home.timestamp}id_/urn:screenshot:{captured.home.url}"], links
            # Below the fold, the images wait for the reader: none is asked for yet.
            assert page.evaluate("[...document.querySelectorAll('#articles img')].every(i => !i.src)")
            page.click("button#load-more")
            page.wait_for_function("document.querySelectorAll('#articles li.card').length === 5", timeout=15_000)
            assert _card_titles(page) == list(js_site.BATCH_1 + js_site.BATCH_2)
            # Scrolled a little at a time, as a reader does, each image loads as it comes into view.
            page.evaluate("""async () => {
                for (let y = 0; y < document.body.scrollHeight; y += 200) {
                    window.scrollTo(0, y);
                    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                }
            }""")
            page.wait_for_function("[...document.querySelectorAll('#articles img')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)", timeout=15_000)
            sources = page.evaluate("[...document.querySelectorAll('#articles img')].map(i => i.src)")
            assert all(s.startswith(f"{base}/web/") for s in sources), sources
            # A title the script made leads to the article, in the archive; its body comes from its template.
            page.click(f"#articles a.title:text-is('{ARTICLE.title}')")
            page.wait_for_selector('main#story[data-rendered="yes"]', timeout=15_000)
            assert ARTICLE.body in page.inner_text("main#story")
            assert page.url.startswith(f"{base}/web/") and page.url.endswith(ARTICLE.path)
    assert outside == [], outside


def test_exported_and_opened_with_javascript_off_the_rendered_page_has_it_all(captured, browser) -> None:
    export = export_capture(captured.settings, captured.engine, "js", captured.root / "out")
    host = captured.site.origin.split("://", 1)[1].replace(":", "_")  # its folder in the export
    with serve_directory(export.root) as server:
        with guarded_context(browser, (server.url, "data:", "blob:"), java_script_enabled=False) as (context, outside):
            page = context.new_page()
            page.goto(server.url + quote(f"{host}/index.html"), wait_until="load")
            assert _card_titles(page) == list(js_site.BATCH_1 + js_site.BATCH_2)
            sizes = page.evaluate("[...document.querySelectorAll('#articles img')]"
                                  ".map(i => [i.getAttribute('src'), i.complete ? i.naturalWidth : 0])")
            assert len(sizes) == len(js_site.ARTICLES) and all(w > 0 for _src, w in sizes), sizes
            assert page.evaluate("document.querySelectorAll('script:not([type=\"application/ld+json\"])').length") == 0
            # The banner links the page's screenshot, Khmer first; it opens, a PNG from the export.
            link = page.locator("#refuge-banner a", has_text="Screenshot of the page")
            assert "រូបថតអេក្រង់" in link.inner_text()
            with page.expect_navigation() as shot:
                link.click()
            response = shot.value
            assert response.status == 200 and response.headers["content-type"] == "image/png"
            assert response.body().startswith(b"\x89PNG\r\n\x1a\n")
            # An article: its body, cloned from the <template> when it was captured, is in the page.
            page.goto(server.url + quote(f"{host}{ARTICLE.path}"), wait_until="load")
            assert ARTICLE.body in page.inner_text("main#story")
    assert outside == [], outside
