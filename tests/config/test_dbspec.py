"""Database target specs: the two Kamnotra examples parse, and every mistake is named at `refuge add`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refuge.config.dbspec import (
    ApiSpec,
    DatabaseSpec,
    FieldSpec,
    ListingSpec,
    RecordSpec,
    load_spec_file,
    parse_spec,
    spec_as_dict,
    spec_from_dict,
)
from refuge.config.errors import BadInput

GAZETTEER = r'''
# Pages of HTML listings
[listing]
url = "https://kamnotra.io/en/gazetteer?page={page}"
first = 1
records = "a.record-link"
total = ".result-count"

[record]
id = "/records/(\\d+)"
languages = ["km", "en"]
fields = { title = "h1", date = "time::attr(datetime)", ministry = ".ministry" }
attachments = "a[href$='.pdf'], img.scan"
'''

DISPUTES = '''
[api]
url = "https://kamnotra.io/api/disputes?page={page}"
first = 0
items = "data"
id = "id"
next = "links.next"
total = "meta.total"
record_url = "https://kamnotra.io/{lang}/disputes/{id}"

[record]
languages = ["km", "en"]
fields = { title = "h1::text", province = "dd.province" }
'''


def test_gazetteer_listing_spec() -> None:
    spec = parse_spec(GAZETTEER, "kamnotra.toml")
    assert spec.api is None
    assert spec.listing == ListingSpec(url="https://kamnotra.io/en/gazetteer?page={page}", first=1,
                                       records="a.record-link", total=".result-count")
    assert spec.listing.page_url(3) == "https://kamnotra.io/en/gazetteer?page=3"
    assert spec.record == RecordSpec(
        id=r"/records/(\d+)", languages=("km", "en"),
        fields=(FieldSpec("title", "h1", None), FieldSpec("date", "time", "datetime"),
                FieldSpec("ministry", ".ministry", None)),
        attachments="a[href$='.pdf'], img.scan")


def test_in_dispute_api_spec() -> None:
    spec = parse_spec(DISPUTES, "disputes.toml")
    assert spec.listing is None
    assert spec.api == ApiSpec(url="https://kamnotra.io/api/disputes?page={page}", first=0, items="data",
                               id="id", next="links.next", total="meta.total",
                               record_url="https://kamnotra.io/{lang}/disputes/{id}")
    assert spec.api.record_page("42", "km") == "https://kamnotra.io/km/disputes/42"
    assert spec.record.fields == (FieldSpec("title", "h1", None), FieldSpec("province", "dd.province", None))
    assert spec.record.id is None  # the API gives the ids


def test_next_link_instead_of_page_template_and_record_table_optional_for_api() -> None:
    spec = parse_spec('[listing]\nurl = "https://example.org/list"\nnext = "a[rel=next]"\nrecords = "td a"\n'
                      '[record]\nid = "id=(\\\\w+)"\n', "x.toml")
    assert spec.listing is not None and spec.listing.next == "a[rel=next]"
    spec = parse_spec('[api]\nurl = "https://example.org/api"\nnext = "next"\nitems = "."\nid = "."\n', "x.toml")
    assert spec.record == RecordSpec() and spec.api is not None and spec.api.record_url is None


@pytest.mark.parametrize("text", [GAZETTEER, DISPUTES])
def test_round_trip_through_json(text: str) -> None:
    spec = parse_spec(text, "kamnotra.toml")
    d = spec_as_dict(spec)
    again = spec_from_dict(json.loads(json.dumps(d)), "catalog")
    assert again == spec
    assert spec_as_dict(again) == d


def test_as_dict_shape() -> None:
    d = spec_as_dict(parse_spec(GAZETTEER, "k.toml"))
    assert d["listing"] == {"url": "https://kamnotra.io/en/gazetteer?page={page}", "first": 1,
                            "records": "a.record-link", "total": ".result-count"}
    assert d["record"]["fields"] == {"title": "h1", "date": "time::attr(datetime)", "ministry": ".ministry"}
    assert d["record"]["languages"] == ["km", "en"]


def test_field_pseudo_forms() -> None:
    spec = parse_spec('[listing]\nurl = "https://e.org/?p={page}"\nrecords = "a"\n[record]\nid = "(\\\\d+)"\n'
                      '[record.fields]\na = "a.pdf :: attr( HREF )"\nb = "p::text"\nc = "img[alt=\'x\']::attr(data-src)"\n',
                      "x.toml")
    assert spec.record.fields == (FieldSpec("a", "a.pdf", "href"), FieldSpec("b", "p", None),
                                  FieldSpec("c", "img[alt='x']", "data-src"))


def test_load_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "kamnotra.toml"
    path.write_text(GAZETTEER, encoding="utf-8")
    assert load_spec_file(path) == parse_spec(GAZETTEER, "other")
    path.write_text(GAZETTEER.replace("records =", "recrods ="), encoding="utf-8")
    with pytest.raises(BadInput, match=rf"^{path}: \[listing\] unknown key 'recrods'$"):
        load_spec_file(path)
    with pytest.raises(BadInput, match="spec file not found"):
        load_spec_file(tmp_path / "missing.toml")
    (tmp_path / "latin.toml").write_bytes(b'[listing]\nurl = "caf\xe9"\n')
    with pytest.raises(BadInput, match="not UTF-8"):
        load_spec_file(tmp_path / "latin.toml")


LISTING = '[listing]\nurl = "https://kamnotra.io/en/gazetteer?page={page}"\nrecords = "a.record-link"\n'
RECORD = '[record]\nid = "/records/(\\\\d+)"\n'
API = '[api]\nurl = "https://e.org/api?page={page}"\nitems = "data"\nid = "id"\n'


@pytest.mark.parametrize("text, message", [
    (LISTING.replace("records", "recrods") + RECORD, "[listing] unknown key 'recrods'"),
    (LISTING.replace('records = "a.record-link"', 'records = "a["') + RECORD,
     "[listing] records: broken CSS selector 'a[' ("),
    (RECORD, "needs [listing] or [api] (found neither)"),
    (LISTING + API + RECORD, "give [listing] or [api], not both"),
    (LISTING + RECORD + "[extra]\nx = 1\n", "unknown table [extra]"),
    ('stray = 1\n' + LISTING + RECORD, "unknown key 'stray'"),
    ('listing = "x"\n', "[listing] must be a table"),
    ('[listing]\nurl = "https://e.org/?p={page}"\n' + RECORD, "[listing] missing key 'records'"),
    ('[listing]\nrecords = "a"\n' + RECORD, "[listing] missing key 'url'"),
    (LISTING.replace("?page={page}", "") + RECORD, "[listing] url: 'https://kamnotra.io/en/gazetteer' needs a {page}"),
    (LISTING.replace("{page}", "{pgae}") + RECORD, "[listing] url: unknown placeholder {pgae}"),
    (LISTING.replace("https://kamnotra.io", "ftp://kamnotra.io") + RECORD, "[listing] url: 'ftp://"),
    (LISTING.replace("https://kamnotra.io", "kamnotra.io") + RECORD, "is not an http(s) URL with a host"),
    (LISTING + 'first = -1\n' + RECORD, "[listing] first: must be a whole number >= 0, not -1"),
    (LISTING + 'first = "1"\n' + RECORD, "[listing] first: must be a whole number >= 0, not '1'"),
    (LISTING + 'first = true\n' + RECORD, "[listing] first:"),
    (LISTING + 'next = "a:::x"\n' + RECORD, "[listing] next: broken CSS selector"),
    (LISTING + 'total = ""\n' + RECORD, "[listing] total: must be a non-empty string, not empty"),
    (LISTING + 'total = 3\n' + RECORD, "[listing] total: must be a non-empty string, not a number"),
    (LISTING, "[record] missing key 'id'"),
    (LISTING + '[record]\nid = "/records/\\\\d+"\n', "[record] id: '/records/\\\\d+' needs a (group)"),
    (LISTING + '[record]\nid = "/records/(\\\\d+"\n', "[record] id: '/records/(\\\\d+' is not a valid regular"),
    (LISTING + RECORD + 'languages = "km"\n', "[record] languages: must be a list"),
    (LISTING + RECORD + 'languages = ["km", "English"]\n', "[record] languages: 'English' is not a short"),
    (LISTING + RECORD + 'languages = ["km", "km"]\n', "[record] languages: lists a language twice"),
    (LISTING + RECORD + 'fields = { "my title" = "h1" }\n', "[record] fields.my title: a field name must be"),
    (LISTING + RECORD + 'fields = { title = "h1[" }\n', "[record] fields.title: broken CSS selector 'h1['"),
    (LISTING + RECORD + 'fields = { title = 1 }\n', "[record] fields.title: must be a CSS selector string"),
    (LISTING + RECORD + 'fields = { title = "h1::html" }\n', "[record] fields.title: 'h1::html': end with"),
    (LISTING + RECORD + 'fields = { title = "h1::attr()" }\n', "[record] fields.title:"),
    (LISTING + RECORD + 'fields = { title = "::text" }\n', "[record] fields.title: '::text' has no selector"),
    (LISTING + RECORD + 'fields = "h1"\n', "[record] fields: must be a table"),
    (LISTING + RECORD + 'attachments = "a[href$=.pdf"\n', "[record] attachments: broken CSS selector"),
    (LISTING + RECORD + 'colour = "red"\n', "[record] unknown key 'colour'"),
    (API.replace('items = "data"\n', ''), "[api] missing key 'items'"),
    (API.replace('id = "id"', 'id = "a..b"'), "[api] id: 'a..b' is not a dotted path"),
    (API.replace('id = "id"', 'id = "a b"'), "[api] id: 'a b' is not a dotted path"),
    (API + 'total = ""\n', "[api] total: must be a non-empty string"),
    (API.replace("?page={page}", ""), "[api] url: 'https://e.org/api' needs a {page}"),
    (API + 'record_url = "https://e.org/r/"\n', "[api] record_url: 'https://e.org/r/' needs a {id}"),
    (API + 'record_url = "https://e.org/{page}/{id}"\n', "[api] record_url: unknown placeholder {page}"),
    (API + 'record_url = "https://e.org/{lang}/{id}"\n', "[api] record_url: uses {lang} but [record] languages"),
    (API + '[record]\nfields = { t = "h1" }\n', "[record] fields: needs record pages"),
    (API + '[record]\nattachments = "a"\n', "[record] attachments: needs record pages"),
    (API + 'pages = 3\n', "[api] unknown key 'pages'"),
    ('[listing\n', "not valid TOML ("),
])
def test_bad_specs_are_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_spec(text, "kamnotra.toml")
    got = str(info.value)
    assert got.startswith("kamnotra.toml: ")
    assert message in got
    assert "\n" not in got


def test_spec_from_dict_refuses_non_tables() -> None:
    with pytest.raises(BadInput, match="^catalog: a database spec must be a table"):
        spec_from_dict([], "catalog")
    with pytest.raises(BadInput, match=r"^catalog: \[record\] must be a table"):
        spec_from_dict({"api": {"url": "https://e.org/?p={page}", "items": "d", "id": "i"}, "record": 3}, "catalog")


def test_database_spec_defaults() -> None:
    assert DatabaseSpec().record == RecordSpec()


@pytest.mark.parametrize("name", ["id", "url", "lang", "sha256", "item", "rowid", "rank"])
def test_a_field_may_not_take_a_dataset_column_name(name: str) -> None:
    spec = ('[listing]\nurl = "https://x.example/?page={page}"\nrecords = "a"\n'
            f'[record]\nid = "/(\\\\d+)"\nfields = {{ {name} = "h1" }}\n')
    with pytest.raises(BadInput) as err:
        parse_spec(spec, "db.toml")
    assert f"fields.{name}" in str(err.value) and "choose another name" in str(err.value)
