"""Sealed WARC files: registering them with their index, and recovering after a crash.

Order of events for one file: the writer fsyncs and renames '<name>.open' to
'<name>'; then :func:`register_sealed` writes '<name without .warc.gz>.cdxj'
atomically and records both files and the index rows in one transaction. A crash
before the rename leaves an '.open' file that :func:`recover` moves aside as
'.incomplete' (kept as evidence, never served); a crash after the rename but before
the transaction leaves a sealed file the catalog does not know, which :func:`recover`
indexes from the file itself.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from warcio.archiveiterator import ArchiveIterator

from refuge.formats.urls import surt_key
from refuge.storage import catalog
from refuge.storage.catalog.cdxj import write_cdxj
from refuge.storage.catalog.schema import captures, targets

log = logging.getLogger(__name__)

OPEN_SUFFIX = ".open"
INCOMPLETE_SUFFIX = ".incomplete"
_INDEXED_TYPES = ("response", "revisit")


def cdxj_path_for(warc_path: Path) -> Path:
    name = warc_path.name
    stem = name[: -len(".warc.gz")] if name.endswith(".warc.gz") else warc_path.stem
    return warc_path.with_name(stem + ".cdxj")


def register_sealed(engine: Engine, data_dir: Path, capture_id: str, target_id: int, warc_path: Path,
                    sha256: str, size: int, records: int, rows: list[dict[str, Any]]) -> None:
    """Write the sealed WARC's CDXJ file and record both files and the rows in the catalog."""
    cdxj_path = cdxj_path_for(warc_path)
    write_cdxj(cdxj_path, rows, warc_path.name)
    cdxj_bytes = cdxj_path.read_bytes()
    catalog.record_sealed_warc(
        engine, capture_id, target_id,
        warc=dict(name=warc_path.name, path=_relative(warc_path, data_dir), sha256=sha256, size=size,
                  records=records),
        cdxj=dict(name=cdxj_path.name, path=_relative(cdxj_path, data_dir),
                  sha256=hashlib.sha256(cdxj_bytes).hexdigest(), size=len(cdxj_bytes), records=len(rows)),
        rows=rows,
    )


def index_warc(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Index rows for every response and revisit record in a WARC file, and its record count."""
    rows: list[dict[str, Any]] = []
    count = 0
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            count += 1
            rectype = record.rec_type
            if rectype not in _INDEXED_TYPES:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            date = record.rec_headers.get_header("WARC-Date") or ""
            http = record.http_headers
            mime = ((http.get_header("Content-Type") if http else None) or "").split(";", 1)[0].strip().lower()
            status = int(http.get_statuscode()) if http and http.get_statuscode().isdigit() else None
            digest = record.rec_headers.get_header("WARC-Payload-Digest") or ""
            it.read_to_end(record)
            rows.append({
                "urlkey": surt_key(url), "timestamp": "".join(c for c in date if c.isdigit())[:14], "url": url,
                "mime": mime or "unk", "status": status, "digest": digest,
                "length": it.get_record_length(), "offset": it.get_record_offset(), "rectype": rectype,
            })
    return rows, count


def recover(engine: Engine, data_dir: Path, archive_dir: Path, target: str | None = None) -> dict[str, list[str]]:
    """Make the archive directory and the catalog agree after a crash.

    Only files of captures that are no longer running are touched.
    """
    report: dict[str, list[str]] = {"incomplete": [], "indexed": []}
    if not archive_dir.exists():
        return report
    with engine.connect() as conn:
        query = select(captures.c.id, captures.c.status, captures.c.target_id)
        if target is not None:
            query = query.join(targets, targets.c.id == captures.c.target_id).where(targets.c.name == target)
        states = {row.id: (row.status, row.target_id) for row in conn.execute(query)}
    # One target's directory when a capture of it starts; the whole archive at service start.
    files = f"{target}/*" if target is not None else "*/*"
    known = catalog.known_file_names(engine, states if target is not None else None)
    for path in sorted(archive_dir.glob(f"{files}/*.warc.gz{OPEN_SUFFIX}")):
        state = states.get(path.parent.name)
        if state is None or state[0] != "running":
            target = path.with_name(path.name[: -len(OPEN_SUFFIX)] + INCOMPLETE_SUFFIX)
            path.rename(target)
            report["incomplete"].append(str(target))
            log.warning("moved aside a WARC file that was never sealed: %s", target)
    for path in sorted(archive_dir.glob(f"{files}/*.warc.gz")):
        state = states.get(path.parent.name)
        if path.name in known or state is None or state[0] == "running":
            continue
        rows, count = index_warc(path)
        register_sealed(engine, data_dir, path.parent.name, state[1], path, _sha256_file(path),
                        path.stat().st_size, count, rows)
        report["indexed"].append(str(path))
        log.warning("indexed a sealed WARC file the catalog had missed: %s", path)
    return report


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _relative(path: Path, data_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(data_dir.resolve()))
    except ValueError:
        return str(path.resolve())
