"""CDXJ lines: ``SURT-key 14-digit-timestamp {json}``, the index format pywb reads.

The catalog holds the same rows for lookups; the .cdxj file beside each sealed WARC
is the portable copy that travels with it to every store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from refuge.config.errors import BadInput

# Characters other readers (Python's str.splitlines among them) take for the end of a line,
# as a str.translate table to JSON escapes, so that a value holding one still makes one line
# (json.dumps escapes the rest). The WACZ page list (storage.wacz.pages) writes its lines so too.
LINE_ENDS = {c: f"\\u{c:04x}" for c in (0x85, 0x2028, 0x2029)}


def cdxj_line(row: dict[str, Any], filename: str) -> str:
    """One CDXJ line for an index row (see storage.schema.cdx)."""
    fields = {
        "url": row["url"],
        "mime": row["mime"],
        "status": str(row["status"]) if row.get("status") is not None else "-",
        "digest": row["digest"],
        "length": str(row["length"]),
        "offset": str(row["offset"]),
        "filename": filename,
    }
    if row.get("rectype") == "revisit":
        fields["mime"] = "warc/revisit"
    return f"{row['urlkey']} {row['timestamp']} {json.dumps(fields, ensure_ascii=False).translate(LINE_ENDS)}"


def parse_cdxj_line(line: str, where: str = "CDXJ line") -> dict[str, Any]:
    """The fields of one CDXJ line; BadInput naming WHERE (a file and line number) for a line
    that is not one: three fields, a 14-digit timestamp, a JSON object of strings."""
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) != 3 or not (len(parts[1]) == 14 and parts[1].isascii() and parts[1].isdigit()):
        raise BadInput(f"{where}: not a CDXJ line (SURT key, 14-digit timestamp, JSON)")
    try:
        fields = json.loads(parts[2])
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise BadInput(f"{where}: the third field of a CDXJ line is not a JSON object of strings")
    return {**fields, "urlkey": parts[0], "timestamp": parts[1]}


def write_cdxj(path: Path, rows: Iterable[dict[str, Any]], filename: str) -> None:
    """Write the sorted index for one WARC file atomically (temp name, fsync, rename)."""
    lines = sorted(cdxj_line(r, filename) for r in rows)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
