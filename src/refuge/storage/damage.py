"""Where a stored file that failed its checksum is damaged: the first bad record or line.

`refuge verify` knows a copy is bad from its SHA-256; an archivist deciding whether to
repair, restore or salvage needs to know where. Each kind of file is read as what it is:
a WARC file member by member (every record is its own gzip member, and a member's CRC
covers all of its bytes; an imported uncompressed one record by record, by its digests),
a CDXJ index and the `.sha256` list line by line, the manifest as the JSON it must be.
Only ever run on a copy already found bad, so its cost does not matter to a clean archive.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from pathlib import Path

from refuge.config.errors import BadInput
from refuge.storage.catalog.cdxj import parse_cdxj_line
from refuge.storage.warc.strict import GZIP_MAGIC, damaged
from refuge.storage.warc.validate import check_warc

READ_CHUNK = 1024 * 1024
_SUMS_LINE = re.compile(r"[0-9a-f]{64}  [^\n/]+")


def where_damaged(path: Path, kind: str) -> str | None:
    """One line naming PATH and where in it the first damage is; None when nothing in it
    reads wrong (the bytes are well formed but not the ones recorded) or it cannot be read."""
    try:
        if path.stat().st_size == 0:
            return f"{path}: the file is empty"
        if kind == "warc":
            return _warc(path)
        data = path.read_bytes()
    except OSError:
        return None
    if kind == "cdxj":
        return _lines(path, data, lambda line: _cdxj_line(path.parent, line))
    if kind == "sums":
        return _lines(path, data, _sums_line)
    if kind == "manifest":
        return _manifest(path, data)
    return None


def _warc(path: Path) -> str | None:
    """The first gzip member that does not inflate whole, CRC and length checked; in an
    uncompressed WARC file (an imported one), the first record that does not read whole
    or whose digests do not match."""
    with open(path, "rb") as fh:
        uncompressed = fh.read(5) == b"WARC/"
    if uncompressed:
        try:
            check_warc(path, str(path))
        except BadInput as exc:
            return str(exc)
        return None
    with open(path, "rb") as fh:
        offset, buf = 0, b""  # buf: bytes read but not yet fed, starting at OFFSET
        while True:
            if len(buf) < 2:
                buf += fh.read(READ_CHUNK)
            if not buf:
                return None
            if buf[:2] != GZIP_MAGIC:
                # A flip in the magic bytes, or a file not written one member per record.
                return str(damaged(path, offset, "its bytes do not start a gzip member", hint=False))
            inflater, fed = zlib.decompressobj(16 + zlib.MAX_WBITS), 0
            while not inflater.eof:
                if not buf:
                    buf = fh.read(READ_CHUNK)
                    if not buf:
                        return f"{path}: the record at offset {offset} is cut short: the file ends inside it"
                fed += len(buf)
                try:
                    while buf and not inflater.eof:  # bounded output per call: a payload may inflate a thousandfold
                        inflater.decompress(buf, READ_CHUNK)
                        buf = inflater.unconsumed_tail
                except zlib.error as exc:
                    return str(damaged(path, offset, f"its gzip data does not inflate ({exc})", hint=False))
            buf = inflater.unused_data
            offset += fed - len(buf)


def _lines(path: Path, data: bytes, check: Callable[[str], str | None]) -> str | None:
    """The first line of a text file that is not UTF-8 or not what CHECK accepts."""
    start = 0
    for number, raw in enumerate(data.split(b"\n"), 1):
        if start == len(data):
            return None  # the empty piece after the last newline
        where = f"{path}: line {number} (byte offset {start})"
        if start + len(raw) == len(data):
            return f"{where}: cut short, the file does not end with a newline"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"{where}: not UTF-8 (byte offset {start + exc.start})"
        problem = check(line)
        if problem:
            return f"{where}: {problem}"
        start += len(raw) + 1
    return None


def _cdxj_line(folder: Path, line: str) -> str | None:
    """What is wrong with one line of the index of a WARC file in FOLDER, if anything:
    its syntax, or a record it points to beyond the end of the WARC file it names."""
    try:
        fields = parse_cdxj_line(line, "")
    except BadInput as exc:
        return str(exc).lstrip(": ")
    offset, length, name = fields.get("offset", ""), fields.get("length", ""), fields.get("filename", "")
    if not (offset.isdigit() and length.isdigit()) or not name or "/" in name:
        return "no offset, length and file name of a record"
    try:
        size = (folder / name).stat().st_size
    except OSError:
        return f"names {name}, which is not beside it"
    if int(offset) + int(length) > size:
        return f"points past the end of {name} ({offset} + {length} > {size} bytes)"
    return None


def _sums_line(line: str) -> str | None:
    return None if _SUMS_LINE.fullmatch(line) else "not `<sha256>  <name>`"


def _manifest(path: Path, data: bytes) -> str | None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"{path}: not UTF-8 at byte offset {exc.start}"
    except ValueError as exc:
        return f"{path}: not JSON: {exc}"
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        return f"{path}: JSON, but not a capture manifest (no list of files)"
    return None
