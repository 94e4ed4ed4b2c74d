"""A database snapshot's index as static files, for a copy that has no server behind it
(an export on a USB stick, in a bucket, on IPFS).

    index.html     every record of the snapshot, readable with JavaScript off; with it on,
                   a search box filters the rows as you type (Khmer or English, any part
                   of a word: Khmer runs words together)
    changes.html   what changed since the snapshot before
    search.js      the search: a few lines, no dependency, nothing fetched

Every link is relative and comes from HREF, so the files work from file://, under
any path prefix and through any IPFS gateway. A record whose page is WITHHELD (taken
down) is left out of index.html; changes.html lists record ids only and stays as it is.
The same snapshot gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from html import escape
from pathlib import Path

from sqlalchemy import Engine

from refuge.mirror.pages import data_table
from refuge.mirror.pages.reader import bilingual as _t
from refuge.mirror.pages.reader import reader_page
from refuge.storage.catalog import snapshots

SEARCH_JS = """\
// Refuge: filter the records table as you type. Matches any part of the text, so a
// Khmer word is found inside a run of Khmer without spaces.
(function () {
  var form = document.getElementById("search");
  var box = document.getElementById("q");
  var shown = document.getElementById("shown");
  if (!form || !box) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("tbody tr[data-search]"));
  function filter() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var n = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-search");
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      row.hidden = !match;
      if (match) { n += 1; }
    });
    shown.textContent = String(n);
  }
  form.hidden = false;
  form.addEventListener("submit", function (e) { e.preventDefault(); filter(); });
  box.addEventListener("input", filter);
})();
"""


def write_data_index(engine: Engine, target_name: str, folder: Path, href: data_table.Href,
                     capture_id: str | None = None, home: str = "../index.html",
                     withheld: Callable[[str], bool] | None = None) -> list[Path]:
    """Write the snapshot's index into FOLDER; HREF(url, timestamp) gives the path, relative
    to FOLDER, of a captured page or file in this copy (None: not in it); WITHHELD(url)
    says a record's page was taken down. Returns the files."""
    capture_id = snapshots.pick(engine, target_name, capture_id)
    summary = snapshots.snapshot(engine, capture_id) or {}
    rows = snapshots.records(engine, capture_id)
    if withheld is not None:
        rows = [r for r in rows if not r["url"] or not withheld(r["url"])]
    fields = data_table.fields_of(rows)
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(data_table.row_html(r, fields, href, search_attr=True) for r in rows)
    search = (f'<form id="search" hidden><label>{_t("ស្វែងរក", "Search", " / ")} '
              f'<input id="q" type="search" autocomplete="off"></label> '
              f'<span id="shown">{len(rows)}</span> {_t("លទ្ធផល", "shown", " / ")}</form>')
    page = reader_page(
        f"{target_name} — data",
        f"<h1>{escape(target_name)}</h1><p>{data_table.snapshot_line(capture_id, summary)} · "
        f'<a href="changes.html">{_t("ការផ្លាស់ប្តូរ", "Changes", " / ")}</a></p>{search}'
        f"<table>{data_table.header(fields)}<tbody>{body}</tbody></table>",
        home=home, head='<script src="search.js" defer></script>')
    ids = snapshots.snapshot_ids(engine, target_name)
    older = [i for i in ids if i < capture_id]
    if older:
        changes = data_table.changes_html(snapshots.diff(engine, older[-1], capture_id), limit=10_000)
    else:
        changes = f"<p>{_t('មានរូបថតតែមួយប៉ុណ្ណោះ', 'Only one snapshot so far.', ' / ')}</p>"
    written = [
        _write(folder / "index.html", page),
        _write(folder / "changes.html", reader_page(f"{target_name} — changes",
                                                    f"<h1>{escape(target_name)}</h1>{changes}", home=home)),
        _write(folder / "search.js", SEARCH_JS.encode("utf-8")),
    ]
    return written


def _write(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
