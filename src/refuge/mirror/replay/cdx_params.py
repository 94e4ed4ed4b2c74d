"""A /cdx query's parameters, read and checked: the CDX server API of pywb, with the Wayback
Machine's field names.

    parse(query_string) -> CdxQuery      BadInput, one line naming the parameter, for anything wrong
    Filter.matches(fields, line, clock)  one filter= against a row (cdx_rows.fields and its CDXJ line)

Parameters (pywb's names and meanings; what differs is said where it is read):
    url          required; 'host/path*' means matchType=prefix, '*.host' matchType=domain
    matchType    exact (default), prefix, host, domain
    from, to     1-14 digit timestamps, inclusive: from '2024' is 2024-01-01 00:00:00, to '2024' the
                 end of 2024
    limit        at most this many rows (default and most: MAX_LIMIT); negative: the last N
    sort         reverse (or reverse=true), or closest with closest=TIMESTAMP (closest alone is enough)
    filter       [!][=|~]field:value, repeatable: '=' equal, '~' a regex matched from the value's
                 start, neither: contains; '!' inverts; no field: the whole CDXJ line. A regex
                 whose counted repeats ({n}, {n,m}) go past MAX_REPEAT, alone or nested (their
                 product), is refused before it is compiled: compiling unrolls them, and
                 (?:(?:a{999}){999}){999} would take gigabytes
    fl, fields   the fields to print, comma-separated
    output       text (default: CDX11 lines, or the fl fields), json (a JSON object a line), cdxj
    page, pageSize, showNumPages   pages of pageSize index rows, counted from 0
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

import regex

from refuge.config.errors import BadInput
from refuge.storage.catalog.cdx_search import KeyRange, search_range

MAX_LIMIT = 10_000  # rows in one answer
MAX_SCAN = 100_000  # index rows read for one answer (filters, hidden URLs and from/to on a range drop some)
DEFAULT_PAGE_SIZE = 1_000
MAX_DEPTH = 1_000_000  # how deep into a key range pages go (an offset costs the rows skipped)
MAX_URL, MAX_FILTERS, MAX_FILTER_CHARS = 4000, 10, 500
FILTER_SECONDS = 1.0  # regex matching, all filters and rows of one answer together
MAX_REPEAT = 1000  # a filter regex's counted repeat, or the product of nested ones
_COUNTED = re.compile(r"\{(\d*)(?:,(\d*))?\}")  # {n} {n,} {,m} {n,m}

CDX11 = ("urlkey", "timestamp", "url", "mime", "status", "digest", "redirect", "robotflags", "length", "offset",
         "filename")
# The Wayback Machine's names for the same fields, and pywb's one-letter ones for filters.
ALIASES = {"original": "url", "mimetype": "mime", "statuscode": "status", "u": "url", "m": "mime", "l": "length",
           "o": "offset", "d": "digest", "t": "timestamp", "k": "urlkey", "f": "filename"}
OUTPUTS = ("text", "json", "cdxj")
SINGLE = ("url", "matchType", "from", "to", "limit", "sort", "reverse", "closest", "fl", "fields", "output",
          "page", "pageSize", "showNumPages")
# Asked for by some clients, not done here: refused rather than ignored, so nobody takes an
# uncollapsed or unresolved answer for what they asked. (gzip=: the answer is never gzipped.)
UNSUPPORTED = ("collapse", "collapseTime", "resolveRevisits", "showResumeKey", "resumeKey", "showDupeCount",
               "showSkipCount", "lastSkipTimestamp", "fastLatest", "showPagedIndex")


class Clock:
    """The time left for one answer's regex matching."""

    def __init__(self, seconds: float = FILTER_SECONDS) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _too_slow()
        return left


def _too_slow() -> BadInput:
    return BadInput(f"filter: the regular expressions took more than {FILTER_SECONDS:g} s; simplify them")


@dataclass(frozen=True)
class Filter:
    """One filter=: FIELD (None: the whole line) compared with VALUE by MODE."""

    field: str | None
    mode: str  # contains | equals | regex
    value: str
    invert: bool
    pattern: regex.Pattern | None = None

    def matches(self, fields: dict[str, str], line: str, clock: Clock) -> bool:
        value = line if self.field is None else fields.get(self.field, "")
        if self.mode == "equals":
            found = value == self.value
        elif self.mode == "contains":
            found = self.value in value
        else:
            try:
                found = self.pattern.match(value, timeout=clock.left()) is not None  # type: ignore[union-attr]
            except TimeoutError:
                raise _too_slow() from None
        return found != self.invert


@dataclass
class CdxQuery:
    url: str
    match_type: str
    keys: KeyRange
    since: str | None = None
    until: str | None = None
    limit: int | None = None  # None: not given
    reverse: bool = False
    closest: str | None = None
    filters: list[Filter] = field(default_factory=list)
    fields: list[str] | None = None  # as asked (aliases kept: they name the JSON keys)
    output: str = "text"
    page: int | None = None
    page_size: int | None = None
    num_pages: bool = False

    @property
    def paged(self) -> bool:
        return self.page is not None or self.page_size is not None


def parse(query: str) -> CdxQuery:
    """The query of a /cdx request, checked; BadInput naming the first bad parameter."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=64)
    except ValueError:
        raise BadInput("query: more than 64 parameters") from None
    single: dict[str, str] = {}
    filters: list[str] = []
    for name, value in pairs:
        if name in UNSUPPORTED:
            raise BadInput(f"{name}: not supported by this CDX server")
        if name == "filter":
            filters.append(value)
        elif name in SINGLE:
            if name in single:
                raise BadInput(f"{name}: given more than once")
            single[name] = value
    url = single.get("url", "").strip()
    if not url:
        raise BadInput("url: missing (the URL, or URL prefix, to look up)")
    if len(url) > MAX_URL:
        raise BadInput(f"url: at most {MAX_URL} characters (got {len(url)})")
    match_type = single.get("matchType", "")
    if not match_type:  # pywb's shorthands, only without an explicit matchType
        if url.startswith("*."):
            url, match_type = url[2:], "domain"
        elif url.endswith("*"):
            url, match_type = url[:-1], "prefix"
        else:
            match_type = "exact"
    q = CdxQuery(url=url, match_type=match_type, keys=search_range(url, match_type))
    q.since = _timestamp("from", single.get("from"), "10000101000000")
    q.until = _timestamp("to", single.get("to"), "29991231235959")
    q.limit = _limit(single.get("limit"))
    sort = single.get("sort", "")
    if sort not in ("", "reverse", "closest"):
        raise BadInput(f"sort: {sort[:40]!r} is not reverse or closest")
    q.reverse = sort == "reverse" or _flag("reverse", single.get("reverse"))
    q.closest = _timestamp("closest", single.get("closest"), "10000101000000")
    if q.closest:
        _check_date("closest", q.closest)
    elif sort == "closest":
        raise BadInput("closest: sort=closest needs closest=TIMESTAMP (1-14 digits)")
    if q.closest and q.limit is not None and q.limit < 0:
        raise BadInput("limit: a negative limit (the last N rows) cannot be used with closest")
    if len(filters) > MAX_FILTERS:
        raise BadInput(f"filter: at most {MAX_FILTERS} filters")
    q.filters = [_filter(f) for f in filters]
    q.fields = _fields(single.get("fl") or single.get("fields"))
    q.output = single.get("output", "") or "text"
    if q.output not in OUTPUTS:
        raise BadInput(f"output: {q.output[:40]!r} is not one of {', '.join(OUTPUTS)}")
    q.page = _whole("page", single.get("page"), 0, MAX_DEPTH)
    q.page_size = _whole("pageSize", single.get("pageSize"), 1, MAX_LIMIT)
    q.num_pages = _flag("showNumPages", single.get("showNumPages"))
    if q.paged and (q.page or 0) * (q.page_size or DEFAULT_PAGE_SIZE) >= MAX_DEPTH:
        raise BadInput(f"page: pages reach {MAX_DEPTH:,} rows into a query at most; narrow url, or use from/to")
    return q


def _timestamp(name: str, value: str | None, pad: str) -> str | None:
    """VALUE (1-14 digits) padded to 14 with PAD's tail, as pywb pads it."""
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 14):
        raise BadInput(f"{name}: {value[:40]!r} is not a timestamp of 1 to 14 digits (YYYYMMDDhhmmss)")
    return value + pad[len(value):]


def _check_date(name: str, ts: str) -> None:
    try:
        datetime.strptime(ts, "%Y%m%d%H%M%S")
    except ValueError:
        raise BadInput(f"{name}: {ts} is not a date and time") from None


def _limit(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise BadInput(f"limit: {value[:40]!r} is not a whole number") from None
    if abs(n) > MAX_LIMIT:
        raise BadInput(f"limit: at most {MAX_LIMIT} rows an answer (use page and pageSize for more)")
    return n or None  # pywb reads limit=0 as no limit


def _whole(name: str, value: str | None, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise BadInput(f"{name}: {value[:40]!r} is not a whole number from {low} to {high}")
    return int(value)


def _flag(name: str, value: str | None) -> bool:
    """pywb's reading of a boolean: anything but empty, 0, false, f or off is true."""
    return bool(value) and value.lower() not in ("0", "false", "f", "off")  # type: ignore[union-attr]


def field_name(name: str, param: str) -> str:
    """The field NAME (or alias) stands for; BadInput naming PARAM for an unknown one."""
    found = ALIASES.get(name, name)
    if found not in CDX11:
        raise BadInput(f"{param}: no field {name[:40]!r} (fields: {', '.join(CDX11)})")
    return found


def _fields(value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        field_name(name, "fl")
    return names or None


def _filter(text: str) -> Filter:
    """pywb's filter syntax: [!][=|~][field:]value."""
    if len(text) > MAX_FILTER_CHARS:
        raise BadInput(f"filter: at most {MAX_FILTER_CHARS} characters")
    invert = text.startswith("!")
    rest = text[1:] if invert else text
    mode = {"=": "equals", "~": "regex"}.get(rest[:1], "contains")
    if mode != "contains":
        rest = rest[1:]
    name, colon, value = rest.partition(":")
    column = field_name(name, "filter") if colon else None
    if not colon:
        value = rest
    pattern = None
    if mode == "regex":
        if "\n" in value or "\r" in value:  # verbose mode's comments run to one; no field holds one
            raise BadInput("filter: a regular expression on one line, please")
        if _repeats(value) > MAX_REPEAT:
            raise BadInput(f"filter: {value[:60]!r} repeats more than {MAX_REPEAT} times ({{n}} counts, "
                           f"nested ones multiplied); use * or + or fewer")
        try:  # not cached: the module keeps hundreds of patterns, and clients choose these
            pattern = regex.compile(value, cache_pattern=False)
        except regex.error as exc:
            raise BadInput(f"filter: {value[:60]!r} is not a regular expression ({exc})") from None
    return Filter(column, mode, value, invert, pattern)


def _repeats(pattern: str) -> int:
    """The largest product of nested counted repeats in PATTERN (1 for none): how many times
    compiling it may unroll one piece. Read without compiling; where the reading is unsure
    (a nested set, a POSIX class) it can only find more repeats than there are, never fewer
    (PATTERN has no line break, so a verbose-mode comment runs to its end)."""
    groups = [1]  # for each open group: the largest product inside it so far
    last, i = 1, 0  # last: the product of the piece a quantifier would repeat
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            last = 1
        elif c == "[":  # a class: up to its first ']' that is not escaped nor first
            i += 1
            i += pattern[i:i + 1] == "^"
            i += pattern[i:i + 1] == "]"
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            last = 1
        elif pattern.startswith("(?#", i):  # a comment, to its first ')'
            end = pattern.find(")", i)
            i = len(pattern) if end == -1 else end + 1
        elif c == "(":
            groups.append(1)
            i += 1
            last = 1
        elif c == ")":
            last = groups.pop() if len(groups) > 1 else 1
            groups[-1] = max(groups[-1], last)
            i += 1
        elif c == "{" and (m := _COUNTED.match(pattern, i)) and (m.group(1) or m.group(2)):
            last *= max(int(n) for n in m.groups() if n)
            groups[-1] = max(groups[-1], last)
            if last > MAX_REPEAT:
                return last
            i = m.end()
        else:
            last = last if c in "*+?" else 1  # after {n}: lazy or possessive, the same repeat
            i += 1
    return max(groups)
