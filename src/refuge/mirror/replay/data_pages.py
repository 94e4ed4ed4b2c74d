"""`/data/NAME/`: a database target's newest snapshot as a table readers can search.

    /data/NAME/                  the records (sortable by any field, e.g. ?sort=date&order=desc;
                                 filterable, e.g. ?ministry=...; searchable, ?q=WORDS in Khmer or English)
    /data/NAME/changes           what changed between the last two snapshots

Every record links to its replayed page and to its attachments in the archive. No
script: sorting and filtering are links and a form, so it works on any phone. A record
whose page was taken down (storage.catalog.hidden) is left out of the table; the changes
page lists record ids only and stays as it is.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from sqlalchemy import Engine

from refuge.config.errors import BadInput
from refuge.mirror.pages import data_table
from refuge.mirror.pages.reader import bilingual as _t
from refuge.mirror.pages.reader import reader_page
from refuge.mirror.replay.policy import archive_url
from refuge.storage import catalog
from refuge.storage.catalog import hidden, snapshots

MAX_ROWS = 500  # per page of results; a search narrows it
# A search costs a pass over the snapshot per word: a reader's search fits well within these.
MAX_WORDS, MAX_QUERY_CHARS, MAX_FILTERS = 12, 200, 8


def handle(engine: Engine, target: str) -> tuple[int, bytes] | None:
    """(status, HTML) for a /data/ request, or None when it is not one."""
    path, _, query = target.partition("?")
    parts = [unquote(p) for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] != "data" or len(parts) > 3:
        return None
    name = parts[1]
    try:
        target_row = catalog.get_target(engine, name, include_removed=True)
    except BadInput:
        return 404, _message(f"មិនមានមូលដ្ឋានទិន្នន័យ {name}", f"No database named {name}")
    if target_row.spec.kind != "database":
        return 404, _message(f"{name} មិនមែនជាមូលដ្ឋានទិន្នន័យ", f"{name} is not a database target")
    ids = snapshots.snapshot_ids(engine, name)
    if not ids:
        return 404, _message("មិនទាន់មានរូបថតទិន្នន័យ", "No snapshot yet")
    try:  # the filters, and q, sort and order
        params: dict[str, str] | None = dict(parse_qsl(query, max_num_fields=MAX_FILTERS + 3))
    except ValueError:  # more fields than that
        params = None
    if params is None or _too_long(params):
        return 400, _message(f"ការស្វែងរកវែងពេក៖ យ៉ាងច្រើន {MAX_WORDS} ពាក្យ និង {MAX_QUERY_CHARS} តួអក្សរ",
                             f"Search too long: at most {MAX_WORDS} words and {MAX_QUERY_CHARS} characters")
    if len(parts) == 3:
        if parts[2] != "changes":
            return None
        return 200, _changes(engine, name, ids)
    return 200, _table(engine, name, ids[-1], params)


def _too_long(params: dict[str, str]) -> bool:
    return len(params.get("q", "").split()) > MAX_WORDS or any(len(v) > MAX_QUERY_CHARS for v in params.values())


def _table(engine: Engine, name: str, capture_id: str, params: dict[str, str]) -> bytes:
    summary = snapshots.snapshot(engine, capture_id) or {}
    q = params.pop("q", "").strip()
    sort, order = params.pop("sort", ""), params.pop("order", "asc")
    if q:
        rows = snapshots.records(engine, capture_id, query=q, where=params)
    else:
        rows = [r for r in _rows(engine, capture_id)
                if all((r["fields"].get(k) or "") == v for k, v in params.items())]
    takedowns = hidden.active(engine)
    if takedowns:
        rows = [r for r in rows if not r["url"] or takedowns.for_url(r["url"]) is None]
    fields = data_table.fields_of(rows)
    if sort:
        rows.sort(key=lambda r: (r["fields"].get(sort) or "", r["record_id"]) if sort in fields else r["record_id"],
                  reverse=order == "desc")
    total = len(rows)
    head = (f"<h1>{escape(name)}</h1><p>{data_table.snapshot_line(capture_id, summary)} · "
            f'<a href="/data/{escape(name)}/changes">{_t("ការផ្លាស់ប្តូរ", "Changes", " / ")}</a></p>'
            f'<form method="get" action="/data/{escape(name)}/"><input name="q" value="{escape(q)}" '
            f'aria-label="search"> <button>{_t("ស្វែងរក", "Search", " / ")}</button></form>')
    if q or params:
        head += f"<p>{total} {_t('លទ្ធផល', 'results', ' / ')} · <a href=\"/data/{escape(name)}/\">" \
                f"{_t('បង្ហាញទាំងអស់', 'Show all', ' / ')}</a></p>"

    def sort_link(field: str) -> str:
        query = {"sort": field, "order": _flip(sort, order, field), **({"q": q} if q else {})}
        return f'<a href="?{escape(urlencode(query))}">{escape(field)}</a>'

    def cell(field: str, value: Any) -> str:
        if value is None:
            return ""
        return f'<a href="/data/{escape(name)}/?{escape(urlencode({field: value}))}" title="filter">{escape(str(value))}</a>'

    body = "".join(data_table.row_html(r, fields, lambda url, ts: archive_url(ts, "", url), cell)
                   for r in rows[:MAX_ROWS])
    more = f"<p>{total - MAX_ROWS} more: search to narrow.</p>" if total > MAX_ROWS else ""
    table = f"<table>{data_table.header(fields, sort_link)}<tbody>{body}</tbody></table>{more}"
    return reader_page(f"{name} — data", head + table)


# A snapshot never changes once built: decode its rows (and its diff) once per process,
# not on every request. Two snapshots' worth, so memory stays bounded.
@lru_cache(maxsize=2)
def _rows(engine: Engine, capture_id: str) -> tuple[dict[str, Any], ...]:
    return tuple(snapshots.records(engine, capture_id))


@lru_cache(maxsize=8)
def _diff(engine: Engine, older: str, newer: str) -> dict[str, Any]:
    return snapshots.diff(engine, older, newer)


def _flip(sort: str, order: str, field: str) -> str:
    return "desc" if sort == field and order != "desc" else "asc"


def _changes(engine: Engine, name: str, ids: list[str]) -> bytes:
    if len(ids) < 2:
        return reader_page(f"{name} — changes", f"<h1>{escape(name)}</h1><p>"
                           f"{_t('មានរូបថតតែមួយប៉ុណ្ណោះ', 'Only one snapshot so far.', ' / ')}</p>")
    d = _diff(engine, ids[-2], ids[-1])
    return reader_page(f"{name} — changes", f"<h1>{escape(name)}</h1>" + data_table.changes_html(d, MAX_ROWS))


def _message(km: str, en: str) -> bytes:
    return reader_page("Refuge", f"<p>{_t(km, en, '<br>')}</p>")
