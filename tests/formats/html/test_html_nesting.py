"""formats.html.nesting: markup nested to hold the tree builder for hours is read only so far,
by the crawler's link extraction, the database extractor and the WACZ page list, while every
ordinary page, however long, is read whole."""

from __future__ import annotations

import time

import pytest
from html_corpus import CORPUS

from refuge.formats.dbextract import parse_html
from refuge.formats.html.extract import html_links
from refuge.formats.html.nesting import NESTING_WORK, nesting_cut
from refuge.formats.html.text import title_and_text

FIRST = "<title>t</title><p>first words <a href='/first'>first</a></p>"
MAX_READ = 16 * 1024 * 1024  # what the crawler reads of a page (archiver.links.MAX_PARSE_BYTES)

HOSTILE = {
    "divs never closed": "<div>x" * (MAX_READ // 6),  # a depth of 2.8 million, unbounded: hours
    "lists in lists": "<ul><li>" * 1_000_000,
    "self-closing divs": "<div/>" * 1_000_000,  # HTML ignores the slash: each opens a <div>
    "divs in svg": "<svg>" + "<div/>" * 1_000_000,  # a <div> leaves SVG, and the rest is HTML
    "in foreignObject": "<svg><foreignObject>" + "<x/>" * 1_000_000,
    "formatting": "<b><i>x" * 1_000_000,
}


@pytest.mark.parametrize("markup", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_nesting_is_read_in_bounded_time_and_what_comes_first_is_kept(markup: str) -> None:
    page = FIRST + markup + "<a href='/after'>after</a>"
    began = time.monotonic()
    links, _ = html_links(page)
    title, text = title_and_text(page, 1000)
    tree = parse_html(page.encode(), "text/html; charset=utf-8")
    assert time.monotonic() - began < 10.0  # unbounded, the first case alone takes hours
    assert [link.url for link in links] == ["/first"]  # the cut is before the end
    assert title == "t" and text.startswith("first words")
    assert tree.css_first("a").attributes["href"] == "/first"


# Long pages a real site serves, each well past the point where scanning starts.
ORDINARY = {
    "a table of 100,000 rows, cells left open": "<table>" + "<tr><td><a href='/r'>r</a><td>x" * 100_000,
    "an SVG sprite of 200,000 paths": "<svg>" + "<path d='M0 0h1'/>" * 200_000 + "</svg>",
    "120,000 closed blocks": "<div><span><a href='/z'>z</a></span></div>" * 120_000,
    "3,000 <font> left open, then 20,000 links": "<font size=2>" * 3000 + "<a href='/f'>f</a>" * 20_000,
    "a list of 50,000 items, left open": "<ul>" + "<li><a href='/i'>i</a>" * 50_000,
}


@pytest.mark.parametrize("markup", ORDINARY.values(), ids=ORDINARY.keys())
def test_long_ordinary_pages_are_read_whole(markup: str) -> None:
    page = FIRST + markup + "<a href='/last'>last</a>"
    assert page.count("<") ** 2 // 2 > NESTING_WORK  # too many tags to skip the scan
    assert nesting_cut(page) == page
    assert html_links(page)[0][-1].url == "/last"


def test_real_pages_run_together_are_read_whole() -> None:
    """The fixture site's pages and the rewriter's corpus, one after another until there are
    tags enough to be scanned: real markup's open elements do not pile up."""
    pages = "".join(CORPUS.values())
    together = pages * (1 + int((2 * NESTING_WORK) ** 0.5) // pages.count("<"))
    assert together.count("<") ** 2 // 2 > NESTING_WORK
    assert nesting_cut(together) == together


def test_the_work_bound_counts_the_depth_each_tag_opens_at() -> None:
    assert nesting_cut("<div>" * 100, work=990).count("<div>") == 44  # 1 + 2 + ... + 44 = 990
    assert nesting_cut("<p>" * 100 + "<br>" * 100, work=10) == "<p>" * 100 + "<br>" * 100
