"""/cdx on the replay server: what each parameter does, its bounds, its errors, and URLs
taken down. (test_cdx_pywb.py asks pywb the same questions and compares.)"""

from __future__ import annotations

import json
import time

import pytest
import requests
from cdx_archive import (
    FRONT,
    FRONT_TIMES,
    KHMER_ENCODED,
    KHMER_RAW,
    REVISIT_TS,
    cdx_replay_fixture,  # noqa: F401 - provides the `cdx_replay` fixture
)

from refuge.mirror.replay import cdx_api
from refuge.mirror.replay.cdx_params import CDX11, MAX_LIMIT
from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR

HOST_ROWS = 17  # news.example's captures, www. included (cdx_archive); its domain adds sub.news.example


def cdx(replay, *pairs: tuple[str, str], **params: str) -> requests.Response:
    return requests.get(replay.base + "/cdx", params=[*pairs, *params.items()], timeout=30)


def rows(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def urls(response: requests.Response) -> list[str]:
    return [r["url"] for r in rows(response)]


def test_each_match_type_finds_its_keys_and_no_others(cdx_replay) -> None:
    exact = rows(cdx(cdx_replay, url="news.example/", output="json"))
    assert [r["timestamp"] for r in exact] == FRONT_TIMES
    assert {r["urlkey"] for r in exact} == {"example,news)/"}
    # http://, https://, www. and no scheme name the same key.
    for same in ("http://news.example/", "https://www.news.example/", "news.example"):
        assert rows(cdx(cdx_replay, url=same, output="json")) == exact

    prefix = urls(cdx(cdx_replay, url="news.example/en/", matchType="prefix", output="json"))
    assert prefix == [FRONT + "en/article-1.html"] * 2 + [FRONT + "en/article-2.html?page=2&sort=date"]
    assert urls(cdx(cdx_replay, url="news.example/en/*", output="json")) == prefix  # pywb's shorthand

    host = rows(cdx(cdx_replay, url="https://news.example/any/page", matchType="host", output="json"))
    assert len(host) == HOST_ROWS and all(r["urlkey"].startswith("example,news)/") for r in host)
    assert [r["urlkey"] for r in host] == sorted(r["urlkey"] for r in host)  # index order

    domain = urls(cdx(cdx_replay, url="news.example", matchType="domain", output="json"))
    assert len(domain) == HOST_ROWS + 1 and domain[-1] == "https://sub.news.example/page.html"
    assert "https://newsroom.example/" not in domain and "https://news.example.org/x" not in domain
    assert urls(cdx(cdx_replay, url="*.news.example", output="json")) == domain
    # A bare suffix: every host under it.
    assert len(urls(cdx(cdx_replay, url="example", matchType="domain", output="json"))) == HOST_ROWS + 2


def test_khmer_urls_are_found_raw_or_percent_encoded_and_printed_as_uris(cdx_replay) -> None:
    as_uri = "https://news.example/km/%E1%9E%96%E1%9F%90%E1%9E%8F%E1%9F%8C%E1%9E%98%E1%9E%B6%E1%9E%93.html"
    for asked in (KHMER_RAW, as_uri):
        assert urls(cdx(cdx_replay, url=asked, output="json")) == [as_uri]
    assert urls(cdx(cdx_replay, url=KHMER_ENCODED, output="json")) == [KHMER_ENCODED]


def test_from_and_to_take_1_to_14_digits_inclusive(cdx_replay) -> None:
    def times(**p: str) -> list[str]:
        return [r["timestamp"] for r in rows(cdx(cdx_replay, url=FRONT, output="json", **p))]

    assert times(**{"from": "2025"}) == FRONT_TIMES[4:]
    assert times(to="2024") == FRONT_TIMES[:4]  # to 2024 means to the end of 2024
    assert times(**{"from": "202403", "to": "20240601120000"}) == FRONT_TIMES[1:3]
    # Over a range, from/to drop rows of other times too.
    ranged = rows(cdx(cdx_replay, url="news.example", matchType="domain", output="json", **{"from": "2025"}))
    assert {r["timestamp"] for r in ranged} == {"20250101000000", "20250301000000", "20250301000010"}


def test_limit_sort_and_closest(cdx_replay) -> None:
    def times(*pairs: tuple[str, str]) -> list[str]:
        return [r["timestamp"] for r in rows(cdx(cdx_replay, ("url", FRONT), ("output", "json"), *pairs))]

    assert times(("limit", "2")) == FRONT_TIMES[:2]
    assert times(("limit", "-2")) == FRONT_TIMES[-2:]  # the last two, in order (the Wayback Machine's meaning)
    assert times(("sort", "reverse")) == FRONT_TIMES[::-1]
    assert times(("reverse", "true"), ("limit", "2")) == FRONT_TIMES[:-3:-1]
    assert times(("sort", "reverse"), ("limit", "-2")) == FRONT_TIMES[1::-1]
    assert times(("sort", "closest"), ("closest", "20241101"), ("limit", "3")) == [
        "20241201120000", "20250101000000", "20250301000000"]
    assert times(("closest", "2099")) == FRONT_TIMES[::-1]
    # Across a range: nearest first, equally near ones in index order.
    near = rows(cdx(cdx_replay, url="news.example/*", closest="20240101000010", limit="3", output="json"))
    assert [r["timestamp"] for r in near] == ["20240101000010", "20240101000011", "20240101000012"]


def test_filters_follow_pywbs_syntax(cdx_replay) -> None:
    def found(*filters: str, url: str = "news.example/*") -> list[str]:
        return urls(cdx(cdx_replay, ("url", url), ("output", "json"), *(("filter", f) for f in filters)))

    assert found("=status:404") == [FRONT + "missing.html"]
    assert found("status:30") == ["http://news.example/old"]  # no '=' or '~': contains
    assert found("~url:.*article-\\d") == found("url:article-")
    # the revisit, the image, the 404 and the redirect
    assert found("!mime:text/html") == [FRONT, FRONT + "img/logo.png", FRONT + "missing.html",
                                        "http://news.example/old"]
    assert found("=statuscode:301") == found("=status:301")  # the Wayback Machine's field names
    assert found("mimetype:image") == [FRONT + "img/logo.png"]
    assert found("=mime:text/html", "~url:.*/en/", "!url:article-2") == [FRONT + "en/article-1.html"] * 2
    assert found("warc/revisit") == [FRONT]  # no field: the whole CDXJ line
    # Counted repeats, nested too, within bounds.
    assert found("~url:.*article-\\d{1}\\.html$") == found("~url:.*/(?:[a-z]{2}/){1,2}article-1") == \
        [FRONT + "en/article-1.html"] * 2
    # A revisit has no status: an inverted status filter keeps it, as in pywb.
    assert FRONT in found("!=status:200", url=FRONT)


def test_fields_and_outputs(cdx_replay) -> None:
    text = cdx(cdx_replay, url=FRONT)
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    lines = [line.split(" ") for line in text.text.splitlines()]
    assert all(len(line) == len(CDX11) for line in lines)  # CDX11, '-' where there is nothing
    as_json = rows(cdx(cdx_replay, url=FRONT, output="json"))
    for line, row in zip(lines, as_json):
        assert dict(zip(CDX11, line)) == {"redirect": "-", "robotflags": "-", "status": "-", **row}
    revisit = next(r for r in as_json if r["timestamp"] == REVISIT_TS)
    assert revisit["mime"] == "warc/revisit" and "status" not in revisit
    assert list(as_json[0]) == ["urlkey", "timestamp", "url", "mime", "status", "digest", "length", "offset",
                                "filename"]
    assert as_json[0]["digest"] == cdx_replay.rows["front0"]["digest"]
    assert as_json[0]["offset"] == str(cdx_replay.rows["front0"]["offset"])
    assert as_json[0]["filename"] == cdx_replay.rows["front0"]["path"].rsplit("/", 1)[-1]

    picked = cdx(cdx_replay, url=FRONT, fl="timestamp,statuscode,original")
    assert picked.text.splitlines()[0] == f"{FRONT_TIMES[0]} 200 {FRONT}"
    assert rows(cdx(cdx_replay, url=FRONT, fl="timestamp,status", output="json"))[4] == {"timestamp": REVISIT_TS}

    cdxj = cdx(cdx_replay, url=FRONT, output="cdxj")
    assert cdxj.headers["Content-Type"] == "text/x-cdxj; charset=utf-8"
    key, ts, doc = cdxj.text.splitlines()[0].split(" ", 2)
    assert (key, ts) == ("example,news)/", FRONT_TIMES[0]) and json.loads(doc)["url"] == FRONT
    assert cdx(cdx_replay, url=FRONT, output="json").headers["Content-Type"] == "text/x-ndjson; charset=utf-8"


def test_pages_cover_the_query_once(cdx_replay) -> None:
    whole = rows(cdx(cdx_replay, url="news.example", matchType="domain", output="json"))
    info = cdx(cdx_replay, url="news.example", matchType="domain", showNumPages="true", pageSize="5").json()
    assert info == {"pages": 4, "pageSize": 5, "blocks": len(whole)}
    pages = [rows(cdx(cdx_replay, url="news.example", matchType="domain", output="json", page=str(n),
                      pageSize="5")) for n in range(info["pages"])]
    assert [r for p in pages for r in p] == whole and all(len(p) == 5 for p in pages[:-1])
    past = cdx(cdx_replay, url="news.example", matchType="domain", page="4", pageSize="5")
    assert past.status_code == 400
    assert past.text == "page: 4 is past the last page, 3 (pages count from 0; pageSize 5)\n"
    # Within a page, the other parameters apply as in pywb.
    page = rows(cdx(cdx_replay, url="news.example", matchType="domain", output="json", page="0", pageSize="5",
                    sort="reverse", limit="2"))
    assert page == whole[:5][::-1][:2]


def test_nothing_found_is_an_empty_200(cdx_replay) -> None:
    for params in ({"url": "nothing.example/"}, {"url": "news.example/", "from": "2030"},
                   {"url": "news.example/*", "filter": "=status:999"}):
        r = cdx(cdx_replay, **params)
        assert (r.status_code, r.text) == (200, "")


@pytest.mark.parametrize(("params", "named"), [
    ({}, "url:"), ({"url": ""}, "url:"), ({"url": "x" * 5000}, "url:"),
    ({"url": "news.example", "matchType": "everything"}, "matchType:"),
    ({"url": "news.example", "from": "2024-01-01"}, "from:"), ({"url": "news.example", "to": "123456789012345"}, "to:"),
    ({"url": "news.example", "limit": "ten"}, "limit:"),
    ({"url": "news.example", "limit": str(MAX_LIMIT + 1)}, "limit:"),
    ({"url": "news.example", "sort": "random"}, "sort:"), ({"url": "news.example", "sort": "closest"}, "closest:"),
    ({"url": "news.example", "closest": "20241301"}, "closest:"),
    ({"url": "news.example", "closest": "2024", "limit": "-1"}, "limit:"),
    ({"url": "news.example", "filter": "~url:(unclosed"}, "filter:"),
    # Compiling unrolls counted repeats: big or nested ones are refused before (the last: GBs).
    ({"url": "news.example", "filter": "~url:a{2000}"}, "filter:"),
    ({"url": "news.example", "filter": "~url:(?:a{999}){999}"}, "filter:"),
    ({"url": "news.example", "filter": "~url:(?:(?:a{999}){999}){999}"}, "filter:"),
    ({"url": "news.example", "filter": "~url:a\nb"}, "filter:"),
    ({"url": "news.example", "filter": "size:1"}, "filter:"),
    ({"url": "news.example", "fl": "url,size"}, "fl:"), ({"url": "news.example", "output": "xml"}, "output:"),
    ({"url": "news.example", "page": "-1"}, "page:"), ({"url": "news.example", "pageSize": "0"}, "pageSize:"),
    ({"url": "news.example", "page": "100000", "pageSize": "1000"}, "page:"),
    ({"url": "news.example", "collapse": "digest"}, "collapse:"),
    ({"url": "news.example", "resolveRevisits": "true"}, "resolveRevisits:"),
])
def test_bad_parameters_answer_400_naming_the_parameter(cdx_replay, params: dict, named: str) -> None:
    r = cdx(cdx_replay, **params)
    assert r.status_code == 400 and r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.text.startswith(named) and r.text.count("\n") == 1, r.text


def test_a_parameter_given_twice_is_refused(cdx_replay) -> None:
    r = cdx(cdx_replay, ("url", FRONT), ("limit", "1"), ("limit", "2"))
    assert r.status_code == 400 and r.text.startswith("limit: given more than once")


def test_a_regex_built_to_backtrack_for_ever_is_stopped(cdx_replay) -> None:
    started = time.monotonic()
    r = cdx(cdx_replay, url="news.example/*", filter="~url:.*(a|aa)+$")
    assert r.status_code == 400 and r.text.startswith("filter:")
    assert time.monotonic() - started < 10
    assert cdx(cdx_replay, url=FRONT).status_code == 200  # the server goes on


def test_answers_cut_by_a_bound_say_so(cdx_replay, monkeypatch) -> None:
    monkeypatch.setattr(cdx_api, "MAX_LIMIT", 3)
    cut = cdx(cdx_replay, url="news.example/*", output="json")
    assert len(rows(cut)) == 3 and cut.headers["Refuge-Truncated"] == "limit"
    assert "Refuge-Truncated" not in cdx(cdx_replay, url="news.example/*", limit="3").headers  # as asked
    monkeypatch.setattr(cdx_api, "MAX_SCAN", 4)
    scanned = cdx(cdx_replay, url="news.example/*", filter="=status:404", output="json")
    assert rows(scanned) == [] and scanned.headers["Refuge-Truncated"] == "scan"
    assert "Refuge-Truncated" not in cdx(cdx_replay, url=FRONT, limit="2").headers
    # Nearest over a range, every row read kept, the cap reached on the last: nearer rows may be unread.
    near = cdx(cdx_replay, url="news.example/*", closest="20240101000010", limit="3", output="json")
    assert len(rows(near)) == 3 and near.headers["Refuge-Truncated"] == "scan"


def test_urls_taken_down_are_left_out(cdx_replay) -> None:
    engine = cdx_replay.engine
    whole = urls(cdx(cdx_replay, url="news.example/*", output="json"))
    made = [hidden.hide(engine, FRONT + "en/*", "a source's safety", CLI_ACTOR)["id"],
            hidden.hide(engine, FRONT + "missing.html", "the family asked", CLI_ACTOR)["id"]]
    try:
        left = urls(cdx(cdx_replay, url="news.example/*", output="json"))
        assert left == [u for u in whole if "/en/" not in u and not u.endswith("missing.html")]
        assert cdx(cdx_replay, url=FRONT + "en/article-1.html").text == ""
        assert cdx(cdx_replay, url=FRONT + "missing.html", closest="2024").text == ""
        assert cdx(cdx_replay, url="news.example/*", showNumPages="true").status_code == 200
    finally:
        for hidden_id in made:
            hidden.unhide(engine, hidden_id, CLI_ACTOR)
    assert urls(cdx(cdx_replay, url="news.example/*", output="json")) == whole


def test_answers_are_open_to_other_origins_and_never_sniffed(cdx_replay) -> None:
    h = cdx(cdx_replay, url=FRONT).headers
    assert h["Access-Control-Allow-Origin"] == "*" and h["X-Content-Type-Options"] == "nosniff"
    assert h["Cache-Control"] == "no-cache"  # a takedown holds at once
