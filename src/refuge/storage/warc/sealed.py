"""Sealed WARC files: registering them with their index, and recovering after a crash.

Order of events for one file: the writer fsyncs and renames '<name>.open' to
'<name>'; then :func:`register_sealed` writes '<name without .warc.gz>.cdxj'
atomically and records both files and the index rows in one transaction.

A crash before the rename leaves an '.open' file. :func:`recover` salvages it: the
records are read in order, each one's digests checked, and the file is cut after the
last whole response (a request whose response never came, a torn gzip member or a
record whose digest is wrong ends it); what remains is sealed and indexed like any
file, so nothing the killed capture wrote whole is fetched again or lost to readers.
A file with no whole response is moved aside as '.incomplete' (kept as evidence,
never served). A crash after the rename but before the transaction leaves a sealed
file the catalog does not know, which :func:`recover` indexes from the file itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, select
from warcio.archiveiterator import ArchiveIterator

from refuge.formats.urls import surt_key
from refuge.storage import catalog
from refuge.storage.catalog.cdxj import write_cdxj
from refuge.storage.catalog.schema import captures, targets

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
OPEN_SUFFIX = ".open"
INCOMPLETE_SUFFIX = ".incomplete"
DAMAGED_SUFFIX = ".damaged"  # a sealed file the catalog missed that cannot be read: kept, set aside
# Resources too: a browser capture's rendered DOM and screenshot (urn:dom:, urn:screenshot:).
_INDEXED_TYPES = ("response", "revisit", "resource")


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
    """Index rows for every response, revisit and resource record in a WARC file (not a
    resource of application/warc-fields), and its record count."""
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
            # A resource has no HTTP head: its WARC Content-Type is its media type.
            declared = record.rec_headers.get_header("Content-Type") if rectype == "resource" \
                else (http.get_header("Content-Type") if http else None)
            mime = (declared or "").split(";", 1)[0].strip().lower()
            if rectype == "resource" and mime == "application/warc-fields":
                it.read_to_end(record)
                continue
            status = int(http.get_statuscode()) if http and http.get_statuscode().isdigit() else None
            digest = record.rec_headers.get_header("WARC-Payload-Digest") or ""
            it.read_to_end(record)
            rows.append({
                "urlkey": surt_key(url), "timestamp": "".join(c for c in date if c.isdigit())[:14], "url": url,
                "mime": mime or "unk", "status": status, "digest": digest,
                "length": it.get_record_length(), "offset": it.get_record_offset(), "rectype": rectype,
            })
    return rows, count


def recover(engine: Engine, data_dir: Path, archive_dir: Path, target: str | None = None,
            owned: str | None = None) -> dict[str, list[str]]:
    """Make the archive directory and the catalog agree after a crash.

    Only files of captures that are no longer running are touched, and those of OWNED,
    the running capture the caller holds (a capture being resumed). Without TARGET (the
    whole archive, at service start), interrupted captures are left alone too.
    """
    report: dict[str, list[str]] = {"incomplete": [], "indexed": [], "salvaged": [], "damaged": []}
    if not archive_dir.exists():
        return report
    with engine.connect() as conn:
        query = select(captures.c.id, captures.c.status, captures.c.target_id)
        if target is not None:
            query = query.join(targets, targets.c.id == captures.c.target_id).where(targets.c.name == target)
        states = {row.id: (row.status, row.target_id) for row in conn.execute(query)}
    # Only the holder of a target (its running capture, OWNED) touches that target's
    # interrupted captures: another process may be resuming one. The pass over the whole
    # archive at service start leaves them to the capture that resumes them.
    busy = ("running",) if target is not None else ("running", "interrupted")
    settled = {cid: target_id for cid, (status, target_id) in states.items() if status not in busy or cid == owned}
    # One target's directory when a capture of it starts; the whole archive at service start.
    files = f"{target}/*" if target is not None else "*/*"
    for path in sorted(archive_dir.glob(f"{files}/*.warc.gz{OPEN_SUFFIX}")):
        if path.parent.name not in settled:
            continue
        try:
            sealed_path = salvage(path)
        except OSError as exc:  # one unreadable file must not stop every later capture and start
            log.error("%s: cannot salvage it (%s); set aside", path, exc)
            sealed_path = None
        if sealed_path is None:
            aside = path.with_name(path.name[: -len(OPEN_SUFFIX)] + INCOMPLETE_SUFFIX)
            path.rename(aside)
            report["incomplete"].append(str(aside))
            log.warning("moved aside a WARC file that was never sealed and holds no whole response: %s", aside)
        else:
            report["salvaged"].append(str(sealed_path))
    known = catalog.known_file_names(engine, states if target is not None else None)
    for path in sorted(archive_dir.glob(f"{files}/*.warc.gz")):
        capture_id = path.parent.name
        if path.name in known or capture_id not in settled:
            continue
        try:
            rows, count = index_warc(path)
        except OSError as exc:  # perhaps passing (EIO, EMFILE): left as it is for the next pass
            log.error("%s: cannot read it to index it (%s); left for the next capture to try", path, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - warcio fails in many ways on a damaged file
            # Set aside as it is, so one damaged file does not fail every later capture.
            aside = path.with_name(path.name + DAMAGED_SUFFIX)
            try:
                path.rename(aside)
            except OSError as moved:
                log.error("%s: damaged (%s) and cannot be set aside (%s)", path, exc, moved)
                continue
            report["damaged"].append(str(aside))
            log.error("%s: cannot index it (%s: %s); set aside as %s", path, type(exc).__name__, exc, aside.name)
            continue
        register_sealed(engine, data_dir, capture_id, settled[capture_id], path, _sha256_file(path),
                        path.stat().st_size, count, rows)
        report["indexed"].append(str(path))
        if str(path) not in report["salvaged"]:
            log.warning("indexed a sealed WARC file the catalog had missed: %s", path)
    return report


def salvage(open_path: Path) -> Path | None:
    """Seal what a killed writer left in OPEN_PATH up to its last whole response.

    Returns the sealed file's path (to be indexed), or None when nothing in it is whole.
    """
    keep = whole_prefix(open_path)
    if keep == 0:
        return None
    with open(open_path, "r+b") as fh:
        cut = fh.seek(0, 2) - keep
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    sealed_path = open_path.with_name(open_path.name[: -len(OPEN_SUFFIX)])
    os.replace(open_path, sealed_path)
    fsync_dir(sealed_path.parent)
    log.warning("salvaged %s: kept %d bytes of whole records%s", sealed_path, keep,
                f", cut {cut} bytes of a record the writer never finished" if cut else "")
    return sealed_path


def whole_prefix(path: Path) -> int:
    """How many leading bytes of the WARC at PATH hold whole records, ending with a
    response (or revisit, or anything but a request): 0 when there is none."""
    keep = 0
    with open(path, "rb") as fh, open(path, "rb") as members:
        records = ArchiveIterator(fh, check_digests=True)
        try:
            for record in records:
                records.read_to_end(record)
                if record.digest_checker.passed is False:
                    break  # bytes that are not what was fetched: cut before them
                offset, length = records.get_record_offset(), records.get_record_length()
                if not _whole_member(members, offset, length):
                    break  # the content reads whole but its gzip member was cut (warcio does not check)
                if record.rec_type not in ("request", "warcinfo"):
                    keep = offset + length
        except Exception as exc:  # noqa: BLE001 - a record torn anywhere (warcio fails in many ways on one)
            log.info("%s: whole records end where one is torn (%s: %s)", path, type(exc).__name__, exc)
        finally:
            records.close()
    return keep


def _whole_member(fh: BinaryIO, offset: int, length: int) -> bool:
    """Whether the LENGTH bytes at OFFSET of FH are one gzip member, trailer and all."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    fh.seek(offset)
    left = length
    while left > 0:
        chunk = fh.read(min(READ_CHUNK, left))
        if not chunk:
            return False
        left -= len(chunk)
        while chunk:  # bounded output per call: a payload may inflate a thousandfold
            inflater.decompress(chunk, READ_CHUNK)
            chunk = inflater.unconsumed_tail
    return inflater.eof and not inflater.unused_data


def fsync_dir(path: Path) -> None:
    """Make a rename in directory PATH survive power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
