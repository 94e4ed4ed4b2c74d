"""The WARC files inside a package, read through warcio as `warcio check` reads them, with
the memory a hostile file can make it use bounded. What warcio forgives and only writes to
stderr (a gzip member that stops inflating, a record not followed by its blank lines) is
a problem here, found without reading stderr: nothing here swaps sys.stderr, which is the
whole process's, so checks may run in any thread of a server beside others.

check_warc_member(stream, name) reads STREAM (a member of the zip) once, start to end:
every record is parsed by warcio's ArchiveIterator with its digests checked, its block
read to the end (so a gzip member is inflated whole and its CRC checked), and a gzipped
file must be one gzip member per record (warcio refuses one that is not). The bytes are
hashed on the way, so the caller needs no second pass to compare them with
datapackage.json.

What warcio would only print is found per call: a gzipped file's members are inflated
here as the bytes go by, before warcio is handed them (_Members: output thrown away,
CRC and length checked at each member's end; warcio never sees the bytes of a member
that does not inflate, so it has nothing to print); a record not followed by its blank
lines is counted by warcio's iterator (`err_count`), whose warning line still goes to
stderr as `warcio check` writes it.

Bounded memory: warcio reads a record's headers line by line into memory, so a "header"
with no line end (or a gzip member inflating to gigabytes of one) would be held whole.
Between the end of one record's block and the start of the next one's, while warcio parses
headers, it may pull at most HEAD_BYTES from the stream (a gzip member's headers inflate
to at most about a thousand times that); a record whose headers need more is a problem,
and the check stops there. Blocks are read in chunks of CHUNK bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from zlib_ng import zlib_ng

from refuge.storage.warc.header_budget import HEAD_BYTES
from refuge.storage.warc.header_budget import HeaderBudget as _Guarded
from refuge.storage.warc.header_budget import HeadersTooLong as _HeadersTooLong

BLOCK = 16 * 1024  # what warcio reads from the stream at a time
CHUNK = 1024 * 1024
MAX_PROBLEMS = 20
GZIP_MAGIC = b"\x1f\x8b"


class _Damaged(Exception):
    """A gzip member that does not inflate whole, at raw offset OFFSET."""

    def __init__(self, offset: int, why: str) -> None:
        super().__init__(why)
        self.offset, self.why = offset, why


class _Members:
    """GUARDED as warcio reads it, each gzip member inflated on the way (its output thrown
    away, at most CHUNK bytes at a time) so that its CRC and length are checked: bytes that
    do not inflate, a member the file ends inside, or bytes after a member that start no
    other raise _Damaged before warcio is given them. A file that does not start with a
    gzip member is passed through unchecked (warcio reads it as uncompressed WARC)."""

    def __init__(self, guarded: _Guarded) -> None:
        self.guarded = guarded
        self.inflater: Any = None  # the member being inflated, None between members
        self.member = 0  # where it starts
        self.at = 0  # where the bytes not yet inflated start
        self.pending = b""  # a member's first byte, when a read ended after it
        self.plain = False

    def read(self, size: int = -1) -> bytes:
        data = self.guarded.read(size)  # hashed and counted first: a drain after _Damaged hashes on from here
        if not self.plain:
            self._inflate(data)
        return data

    def tell(self) -> int:
        return self.guarded.tell()

    def finish(self) -> None:
        """Read (and inflate) what is left, to the file's end: a member it cuts is damage."""
        self.guarded.block()
        while self.read(CHUNK):
            pass

    def _inflate(self, data: bytes) -> None:
        if not data:
            self._end()
            return
        buf, at = self.pending + data, self.at
        self.pending = b""
        while buf:
            if self.inflater is None:
                if len(buf) < len(GZIP_MAGIC):
                    self.pending = buf
                    break
                if buf[:2] != GZIP_MAGIC:
                    if at == 0:
                        self.plain = True
                        return
                    raise _Damaged(at, "is not a gzip member: the file is not gzip members to its end")
                self.inflater, self.member = zlib_ng.decompressobj(16 + zlib_ng.MAX_WBITS), at
            try:
                self.inflater.decompress(buf, CHUNK)
                while self.inflater.unconsumed_tail:  # bounded output: a member may inflate a thousandfold
                    self.inflater.decompress(self.inflater.unconsumed_tail, CHUNK)
            except zlib_ng.error as exc:
                raise _Damaged(self.member, f"does not inflate ({exc})") from None
            if not self.inflater.eof:
                at += len(buf)
                break
            rest = self.inflater.unused_data
            at += len(buf) - len(rest)
            buf, self.inflater = rest, None
        self.at = at

    def _end(self) -> None:
        if self.inflater is not None:
            raise _Damaged(self.member, "is cut short: the file ends inside it")
        if self.pending:
            raise _Damaged(self.at, "is not a gzip member: one stray byte at the end of the file")


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
    members = _Members(guarded)
    result = WarcCheck()
    records: Any = None
    try:
        records = ArchiveIterator(members, check_digests=True, block_size=BLOCK)
        for record in records:
            guarded.block()
            result.records += 1
            _read_block(record)
            if record.digest_checker.passed is False and len(result.problems) < MAX_PROBLEMS:
                result.problems.append(f"{name}: the record at offset {records.get_record_offset()} "
                                       f"({record.rec_type}): {'; '.join(record.digest_checker.problems)}")
            guarded.headers()
        members.finish()
    except _Damaged as exc:
        result.problems.append(f"{name}: the gzip member at offset {exc.offset} {exc.why}")
        _drain_quietly(guarded, result, name)
    except _HeadersTooLong:
        result.problems.append(f"{name}: the record after offset {_offset(records)} has headers over "
                               f"{HEAD_BYTES} bytes (or no end to them): not checked further")
        _drain_quietly(guarded, result, name)
    except Exception as exc:  # noqa: BLE001 - warcio and zlib raise many kinds for bad bytes: each is a problem
        result.problems.append(f"{name}: not a WARC file warcio reads whole, at offset {_offset(records)}: "
                               f"{_why(exc)}")
        _drain_quietly(guarded, result, name)
    if records is not None and records.err_count:  # warcio counts what it only prints
        result.problems.append(f"{name}: a record is not followed by its two blank lines "
                               f"(a wrong Content-Length?)")
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
