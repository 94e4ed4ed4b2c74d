"""The records table of a database snapshot, shared by the replay server's /data/NAME/
and the static index written beside an export: the same rows, different links."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from refuge.mirror.pages.reader import bilingual as _t

# href(url, timestamp) -> where a captured page or file opens, or None when it is not
# in this copy; cell(field, value) -> the HTML of one field's cell.
Href = Callable[[str, str], "str | None"]


def fields_of(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r["fields"]))


def header(fields: list[str], label: Callable[[str], str] = escape) -> str:
    columns = "".join(f"<th>{label(f)}</th>" for f in fields)
    return f"<thead><tr><th>id</th><th>lang</th>{columns}<th>{_t('ឯកសារ', 'files', ' / ')}</th></tr></thead>"


def row_html(r: dict[str, Any], fields: list[str], href: Href,
             cell: Callable[[str, Any], str] | None = None, search_attr: bool = False) -> str:
    """One record's row. SEARCH_ATTR adds the row's text, lowercased, as data-search
    for the offline search script."""
    ts = "".join(c for c in r["captured_at"] if c.isdigit())[:14]
    cell = cell or (lambda _f, v: "" if v is None else escape(str(v)))
    target = href(r["url"], ts) if r["url"] else None
    record = f'<a href="{escape(target)}">{escape(r["record_id"])}</a>' if target else escape(r["record_id"])
    cells = "".join(f"<td>{cell(f, r['fields'].get(f))}</td>" for f in fields)
    files = " ".join(_file_link(a, href, ts) for a in r["attachments"])
    attr = ""
    if search_attr:
        text = " ".join([r["record_id"], *(str(v) for v in r["fields"].values() if v)]).lower()
        attr = f' data-search="{escape(text)}"'
    return f"<tr{attr}><td>{record}</td><td>{escape(r['lang'])}</td>{cells}<td>{files}</td></tr>"


def _file_link(a: dict[str, Any], href: Href, ts: str) -> str:
    name = escape(a["url"].rstrip("/").rsplit("/", 1)[-1] or a["url"])
    if "error" in a:
        return f'<del title="{escape(public_reason(a["error"]))}">{name}</del>'
    target = href(a["url"], ts)
    return f'<a href="{escape(target)}">{name}</a>' if target else name


def snapshot_line(capture_id: str, summary: dict[str, Any]) -> str:
    state = (_t("ពេញលេញ", "complete", " / ") if summary.get("complete")
             else _t("មិនពេញលេញ", "INCOMPLETE", " / "))
    expected = "" if summary.get("expected") is None else f" / {summary['expected']}"
    return (f"{_t('រូបថតទិន្នន័យ', 'Snapshot', ' / ')} {escape(capture_id)} · {state} · "
            f"{summary.get('records', 0)}{expected} {_t('កំណត់ត្រា', 'records', ' / ')}")


def changes_html(d: dict[str, Any], limit: int) -> str:
    parts = [f"<p>{escape(d['from'])} → {escape(d['to'])}</p>"]
    for key, km in (("added", "បានបន្ថែម"), ("removed", "បានដកចេញ"), ("changed", "បានផ្លាស់ប្តូរ")):
        items = "".join(f"<li>{escape(i)}</li>" for i in d[key][:limit])
        parts.append(f"<h2>{_t(km, key, ' / ')}: {len(d[key])}</h2><ul>{items}</ul>")
    parts.append(f"<p>{_t('មិនផ្លាស់ប្តូរ', 'unchanged', ' / ')}: {d['unchanged']}</p>")
    return "".join(parts)


def public_reason(error: str) -> str:
    """Why an attachment is missing, as a public page may say it: its HTTP status, or that it
    was not captured. What the crawler's network answered (which addresses it refused, which
    ports were closed) stays in the snapshot for the admin."""
    return error if error.startswith("HTTP ") else "not captured"
