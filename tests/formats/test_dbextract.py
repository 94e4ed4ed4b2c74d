"""Reading a records database's pages: listings, API pages, record fields and files, Khmer intact."""

from __future__ import annotations

import json

import pytest

from refuge.config.dbspec import ApiSpec, FieldSpec, ListingSpec, RecordSpec
from refuge.formats.dbextract import (
    ApiResult,
    ListingResult,
    api_page,
    dotted,
    language_variants,
    listing_page,
    parse_count,
    record_attachments,
    record_fields,
    record_id,
    url_language,
)

PAGE = "https://kamnotra.io/en/gazetteer?page=2"
LISTING = ListingSpec(url="https://kamnotra.io/en/gazetteer?page={page}", records="a.record-link",
                      total=".result-count", next="a[rel=next]")
KHMER_TITLE = "អនុក្រឹត្យ ស្តីពីការកំណត់ព្រំដែន"


def html(body: str, head: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head><meta charset=utf-8>{head}</head><body>{body}</body></html>".encode()


def test_listing_links_absolute_deduplicated_in_order_without_fragments() -> None:
    body = html("""
      <p class="result-count">Showing 11–20 of 1,234 records</p>
      <a class="record-link" href="/en/records/12#top">12</a>
      <a class="record-link" href="../en/records/7">7</a>
      <a class="record-link" href="https://kamnotra.io/en/records/12">12 again</a>
      <a class="record-link" href="mailto:x@example.org">not a page</a>
      <a class="record-link">no href</a>
      <a class="other" href="/en/about">about</a>
      <a rel="next" href="?page=3">next</a>""")
    got = listing_page(LISTING, PAGE, body, "text/html")
    assert got == ListingResult(
        records=["https://kamnotra.io/en/records/12", "https://kamnotra.io/en/records/7"],
        next="https://kamnotra.io/en/gazetteer?page=3", total=1234)


def test_listing_without_next_selector_or_total_and_empty_page() -> None:
    spec = ListingSpec(url="https://e.org/list?p={page}", records="a.r")
    got = listing_page(spec, "https://e.org/list?p=9", html('<a rel="next" href="?p=10">next</a>'), None)
    assert got == ListingResult([], None, None)


def test_listing_base_href_and_rows_without_href() -> None:
    spec = ListingSpec(url="https://e.org/list?p={page}", records="tr.record", next="li.next")
    body = html('<table><tr class="record"><td>១</td><td><a href="records/1">ក</a></td></tr>'
                '<tr class="record"><td><a href="records/2">ខ</a><a href="x">x</a></td></tr></table>'
                '<ul><li class="next"><a href="list?p=2">›</a></li></ul>',
                head='<base href="https://mirror.example.net/db/">')
    got = listing_page(spec, "https://e.org/list?p=1", body, None)
    assert got.records == ["https://mirror.example.net/db/records/1", "https://mirror.example.net/db/records/2"]
    assert got.next == "https://mirror.example.net/db/list?p=2"


def test_listing_next_pointing_at_itself_ends_the_walk() -> None:
    body = html('<a class="record-link" href="/en/records/1">1</a><a rel="next" href="?page=2#x">next</a>')
    assert listing_page(LISTING, PAGE, body, None).next is None


def test_listing_total_in_khmer_digits() -> None:
    body = html('<p class="result-count">ឯកសារ ១២៣ ក្នុងចំណោម ១ ២៣៤</p>')
    assert listing_page(LISTING, PAGE, body, None).total == 1234
    assert listing_page(LISTING, PAGE, html('<p class="result-count">none</p>'), None).total is None


@pytest.mark.parametrize("text, count", [
    ("Showing 1–10 of 1,234 records", 1234),
    ("1,234 results, page 1 of 124", 1234),
    ("ឯកសារ ១២៣ ក្នុងចំណោម ១ ២៣៤", 1234),
    ("សរុប ៥៦៧ ឯកសារ", 567),
    ("1.234.567 Einträge", 1234567),
    ("12\u202f345 résultats", 12345),
    ("12\u2009345 results", 12345),
    ("12\u00a0345", 12345),
    ("1'234", 1234),
    ("Results 1 - 10 of 100", 100),
    ("12345", 12345),
    ("2024, 100 records", 2024),   # the rule is "largest": a year in the text wins
    ("1,23", 23),                  # not a grouping: two numbers
    ("no number", None),
    ("", None),
])
def test_parse_count(text: str, count: int | None) -> None:
    assert parse_count(text) == count


def test_non_utf8_listing_page_decoded_by_its_charset() -> None:
    spec = ListingSpec(url="https://e.org/?p={page}", records="a", total="p")
    body = '<html><p>Café: 1.234 entrées</p><a href="/r/é">é</a></html>'.encode("windows-1252")
    got = listing_page(spec, "https://e.org/?p=1", body, "text/html; charset=windows-1252")
    assert got.total == 1234
    assert got.records == ["https://e.org/r/é"]
    meta = b'<html><head><meta charset="windows-1252"></head><h1>Caf\xe9 \x96 \x80</h1></html>'
    rs = RecordSpec(fields=(FieldSpec("title", "h1"),))
    assert record_fields(rs, "https://e.org/r/1", meta, "text/html") == {"title": "Café – €"}


GAZETTEER_RECORD = RecordSpec(
    id=r"/records/(\d+)", languages=("km", "en"),
    fields=(FieldSpec("title", "h1"), FieldSpec("date", "time", "datetime"),
            FieldSpec("ministry", ".ministry"), FieldSpec("missing", ".nope"),
            FieldSpec("noattr", "h1", "data-x")),
    attachments="a[href$='.pdf'], img.scan, object, embed, iframe, source, link[rel=alternate], .other")


def test_record_fields_khmer_text_attr_and_missing() -> None:
    body = html(f"""<h1>  {KHMER_TITLE.replace(' ', '   ')}\n  <small>ល.រ ១២</small></h1>
      <time datetime="2023-05-01">១ ឧសភា ២០២៣</time>
      <div class="ministry">Ministry of<br>Land&nbsp;Management <script>track()</script></div>""")
    got = record_fields(GAZETTEER_RECORD, "https://kamnotra.io/km/records/12", body, "text/html; charset=utf-8")
    assert got == {"title": f"{KHMER_TITLE} ល.រ ១២", "date": "2023-05-01",
                   "ministry": "Ministry of Land Management", "missing": None, "noattr": None}
    assert list(got) == ["title", "date", "ministry", "missing", "noattr"]


def test_record_fields_khmer_comes_through_exactly_with_zero_width_spaces() -> None:
    title = "ក្រសួង\u200bរៀបចំ\u200bដែនដី"
    rs = RecordSpec(fields=(FieldSpec("t", "h1"),))
    assert record_fields(rs, "https://e.org/", html(f"<h1>{title}</h1>"), None) == {"t": title}
    # No declaration at all: UTF-8 bytes are recognised as UTF-8.
    assert record_fields(rs, "https://e.org/", f"<h1>{title}</h1>".encode(), None) == {"t": title}


def test_record_attachments() -> None:
    body = html("""
      <a href="files/decree.pdf">PDF</a>
      <a href="files/decree.pdf#page=2">not matched: the href ends in #page=2</a>
      <a href="/files/decree.pdf">another PDF</a>
      <a href="../records/files/decree.pdf">the first PDF again</a>
      <a href="notes.html">not matched</a>
      <img class="scan" src="scan-1.jpg"><img class="scan" data-src="lazy.jpg">
      <object data="/obj.pdf"></object><embed src="emb.pdf"><iframe src="//cdn.example.org/viewer"></iframe>
      <video><source src="clip.mp4"></video>
      <link rel="alternate" href="record.json">
      <span class="other" data="d.bin"></span>
      <a href="javascript:void(0).pdf">no</a>""",
                head='<base href="https://kamnotra.io/km/records/">')
    got = record_attachments(GAZETTEER_RECORD, "https://kamnotra.io/km/records/12", body, None)
    assert got == [
        "https://kamnotra.io/km/records/files/decree.pdf",
        "https://kamnotra.io/files/decree.pdf",
        "https://kamnotra.io/km/records/scan-1.jpg",
        "https://kamnotra.io/obj.pdf",
        "https://kamnotra.io/km/records/emb.pdf",
        "https://cdn.example.org/viewer",
        "https://kamnotra.io/km/records/clip.mp4",
        "https://kamnotra.io/km/records/record.json",
        "https://kamnotra.io/km/records/d.bin",
    ]
    assert record_attachments(RecordSpec(), "https://e.org/", body, None) == []


def test_record_attachments_deduplicated_relative_to_page() -> None:
    rs = RecordSpec(attachments="a")
    body = html('<a href="a.pdf">1</a><a href="./a.pdf#p=2">2</a><a href="/x/a.pdf">3</a><a href="#top">4</a>')
    assert record_attachments(rs, "https://e.org/x/r/1", body, None) == ["https://e.org/x/r/a.pdf",
                                                                           "https://e.org/x/a.pdf"]


def test_record_id() -> None:
    assert record_id(GAZETTEER_RECORD, "https://kamnotra.io/en/records/123?x=1") == "123"
    assert record_id(GAZETTEER_RECORD, "https://kamnotra.io/en/about") is None
    assert record_id(RecordSpec(), "https://kamnotra.io/en/records/123") is None
    assert record_id(RecordSpec(id=r"/r/(\d+)?x"), "https://e.org/r/x") is None


def test_language_variants() -> None:
    url = "https://kamnotra.io/en/gazetteer/records/12?tab=1"
    assert language_variants(url, ("km", "en")) == {
        "km": "https://kamnotra.io/km/gazetteer/records/12?tab=1",
        "en": "https://kamnotra.io/en/gazetteer/records/12?tab=1",
    }
    assert url_language(url, ("km", "en")) == "en"
    assert language_variants("https://kamnotra.io/records/12", ("km", "en")) == {}
    assert url_language("https://kamnotra.io/records/12?lang=en", ("km", "en")) is None
    # Only a whole segment names a language; the first such segment is the one swapped.
    assert url_language("https://e.org/english/km/en", ("km", "en")) == "km"
    assert language_variants("https://e.org/english/km/en", ("km", "en"))["en"] == "https://e.org/english/en/en"


def test_dotted() -> None:
    doc = {"data": [{"id": 1, "tags": ["a", "b"]}], "meta": {"total": 3, "0": "zero"}, "n": None}
    assert dotted(doc, "data.0.id") == 1
    assert dotted(doc, "data.0.tags.-1") == "b"
    assert dotted(doc, "meta.0") == "zero"
    assert dotted(doc, "data.5.id") is None
    assert dotted(doc, "data.x") is None
    assert dotted(doc, "meta.total.deeper", "default") == "default"
    assert dotted(doc, "n", "default") is None
    assert dotted(doc, ".") is doc


API = ApiSpec(url="https://kamnotra.io/api/disputes?page={page}", items="data", id="id",
              next="links.next", total="meta.total", record_url="https://kamnotra.io/{lang}/disputes/{id}")


def test_api_page() -> None:
    items = [{"id": 7, "name": "ភូមិ ក"}, {"id": "8", "name": "B"}, {"id": 7, "name": "dup"},
             {"name": "no id"}, {"id": True}, {"id": None}]
    body = json.dumps({"data": items, "links": {"next": "/api/disputes?page=3"}, "meta": {"total": "១ ២៣៤"}},
                      ensure_ascii=False).encode()
    got = api_page(API, "https://kamnotra.io/api/disputes?page=2", body)
    assert got == ApiResult(items=[("7", items[0]), ("8", items[1])],
                            next="https://kamnotra.io/api/disputes?page=3", total=1234, skipped=3)
    assert got.items[0][1]["name"] == "ភូមិ ក"


def test_api_page_last_page_and_numbers() -> None:
    body = json.dumps({"data": None, "links": {"next": None}, "meta": {"total": 40}}).encode()
    assert api_page(API, "https://kamnotra.io/api/disputes?page=9", body) == ApiResult([], None, 40, 0)
    body = json.dumps({"data": [], "links": {"next": 4}, "meta": {"total": 40.0}}).encode()
    assert api_page(API, "https://kamnotra.io/api/disputes?page=3", body) == \
        ApiResult([], "https://kamnotra.io/api/disputes?page=4", 40, 0)
    same = json.dumps({"data": [], "links": {"next": "?page=3"}}).encode()
    assert api_page(API, "https://kamnotra.io/api/disputes?page=3", same).next is None


def test_api_page_bare_list_and_item_as_id() -> None:
    spec = ApiSpec(url="https://e.org/ids?page={page}", items=".", id=".")
    assert api_page(spec, "https://e.org/ids?page=1", b"\xef\xbb\xbf[3, 4, 3]").items == [("3", 3), ("4", 4)]


@pytest.mark.parametrize("body, message", [
    (b"<html>oops</html>", "not JSON"),
    (b"\xff\xfe\x00", "not JSON"),
    (b'{"data": {"id": 1}}', "'data' is dict, not a list"),
    (b'{"items": []}', "no 'data' in the JSON response"),
])
def test_api_page_errors(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        api_page(API, "https://kamnotra.io/api/disputes?page=1", body)
