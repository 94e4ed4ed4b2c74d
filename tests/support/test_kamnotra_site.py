"""Quick checks of the Kamnotra look-alike fixture itself (tests/support/kamnotra_site.py)."""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from collections.abc import Iterator

import pytest
import requests

from kamnotra_site import UNIQUE_KM_WORD, UNIQUE_RECORD_ID, KamnotraSite, km_digits


@pytest.fixture
def site() -> Iterator[KamnotraSite]:
    with KamnotraSite() as s:
        yield s


def _links(body: str) -> list[str]:
    return re.findall(r'<a class="record-link" href="([^"]+)"', body)


def _text(body: str, pattern: str) -> str:
    m = re.search(pattern, body, re.DOTALL)
    assert m, pattern
    return " ".join(m.group(1).split())


def test_listing_pagination_and_totals(site: KamnotraSite) -> None:
    assert len(site.records) == 23 and len(site.disputes) == 7
    with requests.Session() as http:
        seen: list[str] = []
        url = site.url("/en/gazetteer?page=1")
        for page in (1, 2, 3):
            r = http.get(url)
            assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
            links = _links(r.text)
            assert len(links) == (10 if page < 3 else 3)
            seen += links
            first, last = (page - 1) * 10 + 1, min(page * 10, 23)
            assert _text(r.text, r'class="result-count">(.*?)<') == f"Showing {first}–{last} of 23 documents"
            nxt = re.search(r'<a rel="next" href="([^"]+)"', r.text)
            if page < 3:
                assert nxt and nxt.group(1) == f"?page={page + 1}"
                url = requests.compat.urljoin(url, nxt.group(1))
            else:
                assert nxt is None
        assert seen == [f"/en/gazetteer/records/{i}" for i in range(1, 24)]
        past = http.get(site.url("/en/gazetteer?page=4"))
        assert past.status_code == 200 and _links(past.text) == []
        assert "of 23 documents" in past.text
        assert 'href="/static/site.css"' in past.text and 'src="/static/logo.png"' in past.text
        assert http.get(site.url("/static/logo.png")).content.startswith(b"\x89PNG")


def test_khmer_listing_uses_khmer_digits_and_km_links(site: KamnotraSite) -> None:
    r = requests.get(site.url("/km/gazetteer?page=3"))
    assert _text(r.text, r'class="result-count">(.*?)<') == "បង្ហាញ ២១–២៣ នៃឯកសារ ២៣"
    assert _links(r.text) == ["/km/gazetteer/records/21", "/km/gazetteer/records/22", "/km/gazetteer/records/23"]
    assert km_digits(1990) == "១៩៩០"
    first = requests.get(site.url("/km/gazetteer"))
    assert "បង្ហាញ ១–១០ នៃឯកសារ ២៣" in first.text


def test_khmer_titles_and_the_unique_word() -> None:
    s = KamnotraSite()
    holders = [r for r in s.records if UNIQUE_KM_WORD in r.title_km]
    assert [r.id for r in holders] == [UNIQUE_RECORD_ID]
    title = holders[0].title_km
    assert not title.startswith(UNIQUE_KM_WORD) and not title.endswith(UNIQUE_KM_WORD)
    assert f" {UNIQUE_KM_WORD} " in title
    for r in s.records:
        assert re.search(r"[\u1780-\u17ff]{4}", r.title_km) and len(r.title_km.split()) >= 3
        assert unicodedata.normalize("NFC", r.title_km) == r.title_km
        assert UNIQUE_KM_WORD not in r.ministry_km
    assert len({r.title_km for r in s.records}) == 23 and len({r.title_en for r in s.records}) == 23
    assert {r.attachment for r in s.records} == {"pdf", "image"}
    assert KamnotraSite().records == s.records  # deterministic


def test_record_pages_and_attachments_match_expected(site: KamnotraSite) -> None:
    rows = site.gazetteer_expected()
    assert len(rows) == 46 and [(r["id"], r["lang"]) for r in rows[:2]] == [("1", "km"), ("1", "en")]
    with requests.Session() as http:
        for row in rows:
            r = http.get(str(row["url"]))
            assert r.status_code == 200 and '<meta charset="utf-8">' in r.text
            assert f'<html lang="{row["lang"]}">' in r.text
            assert _text(r.text, r"<h1>(.*?)</h1>") == row["title"]
            assert re.search(r'<time datetime="([^"]+)">', r.text).group(1) == row["date"]  # type: ignore[union-attr]
            assert _text(r.text, r'class="ministry">(.*?)<') == row["ministry"]
            assert _text(r.text, r'class="kind">(.*?)<') == row["kind"]
            href = re.search(r'(?:class="attachment" href|class="scan" src)="([^"]+)"', r.text)
            assert href and site.url(href.group(1)) == row["attachment_url"]
        for row in rows[::2]:
            a = http.get(str(row["attachment_url"]))
            assert a.status_code == 200
            assert hashlib.sha256(a.content).hexdigest() == row["attachment_sha256"]
            assert len(a.content) == row["attachment_size"]
            if str(row["attachment_url"]).endswith(".pdf"):
                assert a.headers["Content-Type"] == "application/pdf" and a.content.startswith(b"%PDF-1.4")
                assert site.record(int(row["id"])).title_en.encode() in a.content
                xref = int(a.content.rsplit(b"startxref\n", 1)[1].split()[0])
                assert a.content[xref:].startswith(b"xref\n") and a.content.endswith(b"%%EOF\n")
            else:
                assert a.headers["Content-Type"] == "image/jpeg"
                assert a.content[:2] == b"\xff\xd8" and a.content[-2:] == b"\xff\xd9"
    km = requests.get(site.record_url(UNIQUE_RECORD_ID, "km")).text
    assert UNIQUE_KM_WORD in km and "ថ្ងៃទី" in km


def test_unknown_ids_are_404(site: KamnotraSite) -> None:
    for path in ("/en/gazetteer/records/99", "/km/gazetteer/records/0", "/files/gazette-99.pdf",
                 "/scans/gazette-1.jpg", "/files/gazette-3.pdf", "/en/in-dispute/8", "/nowhere"):
        assert requests.get(site.url(path)).status_code == 404, path
    assert requests.get(site.url("/robots.txt")).text == "User-agent: *\nAllow: /\n"


def test_disputes_api(site: KamnotraSite) -> None:
    items = []
    url: str | None = "/api/disputes?page=1"
    pages = 0
    while url:
        r = requests.get(site.url(url))
        assert r.headers["Content-Type"] == "application/json; charset=utf-8"
        doc = r.json()
        pages += 1
        assert doc["meta"] == {"total": 7, "page": pages} and len(doc["data"]) == (3 if pages < 3 else 1)
        items += doc["data"]
        url = doc["links"]["next"]
    assert pages == 3 and items == site.disputes_expected()
    assert set(items[0]) == {"id", "name", "province", "coordinates", "households", "status"}
    assert requests.get(site.url("/api/disputes?page=9")).json()["data"] == []
    for lang in ("km", "en"):
        page = requests.get(site.url(f"/{lang}/in-dispute/{items[1]['id']}")).text
        assert _text(page, r"<h1>(.*?)</h1>") == items[1]["name"][lang]


def test_specs_parse(site: KamnotraSite) -> None:
    g = tomllib.loads(site.gazetteer_spec())
    assert g["listing"] == {"url": site.base + "/en/gazetteer?page={page}", "first": 1,
                            "records": "a.record-link", "total": ".result-count"}
    assert g["record"]["id"] == r"/gazetteer/records/(\d+)" and g["record"]["languages"] == ["km", "en"]
    assert g["record"]["fields"]["date"] == "time::attr(datetime)"
    assert g["record"]["attachments"] == "a.attachment, img.scan"
    d = tomllib.loads(site.disputes_spec())
    assert d["api"]["record_url"] == site.base + "/{lang}/in-dispute/{id}"
    assert d["api"]["next"] == "links.next" and d["record"] == {"languages": ["km", "en"], "fields": {"name": "h1"}}


def test_mutators(site: KamnotraSite) -> None:
    new = site.add_record(title_en="Sub-Decree on a New Concession", attachment="pdf")
    assert new.id == 24
    assert "Showing 21–24 of 24 documents" in requests.get(site.url("/en/gazetteer?page=3")).text
    site.change_record(5, title_en="Changed  title", ministry_en="Ministry of Mines and Energy")
    page = requests.get(site.record_url(5)).text
    assert "Changed  title" in page and "Ministry of Mines and Energy" in page
    assert any(r["title"] == "Changed title" for r in site.gazetteer_expected())
    site.remove_record(7)
    assert requests.get(site.record_url(7)).status_code == 404
    assert "/en/gazetteer/records/7" not in _links(requests.get(site.url("/en/gazetteer")).text)
    assert len(site.gazetteer_expected()) == 2 * 23
    with pytest.raises(ValueError):
        site.add_record(id=5)


def test_stop_listing_after_and_fail_attachment(site: KamnotraSite) -> None:
    site.stop_listing_after(1)
    assert len(_links(requests.get(site.url("/en/gazetteer?page=1")).text)) == 10
    r = requests.get(site.url("/en/gazetteer?page=2"))
    assert r.status_code == 200 and _links(r.text) == [] and "of 23 documents" in r.text
    assert "នៃឯកសារ ២៣" in requests.get(site.url("/km/gazetteer?page=2")).text
    site.stop_listing_after(None)
    assert len(_links(requests.get(site.url("/en/gazetteer?page=2")).text)) == 10
    site.fail_attachment(1)
    site.fail_attachment(3, status=503)
    assert requests.get(site.url("/files/gazette-1.pdf")).status_code == 500
    assert requests.get(site.url("/scans/gazette-3.jpg")).status_code == 503
    site.fail_attachment(1, None)
    assert requests.get(site.url("/files/gazette-1.pdf")).status_code == 200


def test_requests_log_and_keep_alive(site: KamnotraSite) -> None:
    with requests.Session() as http:
        http.get(site.url("/en/gazetteer?page=1"))
        http.get(site.url("/en/gazetteer?page=2"))
        http.head(site.url("/en/gazetteer?page=1"))
    assert site.requests_log == ["/en/gazetteer?page=1", "/en/gazetteer?page=2", "/en/gazetteer?page=1"]
    assert site.fetched_twice() == ["/en/gazetteer?page=1"]
    site.clear_log()
    assert site.requests_log == []
