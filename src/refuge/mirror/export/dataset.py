"""A database snapshot as data an archivist can query: JSON Lines, CSV or SQLite.

One row per record and language: id, lang, url, captured_at, each field, attachments
(url, sha256, size, mime; or url and error), the SHA-256 of the record's page or API
item, and where it sits (WARC file and offset). API items are kept whole. The SQLite
file has a full-text index with the trigram tokenizer, which finds a Khmer word inside
a run of Khmer text (Khmer does not put spaces between words).
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from refuge.config.errors import BadInput

FORMATS = ("jsonl", "csv", "sqlite")
BASE_COLUMNS = ["id", "lang", "url", "captured_at"]
TAIL_COLUMNS = ["attachments", "sha256", "warc_file", "warc_offset", "item"]


def field_names(rows: list[dict[str, Any]], declared: list[str]) -> list[str]:
    names = list(declared)
    for r in rows:
        for name in r["fields"]:
            if name not in names:
                names.append(name)
    return names


def flat(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    out = {"id": row["record_id"], "lang": row["lang"], "url": row["url"], "captured_at": row["captured_at"]}
    for name in fields:
        out[name] = row["fields"].get(name)
    out.update(attachments=row["attachments"], sha256=row["sha256"], warc_file=row["warc_file"],
               warc_offset=row["warc_offset"], item=row["item"])
    return out


def export(rows: list[dict[str, Any]], declared_fields: list[str], fmt: str, out: Path) -> int:
    """Write ROWS to OUT in FMT (through a temporary file, so a failure leaves no half file)."""
    if fmt not in FORMATS:
        raise BadInput(f"--format {fmt}: must be one of {', '.join(FORMATS)}")
    if out.exists() and out.is_dir():
        raise BadInput(f"--out {out}: is a directory; give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = field_names(rows, declared_fields)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        {"jsonl": _jsonl, "csv": _csv, "sqlite": _sqlite}[fmt]([flat(r, fields) for r in rows], fields, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(rows)


def _jsonl(rows: list[dict[str, Any]], fields: list[str], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n")


def _csv(rows: list[dict[str, Any]], fields: list[str], path: Path) -> None:
    columns = BASE_COLUMNS + fields + TAIL_COLUMNS
    # UTF-8 with a byte-order mark: spreadsheet programs then read Khmer correctly.
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
                             for k, v in r.items()})


def _sqlite(rows: list[dict[str, Any]], fields: list[str], path: Path) -> None:
    columns = BASE_COLUMNS + fields + TAIL_COLUMNS
    quoted = ", ".join(f'"{c}"' for c in columns)
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"CREATE TABLE records (rowid INTEGER PRIMARY KEY, {quoted})")
        conn.execute("CREATE INDEX records_by_id ON records (id, lang)")
        placeholders = ", ".join("?" for _ in columns)
        conn.executemany(f"INSERT INTO records ({quoted}) VALUES ({placeholders})", [
            [json.dumps(r[c], ensure_ascii=False) if isinstance(r[c], (list, dict)) else r[c] for c in columns]
            for r in rows])
        text_columns = ", ".join(f'"{c}"' for c in fields) or '"url"'
        # External-content FTS5 over the fields: search with
        #   SELECT records.* FROM records_fts JOIN records ON records.rowid = records_fts.rowid
        #   WHERE records_fts MATCH '"ដីសម្បទាន"'
        conn.execute(f"CREATE VIRTUAL TABLE records_fts USING fts5({text_columns}, content='records', "
                     "content_rowid='rowid', tokenize='trigram')")
        conn.execute("INSERT INTO records_fts(records_fts) VALUES ('rebuild')")
        conn.commit()
    finally:
        conn.close()
