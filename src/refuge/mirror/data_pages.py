"""`/data/NAME/`: a database target's newest snapshot as a table readers can search.

    /data/NAME/                  the records (sortable by any field, e.g. ?sort=date&order=desc;
                                 filterable, e.g. ?ministry=...; searchable, ?q=WORDS in Khmer or English)
    /data/NAME/changes           what changed between the last two snapshots

Every record links to its replayed page and to its attachments in the archive. No
script: sorting and filtering are links and a form, so it works on any phone.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from sqlalchemy import Engine

from refuge.config.errors import BadInput
from refuge.mirror.pages import bilingual as _t
from refuge.mirror.pages import reader_page
from refuge.mirror.rewrite import archive_url
from refuge.storage import catalog, snapshots

MAX_ROWS = 500  # per page of results; a search narrows it


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
    params = dict(parse_qsl(query, keep_blank_values=False))
    if len(parts) == 3:
        if parts[2] != "changes":
            return None
        return 200, _changes(engine, name, ids)
    return 200, _table(engine, name, ids[-1], params)


def _table(engine: Engine, name: str, capture_id: str, params: dict[str, str]) -> bytes:
    summary = snapshots.snapshot(engine, capture_id) or {}
    q = params.pop("q", "").strip()
    sort, order = params.pop("sort", ""), params.pop("order", "asc")
    rows = snapshots.records(engine, capture_id, query=q or None, where=params)
    fields = list(dict.fromkeys(k for r in rows for k in r["fields"]))
    if sort:
        rows.sort(key=lambda r: (r["fields"].get(sort) or "", r["record_id"]) if sort in fields else r["record_id"],
                  reverse=order == "desc")
    total = len(rows)
    state = (_t("ពេញលេញ", "complete", " / ") if summary.get("complete")
             else _t("មិនពេញលេញ", "INCOMPLETE", " / "))
    head = (f"<h1>{escape(name)}</h1>"
            f"<p>{_t('រូបថតទិន្នន័យ', 'Snapshot', ' / ')} {escape(capture_id)} · {state} · "
            f"{summary.get('records', 0)} {_t('កំណត់ត្រា', 'records', ' / ')}"
            f"{'' if summary.get('expected') is None else ' / ' + str(summary['expected'])} · "
            f'<a href="/data/{escape(name)}/changes">{_t("ការផ្លាស់ប្តូរ", "Changes", " / ")}</a></p>'
            f'<form method="get" action="/data/{escape(name)}/"><input name="q" value="{escape(q)}" '
            f'aria-label="search"> <button>{_t("ស្វែងរក", "Search", " / ")}</button></form>')
    if q or params:
        head += f"<p>{total} {_t('លទ្ធផល', 'results', ' / ')} · <a href=\"/data/{escape(name)}/\">" \
                f"{_t('បង្ហាញទាំងអស់', 'Show all', ' / ')}</a></p>"
    columns = "".join(f'<th><a href="?{escape(urlencode({"sort": f, "order": _flip(sort, order, f), **({"q": q} if q else {})}))}">'
                      f"{escape(f)}</a></th>" for f in fields)
    body_rows = []
    for r in rows[:MAX_ROWS]:
        ts = _ts(r["captured_at"])
        record = (f'<a href="{escape(archive_url(ts, "", r["url"]))}">{escape(r["record_id"])}</a>'
                  if r["url"] else escape(r["record_id"]))
        cells = "".join(f"<td>{_cell(name, f, r['fields'].get(f), q)}</td>" for f in fields)
        files = " ".join(
            f'<a href="{escape(archive_url(ts, "", a["url"]))}">{escape(a["url"].rsplit("/", 1)[-1] or a["url"])}</a>'
            if "error" not in a else f'<del title="{escape(a["error"])}">{escape(a["url"].rsplit("/", 1)[-1])}</del>'
            for a in r["attachments"])
        body_rows.append(f"<tr><td>{record}</td><td>{escape(r['lang'])}</td>{cells}<td>{files}</td></tr>")
    more = f"<p>{total - MAX_ROWS} more: search to narrow.</p>" if total > MAX_ROWS else ""
    table = (f"<table><thead><tr><th>id</th><th>lang</th>{columns}<th>{_t('ឯកសារ', 'files', ' / ')}</th></tr>"
             f"</thead><tbody>{''.join(body_rows)}</tbody></table>{more}")
    return reader_page(f"{name} — data", head + table)


def _cell(name: str, field: str, value: Any, q: str) -> str:
    if value is None:
        return ""
    link = f'/data/{escape(name)}/?{escape(urlencode({field: value}))}'
    return f'<a href="{link}" title="filter">{escape(str(value))}</a>'


def _flip(sort: str, order: str, field: str) -> str:
    return "desc" if sort == field and order != "desc" else "asc"


def _changes(engine: Engine, name: str, ids: list[str]) -> bytes:
    if len(ids) < 2:
        return reader_page(f"{name} — changes", f"<h1>{escape(name)}</h1><p>"
                           f"{_t('មានរូបថតតែមួយប៉ុណ្ណោះ', 'Only one snapshot so far.', ' / ')}</p>")
    d = snapshots.diff(engine, ids[-2], ids[-1])
    parts = [f"<h1>{escape(name)}</h1><p>{escape(d['from'])} → {escape(d['to'])}</p>"]
    for key, km in (("added", "បានបន្ថែម"), ("removed", "បានដកចេញ"), ("changed", "បានផ្លាស់ប្តូរ")):
        items = "".join(f"<li>{escape(i)}</li>" for i in d[key][:MAX_ROWS])
        parts.append(f"<h2>{_t(km, key, ' / ')}: {len(d[key])}</h2><ul>{items}</ul>")
    parts.append(f"<p>{_t('មិនផ្លាស់ប្តូរ', 'unchanged', ' / ')}: {d['unchanged']}</p>")
    return reader_page(f"{name} — changes", "".join(parts))


def _message(km: str, en: str) -> bytes:
    return reader_page("Refuge", f"<p>{_t(km, en, '<br>')}</p>")


def _ts(iso: str) -> str:
    return "".join(c for c in iso if c.isdigit())[:14]
