"""A takedown on the replay server: the hidden URL answers 451 with the reason in Khmer and
English, whatever way it is asked for; its neighbours still answer; the lists leave it
out; unhiding brings it back."""

from __future__ import annotations

import pytest

from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR
from replay_fixtures import INDEX, SITE, T1, get
from replay_fixtures import replay_fixture  # noqa: F401 - provides the `replay` fixture

REASON = "Protects a source named in this article. ការពារប្រភពព័ត៌មាន។"
WITHHELD_KM = "ទំព័រនេះត្រូវបានដកចេញពីការបង្ហាញ"
WITHHELD_EN = "This page has been withheld"


@pytest.fixture
def takedowns(replay):
    """Hide through this; what a test hid is unhidden after it, so tests stay apart."""
    made: list[int] = []

    def hide(url: str, reason: str = REASON, **kw) -> dict:
        row = hidden.hide(replay.engine, url, reason, CLI_ACTOR, **kw)
        made.append(row["id"])
        return row

    yield hide
    for hidden_id in made:
        if any(r["id"] == hidden_id for r in hidden.list_hidden(replay.engine)):
            hidden.unhide(replay.engine, hidden_id, CLI_ACTOR)


def assert_withheld(response, reason: str = REASON) -> None:
    assert response.status_code == 451, (response.status_code, response.url)
    assert response.reason == "UNAVAILABLE FOR LEGAL REASONS"
    body = response.text
    assert WITHHELD_KM in body and WITHHELD_EN in body
    assert body.index(WITHHELD_KM) < body.index(WITHHELD_EN)  # Khmer first
    assert "មូលហេតុ" in body and "Reason" in body and reason.replace("&", "&amp;") in body
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["X-Frame-Options"] == "DENY"  # a reader page, not the archived one
    assert "Set-Cookie" not in response.headers and "X-Archive-Orig-Set-Cookie" not in response.headers


def test_an_exact_url_answers_451_in_every_form_and_comes_back_when_unhidden(replay, takedowns) -> None:
    url = SITE + "moved/final.html"
    assert get(replay, f"/web/{T1}/{url}").status_code == 200
    row = takedowns(url)
    for path in (f"/web/{T1}/{url}", f"/web/{T1}id_/{url}", f"/web/{T1}mp_/{url}", f"/web/{T1}if_/{url}",
                 f"/web/2026/{url}", f"/web/{url}", f"/web/*/{url}", f"/web/{T1}/news.example/moved/final.html",
                 f"/web/{T1}/http://www.news.example/moved/final.html"):
        assert_withheld(get(replay, path))
    # A captured redirect into it still redirects; where it leads answers 451.
    moved = get(replay, f"/web/{T1}/{SITE}old")
    assert moved.status_code == 301  # as captured
    assert_withheld(get(replay, moved.headers["Location"]))
    # Its neighbours are untouched.
    assert get(replay, f"/web/{T1}/{SITE}gzip.html").status_code == 200
    assert get(replay, f"/web/{T1}id_/{SITE}").content == INDEX
    hidden.unhide(replay.engine, row["id"], CLI_ACTOR)
    back = get(replay, f"/web/{T1}/{url}")
    assert back.status_code == 200 and b"final" in back.content
    assert get(replay, f"/web/*/{url}").status_code == 200


def test_every_url_under_a_prefix_answers_451_and_a_sibling_200(replay, takedowns) -> None:
    takedowns(SITE + "legacy/*", "Court order 4/2026 & a lawful request")
    for page in ("legacy/cp1251.html", "legacy/sjis.html", "legacy/not-captured.html"):
        assert_withheld(get(replay, f"/web/{T1}/{SITE}{page}"), "Court order 4/2026 & a lawful request")
    assert_withheld(get(replay, f"/web/{T1}id_/{SITE}legacy/sjis.html"), "Court order 4/2026 & a lawful request")
    for sibling in ("gzip.html", "km/article-2.html", "legacy.html"):
        assert get(replay, f"/web/{T1}/{SITE}{sibling}").status_code in (200, 404), sibling
    assert get(replay, f"/web/{T1}/{SITE}km/article-2.html").status_code == 200


def test_the_not_found_page_leaves_hidden_urls_out_of_its_nearby_list(replay, takedowns) -> None:
    missing = f"/web/2026/{SITE}not-here.html"
    before = get(replay, missing).text
    assert f'href="/web/{SITE}legacy/cp1251.html"' in before
    takedowns(SITE + "legacy/*")
    after = get(replay, missing)
    assert after.status_code == 404
    assert "legacy/" not in after.text
    assert f'href="/web/{SITE}km/article-2.html"' in after.text


def test_the_front_page_has_no_link_to_a_hidden_seed(replay, takedowns) -> None:
    assert f"/{SITE}\"" in get(replay, "/").text
    takedowns(SITE)
    body = get(replay, "/").text
    assert f"/{SITE}\"" not in body  # neither its newest copy nor its capture list
    assert "Withheld" in body and "បានដកចេញពីការបង្ហាញ" in body
    assert "/web/*/https://other.example/" in body  # the other target is listed as before
    assert get(replay, f"/web/{T1}/{SITE}gzip.html").status_code == 200  # exact: the rest of the site stays
