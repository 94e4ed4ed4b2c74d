"""formats.html.text.page_text: a page's text for the search index, its language, and markup
made to hurt a tree builder parsed in bounded time."""

from __future__ import annotations

import time

import pytest

from refuge.formats.html.text import MAX_TAGS, page_lang, page_text

KHMER = "ការរំលោភយកដីធ្លីនៅខេត្តកោះកុង"


def test_the_text_a_reader_sees_without_the_sites_furniture() -> None:
    page = page_text(f'<html lang="km"><title> ដីធ្លី </title><body><header><nav>menu</nav></header>'
                     f'<div role="navigation">more menu</div><main><h1>{KHMER}</h1><p>text\u200bhere</p>'
                     f'<script>var s</script></main><aside>related</aside><footer>©</footer></body></html>', 1000)
    assert page == ("ដីធ្លី", f"{KHMER} text\u200bhere", "km")  # Khmer as written, zero-width space and all
    assert page_text("<p>" + "ក" * 50, 20).text == "ក" * 20


@pytest.mark.parametrize(("declared", "text", "lang"), [
    ("km", "English words only", "km"),
    ("km-KH", "", "km"),
    ("en-US", f"{KHMER} and a few English words", "km"),  # themes declare en-US over Khmer text
    ("en", f"Mostly English words here, and one Khmer one: {KHMER[:6]}", "en"),
    ("", "No language declared, Latin letters", "en"),
    ("", KHMER, "km"),
    ("fr", "Un texte en français", ""),
    ("", "1234 ... !!!", ""),
])
def test_language(declared: str, text: str, lang: str) -> None:
    assert page_lang(declared, text) == lang


@pytest.mark.parametrize("markup", [
    "<div>x" * 400_000,  # every <div> reopens inside the last: a depth of 400,000
    "<ul><li>" * 250_000,
    "<div " + " ".join(f"a{i}" for i in range(200_000)) + ">x</div>",  # one tag, 200,000 attributes
    "<div " + "/".join(f"a{i}" for i in range(200_000)) + ">x</div>",  # "/" parts attributes as a space does
    "<div a' " + " ".join(f"a{i}" for i in range(200_000)) + " b'>x</div>",  # a quote in a name quotes nothing
    "<table>" + "x<b>" * 500_000,
])
def test_hostile_markup_is_parsed_in_bounded_time(markup: str) -> None:
    began = time.monotonic()
    page = page_text("<title>t</title><p>first words</p>" + markup, 20_000)
    assert time.monotonic() - began < 2.0
    assert page.title == "t" and page.text.startswith("first words")


def test_ordinary_pages_are_not_cut() -> None:
    items = "".join(f"<li>item {i}</li>" for i in range(MAX_TAGS // 2 - 10))  # two tags an item
    page = page_text(f"<ul>{items}</ul><p>last words</p>", 1_000_000)
    assert page.text.endswith("last words")
    data_url = "<img src='data:image/png;base64," + "A" * 500_000 + "'><p>after the image</p>"
    assert page_text(data_url, 1000).text == "after the image"
