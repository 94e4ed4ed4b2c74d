"""CDXJ lines: ``SURT-key 14-digit-timestamp {json}``, the index format pywb reads.

The catalog holds the same rows for lookups; the .cdxj file beside each sealed WARC
is the portable copy that travels with it to every store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable


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
    return f"{row['urlkey']} {row['timestamp']} {json.dumps(fields, ensure_ascii=False)}"


def parse_cdxj_line(line: str) -> dict[str, Any]:
    urlkey, timestamp, rest = line.rstrip("\n").split(" ", 2)
    return {"urlkey": urlkey, "timestamp": timestamp, **json.loads(rest)}


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
