"""/cdx: the CDX server API of pywb (with the Wayback Machine's field names), over the catalog's index.

    answer(engine, query_string) -> Response

Contract:
- The parameters are cdx_params' (pywb's names and meanings); the rows, fields and values
  are pywb's for the same WARC files (cdx_rows), in index order: SURT key, then time.
  Where this server differs from pywb, on purpose, docs/replay.md says so: the default
  output is CDX11 text (pywb's is CDXJ, here output=cdxj), a negative limit gives the last
  N rows (pywb gives none), pages count index rows (pywb's count ZipNum blocks, and only a
  ZipNum index has them), an unknown field or parameter value is refused.
- Fast and bounded whatever the archive's size: rows come from B-tree seeks and ranges
  (storage.catalog.cdx_search), never a scan of the table; an answer holds at most
  MAX_LIMIT rows and reads at most MAX_SCAN index rows (filters, hidden URLs and a from/to
  over a prefix, host or domain drop rows after reading them), pages reach MAX_DEPTH
  rows deep, and regex filters get FILTER_SECONDS in all. An answer cut short by a bound
  the client did not set says so in a ``Refuge-Truncated`` header: ``limit`` (more rows
  than MAX_LIMIT: ask with page=) or ``scan`` (MAX_SCAN rows read: narrow the query).
- A URL taken down (storage.catalog.hidden) is left out, as if never captured.
- Bad parameters: 400, text/plain, one line naming the parameter. No rows: 200, empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from sqlalchemy import Engine
from werkzeug.wrappers import Response

from refuge.config.errors import BadInput
from refuge.mirror.replay import cdx_rows
from refuge.mirror.replay.cdx_params import DEFAULT_PAGE_SIZE, MAX_DEPTH, MAX_LIMIT, MAX_SCAN, CdxQuery, Clock, parse
from refuge.mirror.replay.cdx_rows import HEADERS
from refuge.storage.catalog import cdx_search, hidden
from refuge.storage.catalog.index import Hit, timestamp_seconds


def answer(engine: Engine, query: str) -> Response:
    """The response to /cdx?QUERY."""
    try:
        q = parse(query)
        if q.num_pages:
            return _num_pages(engine, q)
        rows, truncated = _select(engine, q)
    except BadInput as exc:
        return Response(f"{exc}\n", status=400, headers=HEADERS, content_type="text/plain; charset=utf-8")
    body = "".join(cdx_rows.line(r, q.output, q.fields) + "\n" for r in rows)
    response = Response(body, headers=HEADERS, content_type=cdx_rows.CONTENT_TYPES[q.output])
    if truncated:
        response.headers["Refuge-Truncated"] = truncated
    return response


class _Keeper:
    """Whether a row is answered: not taken down, and through every filter."""

    def __init__(self, engine: Engine, q: CdxQuery) -> None:
        self.takedowns = hidden.active(engine)
        self.filters = q.filters
        self.clock = Clock()

    def __call__(self, hit: Hit) -> dict[str, str] | None:
        if len(self.takedowns) and self.takedowns.for_key(hit.urlkey) is not None:
            return None
        fields = cdx_rows.row_fields(hit)
        whole: str | None = None
        for f in self.filters:
            if f.field is None and whole is None:
                whole = cdx_rows.line(fields, "cdxj")  # pywb matches such a filter against the CDXJ line
            if not f.matches(fields, whole or "", self.clock):
                return None
        return fields


def _select(engine: Engine, q: CdxQuery) -> tuple[list[dict[str, str]], str | None]:
    """The rows Q asks for, in the order asked, and why they were cut short (or None)."""
    keep = _Keeper(engine, q)
    if q.paged:
        return _page(engine, q, keep), None
    want = abs(q.limit) if q.limit else MAX_LIMIT
    take = want if q.limit else want + 1  # one more tells that the default limit cut the answer
    if q.closest and q.keys.exact:
        rows = cdx_search.around(engine, q.keys.low, q.closest, since=q.since, until=q.until, cap=MAX_SCAN)
        kept, capped = _take(rows, keep, take)
    elif q.closest:
        # The index is ordered by key first: nearness over a range is a sort of what was read.
        rows = cdx_search.scan(engine, q.keys, since=q.since, until=q.until, cap=MAX_SCAN)
        kept, capped = _take(rows, keep, MAX_SCAN)
        kept = _by_nearness(kept, q.closest)[:take]
    else:
        last_n = q.limit is not None and q.limit < 0  # read from the other end, then turn round
        rows = cdx_search.scan(engine, q.keys, since=q.since, until=q.until, reverse=q.reverse != last_n,
                               cap=MAX_SCAN)
        kept, capped = _take(rows, keep, take)
        if last_n:
            kept.reverse()
    truncated = None
    if len(kept) > want:
        kept, truncated = kept[:want], "limit"
    # Cut by MAX_SCAN: fewer rows than wanted, or (nearness over a range) nearer ones unread.
    if capped and (len(kept) < want or (q.closest and not q.keys.exact)):
        truncated = "scan"
    return kept, truncated


def _take(rows: cdx_search.Rows, keep: _Keeper, n: int) -> tuple[list[dict[str, str]], bool]:
    """Up to N kept rows of ROWS, and whether reading reached ROWS' cap (so more may exist;
    also when the row that reached it was the N-th kept)."""
    kept: list[dict[str, str]] = []
    with rows:
        for hit in rows:
            fields = keep(hit)
            if fields is not None:
                kept.append(fields)
                if len(kept) >= n:
                    break
    return kept, rows.capped


def _page(engine: Engine, q: CdxQuery, keep: _Keeper) -> list[dict[str, str]]:
    """Page Q.page of the query's index rows (pageSize rows each, in index order, from 0);
    then, as pywb does within a page: from/to, filters, sort and limit."""
    size = q.page_size or DEFAULT_PAGE_SIZE
    skip = (q.page or 0) * size
    rows = cdx_search.scan(engine, q.keys, since=q.since, until=q.until, skip=skip, cap=size)
    kept, _ = _take(rows, keep, size)
    if rows.read == 0 and skip:
        found = cdx_search.count(engine, q.keys, since=q.since, until=q.until, cap=MAX_DEPTH)
        raise BadInput(f"page: {q.page} is past the last page, {max(math.ceil(found / size) - 1, 0)} "
                       f"(pages count from 0; pageSize {size})")
    if q.closest:
        kept = _by_nearness(kept, q.closest)
    elif q.reverse:
        kept.reverse()
    if q.limit:
        kept = kept[:q.limit] if q.limit > 0 else kept[q.limit:]
    return kept


def _by_nearness(rows: Iterable[dict[str, str]], ts: str) -> list[dict[str, str]]:
    """ROWS nearest TS first; equally near ones in the order they came (a stable sort, as pywb's)."""
    target = timestamp_seconds(ts)
    return sorted(rows, key=lambda r: abs(timestamp_seconds(r["timestamp"]) - target))


def _num_pages(engine: Engine, q: CdxQuery) -> Response:
    """showNumPages: pywb's answer, a JSON object of pages, pageSize and blocks (here rows)."""
    size = q.page_size or DEFAULT_PAGE_SIZE
    found = cdx_search.count(engine, q.keys, since=q.since, until=q.until, cap=MAX_DEPTH)
    body = json.dumps({"pages": math.ceil(found / size), "pageSize": size, "blocks": found})
    response = Response(body + "\n", headers=HEADERS, content_type="application/json")
    if found >= MAX_DEPTH:
        response.headers["Refuge-Truncated"] = "scan"
    return response
