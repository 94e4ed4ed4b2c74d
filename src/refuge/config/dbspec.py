"""Database target specs: how to page through a public records database, from a small TOML file.

A `database` target is not crawled link by link: Refuge walks a listing (HTML pages, or a
JSON API) and captures each record page with its attachments. The spec names where the
pages are and which CSS selectors or JSON paths find the records. All of it is checked here,
at `refuge add`, so that a typo is refused in front of the admin with the key named, rather
than turning into a silently empty capture later. Every refusal is a one-line BadInput
"FILE: [table] key: what is wrong".

The catalog stores spec_as_dict() as JSON; spec_from_dict() reads it back through the same
checks. Build specs with parse_spec()/spec_from_dict(): the dataclasses do not validate.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from refuge.config.errors import BadInput


@dataclass(frozen=True, kw_only=True)
class ListingSpec:
    """HTML listing pages: `url` with {page} counted from `first`, or a `next` link to follow."""

    url: str
    first: int = 1
    next: str | None = None    # CSS selector of the link to the following listing page
    records: str               # CSS selector of the links to record pages
    total: str | None = None   # CSS selector of the element that states how many records exist

    def page_url(self, page: int) -> str:
        """The URL of listing page `page` (the url itself when it has no {page})."""
        return self.url.replace("{page}", str(page))


@dataclass(frozen=True, kw_only=True)
class ApiSpec:
    """A paged JSON API: `items` and `id` are dotted paths ("data", "meta.total", "a.0.b")."""

    url: str
    first: int = 1
    items: str
    id: str
    next: str | None = None        # dotted path to the next page's URL (or page number)
    total: str | None = None       # dotted path to the record count
    record_url: str | None = None  # an HTML page per record, with {id} and maybe {lang}

    def page_url(self, page: int) -> str:
        return self.url.replace("{page}", str(page))

    def record_page(self, record_id: str, lang: str | None = None) -> str | None:
        """record_url for one record (and language), or None when the API has no record pages."""
        if self.record_url is None:
            return None
        url = self.record_url.replace("{id}", record_id)
        return url.replace("{lang}", lang) if lang is not None else url


@dataclass(frozen=True)
class FieldSpec:
    """One field read from a record page: the text of `selector`'s first match, or its `attr`."""

    name: str
    selector: str
    attr: str | None = None  # None: the element's text

    def as_text(self) -> str:
        """The spec's own notation: "sel" or "sel::attr(x)"."""
        return self.selector if self.attr is None else f"{self.selector}::attr({self.attr})"


@dataclass(frozen=True)
class RecordSpec:
    id: str | None = None               # regex on the record URL; group 1 is the record's id
    languages: tuple[str, ...] = ()     # values for {lang}, and the URL path segments that vary
    fields: tuple[FieldSpec, ...] = ()
    attachments: str | None = None      # CSS selector of files captured with the record


@dataclass(frozen=True)
class DatabaseSpec:
    """Exactly one of listing and api is set."""

    listing: ListingSpec | None = None
    api: ApiSpec | None = None
    record: RecordSpec = field(default_factory=RecordSpec)


_TABLES = ("listing", "api", "record")
_LISTING_KEYS = {"url", "first", "next", "records", "total"}
_API_KEYS = {"url", "first", "items", "id", "next", "total", "record_url"}
_RECORD_KEYS = {"id", "languages", "fields", "attachments"}
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
# Segments split on dots; "." alone is the document (or item) itself, for APIs returning bare lists.
_DOTTED = re.compile(r"\.|[^.\s]+(?:\.[^.\s]+)*")
_PSEUDO = re.compile(r"(?s)(.*?)\s*::\s*([A-Za-z-]+)\s*(?:\(\s*(.*?)\s*\))?\s*")
_ATTR_NAME = re.compile(r"[^\s\"'>/=()]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@lru_cache(maxsize=1)
def _probe() -> Any:
    """A tiny document to try selectors on; selectolax is imported only when a spec is read."""
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser("<p></p>")


class _Table:
    """One table of the spec being read, so every message names the file, the table and the key."""

    def __init__(self, where: str, name: str, raw: Any, allowed: set[str], required: tuple[str, ...]):
        self.where, self.name = where, name
        if not isinstance(raw, dict):
            raise BadInput(f"{where}: [{name}] must be a table, not {_kind(raw)}")
        for key in raw:  # unknown keys first: 'recrods' is a typo, not a missing 'records'
            if key not in allowed:
                raise BadInput(f"{where}: [{name}] unknown key {key!r}")
        for key in required:
            if key not in raw:
                raise BadInput(f"{where}: [{name}] missing key {key!r}")
        self.raw: dict[str, Any] = raw

    def fail(self, key: str, problem: str) -> BadInput:
        return BadInput(f"{self.where}: [{self.name}] {key}: {problem}")

    def string(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            got = "empty" if isinstance(value, str) else _kind(value)
            raise self.fail(key, f"must be a non-empty string, not {got}")
        return value.strip()

    def selector(self, key: str, value: str | None = None) -> str | None:
        value = self.string(key) if value is None else value
        if value is not None:
            check_selector(value, lambda problem: self.fail(key, problem))
        return value

    def dotted(self, key: str) -> str | None:
        value = self.string(key)
        if value is not None and not _DOTTED.fullmatch(value):
            raise self.fail(key, f"{value!r} is not a dotted path like 'data' or 'meta.total' or 'a.0.b'")
        return value

    def first(self) -> int:
        value = self.raw.get("first", 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail("first", f"must be a whole number >= 0, not {value!r}")
        return value

    def url(self, key: str, allowed: tuple[str, ...], needed: tuple[str, ...]) -> str | None:
        """An http(s) URL template using only `allowed` placeholders, and all of `needed`."""
        value = self.string(key)
        if value is None:
            return None
        names = _PLACEHOLDER.findall(value)
        for name in names:
            if name not in allowed:
                raise self.fail(key, f"unknown placeholder {{{name}}} in {value!r} "
                                     f"(only {', '.join('{' + a + '}' for a in allowed)})")
        for name in needed:
            if name not in names:
                raise self.fail(key, f"{value!r} needs a {{{name}}} placeholder")
        try:
            parts = urlsplit(_PLACEHOLDER.sub("1", value))
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise self.fail(key, f"malformed URL {value!r} ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
            raise self.fail(key, f"{value!r} is not an http(s) URL with a host")
        return value


def check_selector(selector: str, fail: Callable[[str], BadInput] | None = None) -> None:
    """Compile a CSS selector with Lexbor, the parser extraction uses; BadInput if it cannot."""
    try:
        _probe().css(selector)
    except Exception as exc:  # noqa: BLE001 - SelectolaxError, whose home varies by version
        problem = f"broken CSS selector {selector!r} ({str(exc).strip().rstrip('.') or type(exc).__name__})"
        raise (fail(problem) if fail else BadInput(problem)) from None


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _listing(where: str, raw: Any) -> ListingSpec:
    t = _Table(where, "listing", raw, _LISTING_KEYS, ("url", "records"))
    next_sel = t.selector("next")
    url, records = t.url("url", ("page",), () if next_sel else ("page",)), t.selector("records")
    assert url is not None and records is not None  # required keys
    return ListingSpec(url=url, first=t.first(), next=next_sel, records=records, total=t.selector("total"))


def _api(where: str, raw: Any) -> ApiSpec:
    t = _Table(where, "api", raw, _API_KEYS, ("url", "items", "id"))
    next_path = t.dotted("next")
    url = t.url("url", ("page",), () if next_path else ("page",))
    items, id_path = t.dotted("items"), t.dotted("id")
    assert url is not None and items is not None and id_path is not None  # required keys
    return ApiSpec(url=url, first=t.first(), items=items, id=id_path, next=next_path,
                   total=t.dotted("total"), record_url=t.url("record_url", ("id", "lang"), ("id",)))


# Columns of every dataset row (mirror/dataset_export.py), and names SQLite's full-text
# index keeps for itself: a field may not take them.
RESERVED_FIELDS = frozenset({"id", "lang", "url", "captured_at", "attachments", "sha256", "warc_file",
                             "warc_offset", "item", "rowid", "oid", "_rowid_", "rank", "records_fts"})


def _field(t: _Table, name: Any, value: Any) -> FieldSpec:
    key = f"fields.{name}"
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise t.fail(key, "a field name must be an identifier (letters, digits, '_')")
    if name.lower() in RESERVED_FIELDS:
        raise t.fail(key, f"{name!r} is a column every dataset row has already "
                          f"({', '.join(sorted(RESERVED_FIELDS))}); choose another name")
    if not isinstance(value, str) or not value.strip():
        raise t.fail(key, f"must be a CSS selector string, not {'empty' if isinstance(value, str) else _kind(value)}")
    selector, attr = value.strip(), None
    m = _PSEUDO.fullmatch(selector)
    if m:
        selector, pseudo, arg = m.group(1), m.group(2).lower(), m.group(3)
        if pseudo == "attr" and arg and _ATTR_NAME.fullmatch(arg):
            attr = arg.lower()
        elif pseudo != "text" or arg is not None:
            raise t.fail(key, f"{value!r}: end with ::attr(name) for an attribute or ::text for the text")
        if not selector:
            raise t.fail(key, f"{value!r} has no selector before '::'")
    t.selector(key, selector)
    return FieldSpec(name, selector, attr)


def _record(where: str, raw: Any, listing: bool, record_pages: bool, lang_in_url: bool) -> RecordSpec:
    t = _Table(where, "record", raw, _RECORD_KEYS, ())
    id_re = t.string("id")
    if id_re is not None:
        try:
            groups = re.compile(id_re).groups
        except re.error as exc:
            raise t.fail("id", f"{id_re!r} is not a valid regular expression ({exc})") from None
        if groups < 1:
            raise t.fail("id", f"{id_re!r} needs a (group) around the id")
    elif listing:
        raise BadInput(f"{where}: [record] missing key 'id' (a regex with a group, needed with [listing])")
    langs = t.raw.get("languages", [])
    if not isinstance(langs, list):
        raise t.fail("languages", f"must be a list of language codes like [\"km\", \"en\"], not {_kind(langs)}")
    for lang in langs:
        if not isinstance(lang, str) or not _LANGUAGE.fullmatch(lang):
            raise t.fail("languages", f"{lang!r} is not a short language code like 'km' or 'en'")
    if len(set(langs)) != len(langs):
        raise t.fail("languages", "lists a language twice")
    if lang_in_url and not langs:
        raise BadInput(f"{where}: [api] record_url: uses {{lang}} but [record] languages is empty")
    fields_raw = t.raw.get("fields", {})
    if not isinstance(fields_raw, dict):
        raise t.fail("fields", f"must be a table of name = \"selector\", not {_kind(fields_raw)}")
    fields = tuple(_field(t, name, value) for name, value in fields_raw.items())
    attachments = t.selector("attachments")
    if not record_pages:
        for key, used in (("fields", fields), ("attachments", attachments)):
            if used:
                raise t.fail(key, "needs record pages, but [api] has no record_url")
    return RecordSpec(id=id_re, languages=tuple(langs), fields=fields, attachments=attachments)


def spec_from_dict(d: Any, where: str) -> DatabaseSpec:
    """Validate a TOML-shaped dict ({"listing": {...}, "record": {...}}) into a DatabaseSpec."""
    if not isinstance(d, dict):
        raise BadInput(f"{where}: a database spec must be a table, not {_kind(d)}")
    for key, value in d.items():
        if key not in _TABLES:
            what = f"table [{key}]" if isinstance(value, dict) else f"key {key!r}"
            raise BadInput(f"{where}: unknown {what} (expected [listing] or [api], and [record])")
    if "listing" in d and "api" in d:
        raise BadInput(f"{where}: give [listing] or [api], not both")
    if "listing" not in d and "api" not in d:
        raise BadInput(f"{where}: needs [listing] or [api] (found neither)")
    listing = _listing(where, d["listing"]) if "listing" in d else None
    api = _api(where, d["api"]) if "api" in d else None
    record_url = api.record_url if api else None
    record = _record(where, d.get("record", {}), listing is not None,
                     listing is not None or record_url is not None,
                     record_url is not None and "{lang}" in record_url)
    return DatabaseSpec(listing=listing, api=api, record=record)


def parse_spec(text: str, where: str) -> DatabaseSpec:
    """A DatabaseSpec from TOML text; `where` (the file name) starts every error message."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{where}: not valid TOML ({' '.join(str(exc).split())})") from None
    return spec_from_dict(doc, where)


def load_spec_file(path: Path) -> DatabaseSpec:
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"{path}: spec file not found") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_spec(text, str(path))


def spec_as_dict(spec: DatabaseSpec) -> dict[str, Any]:
    """The spec as JSON-able, TOML-shaped data (None left out); spec_from_dict() reads it back."""
    out: dict[str, Any] = {}
    if spec.listing is not None:
        out["listing"] = _present(vars(spec.listing))
    if spec.api is not None:
        out["api"] = _present(vars(spec.api))
    r = spec.record
    out["record"] = _present({
        "id": r.id, "languages": list(r.languages),
        "fields": {f.name: f.as_text() for f in r.fields}, "attachments": r.attachments,
    })
    return out


def _present(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}
