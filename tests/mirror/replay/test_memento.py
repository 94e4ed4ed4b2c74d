"""Memento (RFC 7089) as a client that is not Refuge sees it: Link headers and link-format
TimeMaps read with requests' own parser (requests.utils.parse_header_links), URIs resolved
against the URL asked (RFC 8288), and followed: TimeGate -> memento -> its first, last,
prev and next -> TimeMap pages, which must list exactly the captures."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urljoin

import pytest
import requests
from cdx_archive import (
    FRONT,
    FRONT_TIMES,
    REVISIT_TS,
    TIMEMAP_PAGE,
    cdx_replay_fixture,  # noqa: F401 - provides the `cdx_replay` fixture
)
from requests.utils import parse_header_links

from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR

LINK_FORMAT = "application/link-format"


def http_date(ts: str) -> str:
    return datetime.strptime(ts, "%Y%m%d%H%M%S").strftime("%a, %d %b %Y %H:%M:%S GMT")


DATES = [http_date(t) for t in FRONT_TIMES]


def go(replay, uri: str, **headers: str) -> requests.Response:
    return requests.get(urljoin(replay.base + "/", uri), headers=headers, allow_redirects=False, timeout=30)


def links(value: str, mementos_too: bool = True, here: str | None = None) -> dict[str, dict]:
    """Link header (or link-format document) by relation, as RFC 8288 reads a rel: one or
    more words, so that rel="first last memento" is both the "first memento" and the "last
    memento". Each relation must appear once (but plain "memento", of which a TimeMap has
    many, unless MEMENTOS_TOO). HERE: the URI of the memento whose header this is, found
    under "memento" whichever other words it has."""
    by_rel: dict[str, dict] = {}
    for link in parse_header_links(value.replace("\n", " ")):
        words = link["rel"].split()
        named = [f"{w} memento" for w in words if w != "memento"] if "memento" in words else words
        if "memento" in words and (not named or link["url"] == here):
            named.append("memento")
        for rel in named:
            if rel != "memento" or mementos_too:
                assert rel not in by_rel, value
                by_rel[rel] = link
    return by_rel


def mementos(document: str) -> list[dict]:
    return [link for link in parse_header_links(document.replace("\n", " ")) if "memento" in link["rel"].split()]


@pytest.mark.parametrize(("asked", "expected"), [
    ("Sat, 01 Jun 2024 00:00:00 GMT", "20240601120000"),
    ("Sun, 01 Dec 2024 13:00:00 +0100", "20241201120000"),  # an offset is read, and converted to UTC
    ("Mon, 01 Jan 1990 00:00:00 GMT", FRONT_TIMES[0]),
    ("Fri, 01 Jan 2100 00:00:00 GMT", FRONT_TIMES[-1]),
    (None, FRONT_TIMES[-1]),  # no Accept-Datetime: the newest, as before Memento
])
def test_the_timegate_redirects_to_the_closest_memento(cdx_replay, asked: str | None, expected: str) -> None:
    r = go(cdx_replay, "/web/" + FRONT, **({"Accept-Datetime": asked} if asked else {}))
    assert r.status_code == 302
    assert urljoin(r.url, r.headers["Location"]) == f"{cdx_replay.base}/web/{expected}/{FRONT}"
    assert "accept-datetime" in r.headers["Vary"].lower()
    rels = links(r.headers["Link"])
    assert rels["original"]["url"] == FRONT
    assert rels["timemap"]["url"] == "/timemap/link/" + FRONT and rels["timemap"]["type"] == LINK_FORMAT
    assert (rels["first memento"]["datetime"], rels["last memento"]["datetime"]) == (DATES[0], DATES[-1])
    assert go(cdx_replay, rels["first memento"]["url"]).headers["Memento-Datetime"] == DATES[0]


@pytest.mark.parametrize("value", ["yesterday", "2024-06-01", "", "Sat, 41 Jun 2024 00:00:00 GMT",
                                   "Fri, 31 Dec 9999 23:00:00 -0500"])  # past the year 9999 in UTC
def test_a_malformed_accept_datetime_is_400(cdx_replay, value: str) -> None:
    r = go(cdx_replay, "/web/" + FRONT, **{"Accept-Datetime": value})
    assert r.status_code == 400 and r.text.startswith("Accept-Datetime: ")


def test_every_memento_links_its_neighbours_and_the_chain_holds(cdx_replay) -> None:
    gate = go(cdx_replay, "/web/" + FRONT, **{"Accept-Datetime": "Sat, 01 Jun 2024 00:00:00 GMT"})
    r = go(cdx_replay, gate.headers["Location"])
    assert r.status_code == 200 and r.headers["Memento-Datetime"] == DATES[2]
    rels = links(r.headers["Link"])
    assert rels["memento"]["datetime"] == DATES[2] and urljoin(r.url, rels["memento"]["url"]) == r.url
    assert (rels["prev memento"]["datetime"], rels["next memento"]["datetime"]) == (DATES[1], DATES[3])

    # From the first, next after next to the last: every capture once, in order.
    seen, uri = [], rels["first memento"]["url"]
    first_rels = None
    while uri:
        r = go(cdx_replay, uri)
        assert r.status_code == 200, uri
        here = links(r.headers["Link"], here=uri)
        first_rels = first_rels or here
        seen.append(r.headers["Memento-Datetime"])
        assert here["memento"]["datetime"] == r.headers["Memento-Datetime"] and here["memento"]["url"] == uri
        assert here["original"]["url"] == FRONT
        for rel in ("timegate", "timemap", "first memento", "last memento"):
            assert (here[rel]["url"], here[rel].get("datetime")) == (first_rels[rel]["url"],
                                                                      first_rels[rel].get("datetime"))
        if len(seen) > 1:
            assert here["prev memento"]["datetime"] == seen[-2]
        else:
            assert "prev memento" not in here
        uri = here.get("next memento", {}).get("url")
    assert seen == DATES
    assert "next memento" not in here and here["last memento"]["datetime"] == DATES[-1]
    assert REVISIT_TS in FRONT_TIMES  # a revisit is a memento like any other
    # The timegate a memento names is the TimeGate.
    assert go(cdx_replay, first_rels["timegate"]["url"]).status_code == 302


def test_the_timemap_lists_exactly_the_captures_in_pages(cdx_replay) -> None:
    memento = go(cdx_replay, f"/web/{FRONT_TIMES[0]}/{FRONT}")
    uri = links(memento.headers["Link"])["timemap"]["url"]
    listed, pages = [], 0
    while uri:
        r = go(cdx_replay, uri)
        assert r.status_code == 200 and r.headers["Content-Type"] == LINK_FORMAT
        pages += 1
        body = links(r.text, mementos_too=False)
        page = mementos(r.text)
        assert 0 < len(page) <= TIMEMAP_PAGE
        assert body["original"]["url"] == FRONT and urljoin(r.url, body["timegate"]["url"]).endswith("/web/" + FRONT)
        assert body["self"]["from"] == page[0]["datetime"] and body["self"]["until"] == page[-1]["datetime"]
        for m in page:  # each memento is there, at the time it says
            assert go(cdx_replay, m["url"]).headers["Memento-Datetime"] == m["datetime"]
        listed += page
        nxt = r.links.get("next")  # the HTTP Link header's rel="next"
        if nxt:
            assert nxt["url"] == body["timemap"]["url"] and body["timemap"]["from"] == http_date(
                nxt["url"].split("/")[3])
            assert links(go(cdx_replay, nxt["url"]).headers["Link"])["prev"]["url"] == (
                uri if pages > 1 else "/timemap/link/" + FRONT_TIMES[0] + "/" + FRONT)
        uri = nxt["url"] if nxt else None
    assert [m["datetime"] for m in listed] == DATES and pages == -(-len(DATES) // TIMEMAP_PAGE)
    assert listed[0]["rel"] == "first memento" and listed[-1]["rel"] == "last memento"
    assert {m["rel"] for m in listed[1:-1]} == {"memento"}


def test_the_json_timemap_is_pywbs_cdx_rows_in_the_same_pages(cdx_replay) -> None:
    rows, uri = [], "/timemap/json/" + FRONT
    while uri:
        r = go(cdx_replay, uri)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/x-ndjson")
        rows += [json.loads(line) for line in r.text.splitlines()]
        uri = r.links.get("next", {}).get("url")
    cdx = requests.get(cdx_replay.base + "/cdx", params={"url": FRONT, "output": "json"}, timeout=30)
    assert rows == [json.loads(line) for line in cdx.text.splitlines()]


def test_a_memento_keeps_its_modifier_in_its_links(cdx_replay) -> None:
    r = go(cdx_replay, f"/web/{FRONT_TIMES[1]}id_/{FRONT}")
    rels = links(r.headers["Link"])
    assert rels["prev memento"]["url"] == f"/web/{FRONT_TIMES[0]}id_/{FRONT}"
    assert rels["timegate"]["url"] == "/web/" + FRONT  # the TimeGate has none


def test_a_single_capture_is_one_link_value_first_and_last_and_has_no_prev_or_next(cdx_replay) -> None:
    uri = f"/web/20240101000005/{FRONT}about.html"
    r = go(cdx_replay, uri)
    rels = links(r.headers["Link"], here=uri)
    assert rels["first memento"] is rels["memento"] is rels["last memento"]  # one link-value, as RFC 7089 writes it
    assert rels["memento"]["rel"] == "first last memento" and rels["memento"]["url"] == uri
    assert [link["rel"] for link in mementos(r.headers["Link"])] == ["first last memento"]
    assert "prev memento" not in rels and "next memento" not in rels
    gate = go(cdx_replay, f"/web/{FRONT}about.html")
    assert [link["rel"] for link in mementos(gate.headers["Link"])] == ["first last memento"]
    page = go(cdx_replay, f"/timemap/link/{FRONT}about.html")
    assert [m["rel"] for m in mementos(page.text)] == ["first last memento"] and "next" not in page.links


def test_what_was_never_captured_has_no_timemap(cdx_replay) -> None:
    assert go(cdx_replay, "/timemap/link/https://nothing.example/").status_code == 404
    assert go(cdx_replay, "/timemap/json/https://nothing.example/").status_code == 404
    assert go(cdx_replay, f"/timemap/link/2026/{FRONT}").status_code == 404  # nothing from 2026 on
    assert go(cdx_replay, "/timemap/xml/" + FRONT).status_code == 404


def test_a_url_taken_down_answers_451_to_timegate_and_timemap(cdx_replay) -> None:
    takedown = hidden.hide(cdx_replay.engine, FRONT, "a court order", CLI_ACTOR)
    try:
        for uri in ("/web/" + FRONT, "/timemap/link/" + FRONT, "/timemap/json/" + FRONT,
                    f"/timemap/link/{FRONT_TIMES[2]}/{FRONT}", f"/web/{FRONT_TIMES[0]}/{FRONT}"):
            assert go(cdx_replay, uri, **{"Accept-Datetime": DATES[1]}).status_code == 451, uri
    finally:
        hidden.unhide(cdx_replay.engine, takedown["id"], CLI_ACTOR)
    assert go(cdx_replay, "/timemap/link/" + FRONT).status_code == 200
