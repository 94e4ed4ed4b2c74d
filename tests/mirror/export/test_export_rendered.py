"""The static export of a browser-mode capture: a page with a rendered DOM is written from it,
with no script that runs and its links made relative like any page's, and its screenshot
beside it, linked from its banner. The capture is written with warcio in browser mode's
layout (browser_warc); the same site captured by a real browser and opened in Chromium with
JavaScript off is tests/mirror/test_js_site_readers.py."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest

import js_site
from browser_warc import ARTICLE_SHOT, LAZY_LEFT, NOSCRIPT_NOTICE, ORIGIN, PAGE_SHOT, js_site_capture
from refuge.config.settings import Settings
from refuge.mirror.export.exporter import export_capture
from refuge.storage import catalog
from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR

HOST = "kampuchea.example"
EXECUTABLE = re.compile(r"<script(?![^>]*application/ld\+json)[^>]*>", re.I)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-export")
    settings = Settings(data=root / "data", allow_private_networks=True)
    settings.data.mkdir()
    engine = catalog.connect(settings.catalog_url)
    capture = js_site_capture(settings, engine)
    export = export_capture(settings, engine, "js", root / "out")
    yield SimpleNamespace(settings=settings, engine=engine, capture=capture, export=export, out=export.root,
                          root=root)


def text(exported, path: str) -> str:
    return (exported.out / path).read_text(encoding="utf-8")


def test_the_home_page_is_written_from_its_rendered_dom(exported) -> None:
    home = text(exported, f"{HOST}/index.html")
    for article in js_site.ARTICLES:  # both batches: the first load and the one Load more brought
        assert html.escape(article.title) in home, article.title
        assert f'href="articles/{article.slug}.html"' in home
    assert 'data-loaded-page="2"' in home and 'hidden=""' in home  # the button, as the page left it
    assert 'href="static/site.css"' in home


def test_lazy_images_the_page_swapped_in_show_and_the_one_it_did_not_is_left_alone(exported) -> None:
    home = text(exported, f"{HOST}/index.html")
    imgs = re.findall(r"<img [^>]*>", home)
    for article in js_site.ARTICLES:
        tag = next(t for t in imgs if f'alt="{html.escape(article.title)}"' in t)
        if article.slug == LAZY_LEFT:
            # Its image never scrolled into view, so it was never captured: no src is guessed
            # from data-src, and the data-src of nothing captured goes.
            assert " src=" not in tag and "data-src" not in tag, tag
        else:
            assert f'src="img/{article.slug}.png"' in tag, tag
    # The images are the captured bytes.
    with js_site.serve_js_site() as site:
        for article in js_site.ARTICLES:
            if article.slug != LAZY_LEFT:
                assert (exported.out / HOST / "img" / f"{article.slug}.png").read_bytes() == \
                    site.file_bytes(article.image)


def test_no_script_that_runs_is_left_in_a_rendered_page(exported) -> None:
    home = text(exported, f"{HOST}/index.html")
    assert EXECUTABLE.search(home) is None, EXECUTABLE.search(home).group(0)
    assert "window.rendered" not in home and "app.js" not in home
    assert '<script type="application/ld+json">{"@type": "NewsArticle"}</script>' in home  # data, not code
    # A page with no DOM (captured by a plain fetch) keeps its own scripts, as any export does.
    assert (exported.out / HOST / "static" / "app.js").is_file()


def test_what_the_rendered_page_never_showed_its_browser_is_left_out(exported) -> None:
    """The DOM was rendered with JavaScript on: its <noscript> content was never shown. Kept, a
    reader would see "enable JavaScript" beside the story and each lazy image twice."""
    home = text(exported, f"{HOST}/index.html")
    assert "<noscript" not in home.lower() and NOSCRIPT_NOTICE not in home
    assert "noscript-fallback" not in home
    for article in js_site.ARTICLES:
        assert home.count(f'alt="{html.escape(article.title)}"') == 1, article.title  # the card's own image


def test_an_article_body_from_its_template_is_in_the_page(exported) -> None:
    for article in js_site.ARTICLES:
        page = text(exported, f"{HOST}/articles/{article.slug}.html")
        story = page[page.index('<main id="story" data-rendered="yes">'):page.index("</main>")]
        assert html.escape(article.body) in story or article.body in story, article.slug
        assert "article.js" not in page


def test_the_screenshot_is_a_file_beside_the_page_and_linked_from_its_banner(exported) -> None:
    assert (exported.out / HOST / "index.screenshot.png").read_bytes() == PAGE_SHOT
    home = text(exported, f"{HOST}/index.html")
    banner = home[home.index('id="refuge-banner"'):]
    banner = banner[:banner.index("</div>")]
    assert 'href="index.screenshot.png"' in banner
    assert banner.index("&#6042;&#6076;&#6036;&#6032;&#6031;") < banner.index("Screenshot of the page")  # Khmer first
    article = text(exported, f"{HOST}/articles/garment-pay.html")
    assert 'href="garment-pay.screenshot.png"' in article
    assert (exported.out / HOST / "articles" / "garment-pay.screenshot.png").read_bytes() == ARTICLE_SHOT
    # A page captured without a browser has none; no DOM record is ever a file of its own.
    assert "screenshot" not in text(exported, f"{HOST}/about.html")
    roles = {f.path: (f.role, f.content_type) for f in exported.export.files}
    assert roles[f"{HOST}/index.screenshot.png"] == ("asset", "image/png")
    assert not [p for p in roles if "urn" in p or p.startswith("_/")], sorted(roles)


def test_contents_lists_the_rendered_pages_by_their_titles(exported) -> None:
    contents = text(exported, "contents.html")
    assert "កម្ពុជាថ្ងៃនេះ — Kampuchea Today" in contents
    assert "screenshot" not in contents


def test_a_page_taken_down_takes_its_dom_and_screenshot_with_it(exported, tmp_path) -> None:
    row = hidden.hide(exported.engine, f"{ORIGIN}/articles/garment-pay.html", "A source asked. ប្រភពបានស្នើ។",
                      CLI_ACTOR)
    try:
        export = export_capture(exported.settings, exported.engine, "js", tmp_path / "out")
    finally:
        hidden.unhide(exported.engine, row["id"], CLI_ACTOR)
    paths = {f.path for f in export.files}
    assert f"{HOST}/articles/garment-pay.html" not in paths
    assert not [p for p in paths if "garment-pay.screenshot" in p]
    home = (export.root / HOST / "index.html").read_text(encoding="utf-8")
    assert f'href="../withheld/{row["id"]}.html"' in home  # its link leads to the notice
