"""The WARC files inside a package, read through warcio as `warcio check` reads them, with
the memory a hostile file can make it use bounded. What warcio forgives and only writes to
stderr (a gzip member that stops inflating, a record not followed by its blank lines) is
a problem here.

check_warc_member(stream, name) reads STREAM (a member of the zip) once, start to end:
every record is parsed by warcio's ArchiveIterator with its digests checked, its block
read to the end (so a gzip member is inflated whole and its CRC checked), and a gzipped
file must be one gzip member per record (warcio refuses one that is not). The bytes are
hashed on the way, so the caller needs no second pass to compare them with
datapackage.json.

Bounded memory: warcio reads a record's headers line by line into memory, so a "header"
with no line end (or a gzip member inflating to gigabytes of one) would be held whole.
Between the end of one record's block and the start of the next one's, while warcio parses
headers, it may pull at most HEAD_BYTES from the stream (a gzip member's headers inflate
to at most about a thousand times that); a record whose headers need more is a problem,
and the check stops there. Blocks are read in chunks of CHUNK bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator

HEAD_BYTES = 64 * 1024
BLOCK = 16 * 1024  # what warcio reads from the stream at a time
CHUNK = 1024 * 1024
MAX_PROBLEMS = 20
_NOTES = 4096  # what is kept of what warcio writes to stderr
# Only warcio's own words count: redirect_stderr is process-wide, so whatever another thread
# writes to sys.stderr meanwhile (a warning, a thread's traceback) lands in the notes too.
_ZLIB_ERROR = re.compile(r"Error -?\d+ while decompressing")


class _HeadersTooLong(Exception):
    pass


class _Guarded:
    """STREAM as warcio reads it: hashed and counted, and limited to HEAD_BYTES while headers
    are parsed (`headers()`; `block()` lifts the limit)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.budget: int | None = HEAD_BYTES

    def headers(self) -> None:
        self.budget = HEAD_BYTES

    def block(self) -> None:
        self.budget = None

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size is not None and size >= 0 else CHUNK)
        self.sha256.update(data)
        self.size += len(data)
        if self.budget is not None:
            self.budget -= len(data)
            if self.budget < 0:
                raise _HeadersTooLong
        return data

    def tell(self) -> int:
        return self.size

    def drain(self) -> None:
        """Read what is left, for the hash."""
        self.block()
        while self.read(CHUNK):
            pass


class _Notes:
    """What warcio writes to stderr (a record not followed by its blank lines), bounded."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        if len(self.text) < _NOTES:
            self.text += text[:_NOTES - len(self.text)]
        return len(text)

    def flush(self) -> None:
        pass


@dataclass
class WarcCheck:
    sha256: str = ""
    size: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)


def check_warc_member(stream: BinaryIO, name: str) -> WarcCheck:
    """Read the WARC file NAME from STREAM (see the module's docstring). Never raises for what
    the bytes are; a stream that cannot be read (a zip CRC error) is a problem too."""
    guarded = _Guarded(stream)
    result = WarcCheck()
    notes = _Notes()
    records: Any = None
    try:
        with contextlib.redirect_stderr(notes):  # type: ignore[type-var]
            records = ArchiveIterator(guarded, check_digests=True, block_size=BLOCK)
            for record in records:
                guarded.block()
                result.records += 1
                _read_block(record)
                if record.digest_checker.passed is False and len(result.problems) < MAX_PROBLEMS:
                    result.problems.append(f"{name}: the record at offset {records.get_record_offset()} "
                                           f"({record.rec_type}): {'; '.join(record.digest_checker.problems)}")
                guarded.headers()
        guarded.drain()
    except _HeadersTooLong:
        result.problems.append(f"{name}: the record after offset {_offset(records)} has headers over "
                               f"{HEAD_BYTES} bytes (or no end to them): not checked further")
        _drain_quietly(guarded, result, name)
    except Exception as exc:  # noqa: BLE001 - warcio and zlib raise many kinds for bad bytes: each is a problem
        result.problems.append(f"{name}: not a WARC file warcio reads whole, at offset {_offset(records)}: "
                               f"{_why(exc)}")
        _drain_quietly(guarded, result, name)
    if "not followed by newline" in notes.text:
        result.problems.append(f"{name}: a record is not followed by its two blank lines "
                               f"(a wrong Content-Length?)")
    elif found := _ZLIB_ERROR.search(notes.text):  # warcio reports a gzip member that stops inflating, and reads on
        said = " ".join(notes.text[found.start():].split())[:200]
        result.problems.append(f"{name}: warcio cannot read it whole (a damaged gzip member?): {said}")
    if result.records == 0 and not result.problems:
        result.problems.append(f"{name}: holds no WARC records")
    result.sha256, result.size = guarded.sha256.hexdigest(), guarded.size
    return result


def _read_block(record: Any) -> None:
    while record.raw_stream.read(CHUNK):
        pass


def _drain_quietly(guarded: _Guarded, result: WarcCheck, name: str) -> None:
    try:
        guarded.drain()
    except Exception as exc:  # noqa: BLE001 - the bytes cannot be read to their end: say so once
        result.problems.append(f"{name}: cannot be read to its end ({_why(exc)})")


def _offset(records: Any) -> str:
    try:
        return str(records.get_record_offset()) if records is not None else "0"
    except Exception:  # noqa: BLE001 - before the first record warcio knows no offset
        return "0"


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if "non-chunked gzip" in text:
        return "not one gzip member per record (`warcio recompress` makes one that is)"
    return (text or type(exc).__name__)[:200]
