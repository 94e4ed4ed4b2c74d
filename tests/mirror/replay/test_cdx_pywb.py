"""/cdx against pywb's CDX server, the reference, over the same WARC files.

pywb (tests/support/pywb_server.py) indexes Refuge's WARC files with its own indexer and
answers the same queries; the rows must agree field by field: urlkey, timestamp, url,
mime, status, digest, length, offset, filename. Where pywb differs on purpose, the test
says so and checks the difference is the one documented (docs/replay.md):

- pywb adds its collection's fields (source, source-coll, access): Refuge has no collections;
- pywb's default output is CDXJ; Refuge's is CDX11 text, and output=cdxj is pywb's;
- a negative limit gives nothing in pywb, the last N rows here (the Wayback Machine's meaning);
- pywb pages only ZipNum indexes, in blocks; a page begins at the block before the key,
  so a query whose first row is not a block's first gets a different split (the same rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from cdx_archive import FRONT, FRONT_TIMES, KHMER_ENCODED, KHMER_RAW, LONG_A, warc_paths
from cdx_archive import cdx_replay_fixture  # noqa: F401 - provides the `cdx_replay` fixture
from pywb_server import PAGED, PywbServer, pywb_missing, start_pywb
from refuge.mirror.replay.cdx_params import CDX11
from servers import INSTALL_HINT, unavailable

PYWB_ONLY = ("source", "source-coll", "access")  # its collections and access controls
PYWB_INSTALL = f"{INSTALL_HINT}; it makes the venv .test-servers/pywb (pip install pywb)"
Params = list[tuple[str, str]]


@pytest.fixture(scope="module")
def pywb(cdx_replay, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PywbServer]:
    if why := pywb_missing():
        unavailable("pywb", why, PYWB_INSTALL)
    try:
        server = start_pywb(tmp_path_factory.mktemp("pywb"), warc_paths(cdx_replay.settings))
    except Exception as exc:  # noqa: BLE001 - reported as the server being unavailable
        unavailable("pywb", f"it did not start: {exc}", PYWB_INSTALL)
        raise
    try:
        yield server
    finally:
        server.stop()


def ours(replay, params: Params) -> requests.Response:
    r = requests.get(replay.base + "/cdx", params=params, timeout=30)
    assert r.status_code == 200, (params, r.text)
    return r


def theirs(pywb: PywbServer, params: Params, coll: str = "refuge") -> requests.Response:
    r = pywb.cdx(params, coll)
    assert r.status_code == 200, (params, r.text)
    return r


def parsed(response: requests.Response) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in PYWB_ONLY} for line in response.text.splitlines()]


QUERIES = {
    "exact": [("url", "news.example/")],
    "exact www and scheme": [("url", "http://www.news.example/")],
    "exact query string": [("url", FRONT + "en/article-2.html?page=2&sort=date")],
    "exact raw khmer": [("url", KHMER_RAW)],
    "exact encoded khmer": [("url", KHMER_ENCODED)],
    "exact long": [("url", LONG_A)],
    "exact none": [("url", "nothing.example/")],
    "prefix": [("url", "https://news.example/en/"), ("matchType", "prefix")],
    "prefix shorthand": [("url", "news.example/en/*")],
    "prefix khmer folder": [("url", "news.example/km/"), ("matchType", "prefix")],
    "prefix whole host": [("url", "news.example/*")],
    "host": [("url", "news.example"), ("matchType", "host")],
    "host of a page": [("url", "https://newsroom.example/x"), ("matchType", "host")],
    "domain": [("url", "news.example"), ("matchType", "domain")],
    "domain shorthand": [("url", "*.news.example")],
    "domain suffix": [("url", "example"), ("matchType", "domain")],
    "from": [("url", FRONT), ("from", "2025")],
    "to": [("url", FRONT), ("to", "2024")],
    "from and to": [("url", FRONT), ("from", "202403"), ("to", "20240601120000")],
    "domain from": [("url", "news.example"), ("matchType", "domain"), ("from", "2025")],
    "limit": [("url", "news.example/*"), ("limit", "4")],
    "reverse": [("url", "news.example/*"), ("sort", "reverse")],
    "reverse limit": [("url", FRONT), ("sort", "reverse"), ("limit", "2")],
    "reverse param": [("url", FRONT), ("reverse", "1"), ("limit", "3")],
    "closest": [("url", FRONT), ("sort", "closest"), ("closest", "20241101"), ("limit", "3")],
    "closest alone": [("url", FRONT), ("closest", "2099")],
    "closest over a prefix": [("url", "news.example/*"), ("closest", "20240101000010"), ("limit", "5")],
    "filter equal": [("url", "news.example/*"), ("filter", "=status:404")],
    "filter contains": [("url", "news.example/*"), ("filter", "status:30")],
    "filter regex": [("url", "news.example/*"), ("filter", "~url:.*article-\\d")],
    "filter inverted": [("url", "news.example/*"), ("filter", "!mime:text/html")],
    "filter inverted status": [("url", FRONT), ("filter", "!=status:200")],
    "filter alias": [("url", "news.example"), ("matchType", "domain"), ("filter", "=statuscode:301")],
    "filter whole line": [("url", "news.example/*"), ("filter", "warc/revisit")],
    "filters": [("url", "news.example/*"), ("filter", "=mime:text/html"), ("filter", "~url:.*/en/"),
                ("filter", "!url:article-2")],
    "fl": [("url", "news.example/*"), ("fl", "urlkey,timestamp,url,status")],
    "fl with limit": [("url", FRONT), ("fl", "timestamp,digest,length,offset,filename"), ("limit", "2")],
}


@pytest.mark.parametrize("params", QUERIES.values(), ids=QUERIES.keys())
def test_json_rows_are_pywbs_field_by_field(cdx_replay, pywb, params: Params) -> None:
    mine = parsed(ours(cdx_replay, [*params, ("output", "json")]))
    reference = parsed(theirs(pywb, [*params, ("output", "json")]))
    assert mine == reference


def test_the_comparison_covers_every_field_and_kind_of_row(cdx_replay, pywb) -> None:
    rows = parsed(theirs(pywb, [("url", "example"), ("matchType", "domain"), ("output", "json")]))
    assert len(rows) == 19 and {tuple(r) for r in rows} >= {
        ("urlkey", "timestamp", "url", "mime", "status", "digest", "length", "offset", "filename"),
        ("urlkey", "timestamp", "url", "mime", "digest", "length", "offset", "filename")}  # a revisit: no status
    assert {r["status"] for r in rows if "status" in r} == {"200", "301", "404"}
    assert len({r["filename"] for r in rows}) == 3


@pytest.mark.parametrize("params", [QUERIES["domain"], QUERIES["exact raw khmer"], QUERIES["fl"],
                                    QUERIES["reverse limit"]], ids=["domain", "khmer", "fl", "reverse"])
def test_text_lines_are_pywbs(cdx_replay, pywb, params: Params) -> None:
    # pywb's text output prints the fields fl names ('-' for none); without fl, its default
    # (CDXJ) differs from Refuge's (CDX11): asked for the CDX11 fields, pywb prints Refuge's default.
    fl = dict(params).get("fl")
    mine = ours(cdx_replay, params if fl else [*params, ("output", "text")]).text
    reference = theirs(pywb, [*params, ("output", "text")] + ([] if fl else [("fl", ",".join(CDX11))])).text
    assert mine == reference and mine.count("\n") >= 1


def test_cdxj_is_pywbs_format(cdx_replay, pywb) -> None:
    def lines(response: requests.Response) -> list[tuple[str, str, dict]]:
        out = []
        for line in response.text.splitlines():
            key, ts, doc = line.split(" ", 2)
            out.append((key, ts, {k: v for k, v in json.loads(doc).items() if k not in PYWB_ONLY}))
        return out

    params = [("url", "news.example"), ("matchType", "domain")]
    mine = lines(ours(cdx_replay, [*params, ("output", "cdxj")]))
    reference = lines(theirs(pywb, params))  # pywb's default output
    assert mine == reference and len(mine) == 18


def test_a_negative_limit_differs_by_design(cdx_replay, pywb) -> None:
    params = [("url", FRONT), ("limit", "-2"), ("output", "json")]
    assert [r["timestamp"] for r in parsed(ours(cdx_replay, params))] == FRONT_TIMES[-2:]
    assert theirs(pywb, params).text == ""  # pywb: no rows at all


@pytest.mark.parametrize("size", [1, 4, 5])
def test_pages_are_pywbs_where_the_query_starts_a_block(cdx_replay, pywb, size: int) -> None:
    # news.example's domain is the index's first key, so pywb's first block is its first row.
    params = [("url", "news.example"), ("matchType", "domain"), ("pageSize", str(size))]
    mine = ours(cdx_replay, [*params, ("showNumPages", "true")]).json()
    reference = theirs(pywb, [*params, ("showNumPages", "true")], PAGED).json()
    assert mine == reference
    for page in range(mine["pages"]):
        q = [*params, ("page", str(page)), ("output", "json")]
        assert parsed(ours(cdx_replay, q)) == parsed(theirs(pywb, q, PAGED))
    past = [*params, ("page", str(mine["pages"]))]
    assert requests.get(cdx_replay.base + "/cdx", params=past, timeout=30).status_code == 400
    assert pywb.cdx(past, PAGED).status_code == 400


@pytest.mark.parametrize(("params", "size"), [
    ([("url", "https://newsroom.example/"), ("matchType", "host")], 1),
    ([("url", "news.example/en/"), ("matchType", "prefix")], 2),
    ([("url", FRONT), ("filter", "=mime:text/html")], 4),
], ids=["host", "prefix", "exact filtered"])
def test_pages_split_differently_but_hold_the_same_rows(cdx_replay, pywb, params: Params, size: int) -> None:
    # pywb's first page begins at the ZipNum block before the query's first key (a row it then
    # leaves out): here pages count the query's own rows. Either way, the pages hold each row once.
    whole = parsed(ours(cdx_replay, [*params, ("output", "json")]))
    assert whole == parsed(theirs(pywb, [*params, ("output", "json")]))

    def pages(ask, coll: tuple = ()) -> list[dict]:
        q = [*params, ("pageSize", str(size))]
        count = ask([*q, ("showNumPages", "true")], *coll).json()["pages"]
        return [r for n in range(count) for r in parsed(ask([*q, ("page", str(n)), ("output", "json")], *coll))]

    assert pages(lambda q: ours(cdx_replay, q)) == whole
    assert pages(lambda q, coll: theirs(pywb, q, coll), (PAGED,)) == whole
