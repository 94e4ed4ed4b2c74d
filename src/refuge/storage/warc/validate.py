"""A WARC file made elsewhere, read whole before any of it enters the archive: every
record parsed, its digests checked, its gzip member inflated to its end; and the index
rows replay needs, as pywb's cdxj-indexer makes them.

`check_warc(path, label)` reads the file at PATH once (twice over for a gzipped one: each
member is inflated alone, then parsed) and returns what it found (CheckedWarc). What is
refused, each by the offset of the record it is in:

- bytes that are not WARC records (not a WARC file at all; an ARC record; a record with
  no Content-Length);
- a gzipped file that is not one gzip member per record (what lets a record be read
  alone from its offset; `warcio recompress` makes one that is), a member that does not
  inflate, whose CRC or length does not match, or that the file's end cuts;
- a record its file ends inside (cut short), or whose block is not followed by its two
  blank lines (a Content-Length that is wrong);
- a record whose headers take more than HEAD_BYTES of the file (or have no end): warcio
  holds a header line whole (storage.warc.header_budget);
- a record whose WARC-Block-Digest, or WARC-Payload-Digest, does not match its bytes, in
  whatever algorithm and base they are written (warcio compares them). A payload digest
  that does not match a chunked response's body is let be when the block digest matches:
  tools differ on whether it covers the chunks' framing (as storage.warc.strict on reading).

Indexed, as cdxj-indexer does: response, revisit and resource records (not a resource of
`application/warc-fields`) of http(s) URLs (and of a browser capture's urn:dom: and
urn:screenshot: URIs), each with its SURT key, 14-digit timestamp,
MIME type (the HTTP Content-Type; a resource's WARC Content-Type), status (None for a
resource), payload digest (sha1 in base 32, computed as cdxj-indexer does, for a response
or resource that states none), length and offset. Requests, warcinfo and metadata records,
and records of other URLs (dns:, metadata://, urn: other than a browser capture's
urn:dom: and urn:screenshot: of an http(s) page), are counted, kept, not indexed.

By default the first problem raises BadInput naming LABEL and the offset, before anything
after it is read. LENIENT: each bad record is listed (BadRecord) and reading goes on: at
the next record after one whose digests fail; after bytes that do not read as a record,
at the next place a record starts (a gzip member inflating to 'WARC/', or a 'WARC/1.'
line). A file with no record good enough to index raises all the same. Memory holds one
record's buffers and the rows.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator

from refuge.config.errors import BadInput, first_line
from refuge.formats.rendered import page_of
from refuge.formats.urls import surt_key
from refuge.storage.warc.header_budget import HEAD_BYTES, HeaderBudget, HeadersTooLong
from refuge.storage.warc.strict import GZIP_MAGIC

READ_CHUNK = 1024 * 1024
INDEXED = ("response", "revisit", "resource")
_MEMBER_START = GZIP_MAGIC + b"\x08"  # the magic and deflate, the only method gzip has
_RECORD_LINE = b"\nWARC/1."
_OPENING = 1024  # bytes of a gzip member inflated to see whether it opens a record
_RESERVED_FLAGS = 0xE0  # gzip header flag bits that must be zero (RFC 1952)


@dataclass(frozen=True)
class BadRecord:
    """Bytes at OFFSET that are not a good record, and why (URL: the record's, if it has one)."""

    offset: int
    why: str
    url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "url": self.url, "why": self.why}


@dataclass
class CheckedWarc:
    """What check_warc found in one file."""

    gzipped: bool
    records: int = 0  # every record read, good or bad
    rows: list[dict[str, Any]] = field(default_factory=list)  # index rows (storage.catalog.schema.cdx)
    bad: list[BadRecord] = field(default_factory=list)
    unindexed: int = 0  # responses, revisits and resources of URLs replay does not serve

    def span(self) -> tuple[str, str] | None:
        """The earliest and latest timestamp of the indexed records."""
        stamps = [r["timestamp"] for r in self.rows]
        return (min(stamps), max(stamps)) if stamps else None


class _Unreadable(Exception):
    """What follows OFFSET does not read as records: reading goes on where one next starts."""

    def __init__(self, offset: int, why: str, url: str | None = None) -> None:
        super().__init__(why)
        self.bad = BadRecord(offset, why, url)


def check_warc(path: Path, label: str, lenient: bool = False) -> CheckedWarc:
    """Read the WARC file at PATH whole (see the module's docstring); LABEL names it in errors."""
    with open(path, "rb") as fh:
        result = CheckedWarc(gzipped=fh.read(2) == GZIP_MAGIC)

    def problem(bad: BadRecord) -> None:
        if not lenient:
            raise BadInput(describe(label, bad, first=result.records == 0))
        if not (result.bad and result.bad[-1].offset == bad.offset):  # one line per place
            result.bad.append(bad)

    with open(path, "rb") as fh, open(path, "rb") as other:
        size = fh.seek(0, 2)
        if result.gzipped:
            _gzipped(fh, other, size, result, problem)
        else:
            _plain(fh, other, size, result, problem)
    if result.records == 0 and not result.bad:
        raise BadInput(f"{label}: holds no WARC records (the file is empty)")
    if result.bad and not result.rows:
        more = f" (and {len(result.bad) - 1} more bad records)" if len(result.bad) > 1 else ""
        raise BadInput(f"{describe(label, result.bad[0], first=result.records == 0)}{more}; "
                       f"nothing in it can be imported")
    return result


def describe(label: str, bad: BadRecord, first: bool = False) -> str:
    """One line naming the file, the offset and what is wrong there (FIRST: nothing read as
    a record before it, so a problem at offset 0 says the file is no readable WARC file)."""
    if first and bad.offset == 0:
        return f"{label}: not a readable WARC file: the record at offset 0 {bad.why}"
    return f"{label}: the record at offset {bad.offset} {bad.why}"


# -- gzipped: member by member ------------------------------------------------------------

def _gzipped(fh: BinaryIO, other: BinaryIO, size: int, result: CheckedWarc,
             problem: Callable[[BadRecord], None]) -> None:
    for offset, length, why in _members(fh, size):
        if why is not None:
            problem(BadRecord(offset, why))
            continue
        other.seek(offset)
        budget = HeaderBudget(_Window(other, offset, offset + length), start=offset, hashed=False)
        records = ArchiveIterator(budget, check_digests=True)
        try:
            record = _next(records, offset)
            if record is None:
                raise _Unreadable(offset, "is cut short: its gzip member holds no whole record")
            row = _counted(records, record, offset, budget, result, problem)
            budget.headers()
            try:  # warcio says a member holding more than one record is "non-chunked gzip"
                shared = records.err_count > 0 or _next(records, offset) is not None
            except _Unreadable:
                shared = True
            if shared:
                raise _Unreadable(offset, "shares its gzip member with more bytes than its own: the file is not "
                                          "one gzip member per record (`warcio recompress` makes one that is)")
            if row is not None:
                result.rows.append(row)
        except _Unreadable as exc:
            problem(exc.bad)
        finally:
            records.close()


def _members(fh: BinaryIO, size: int) -> Iterator[tuple[int, int | None, str | None]]:
    """(offset, length, None) for each gzip member of FH that inflates whole, CRC and length
    checked; (offset, None, why) for bytes that do not. Only when the caller goes on after
    those (lenient) is where a member next starts looked for, and reading resumes there."""
    fh.seek(0)
    offset, buf = 0, b""  # buf: bytes read and not yet fed, starting at OFFSET
    while True:
        if len(buf) < 2:
            buf += fh.read(READ_CHUNK)
        if not buf:
            return
        why: str | None = "is not a gzip member"
        if buf[:2] == GZIP_MAGIC:
            inflater, fed, why = zlib.decompressobj(16 + zlib.MAX_WBITS), 0, None
            while not inflater.eof:
                if not buf:
                    buf = fh.read(READ_CHUNK)
                    if not buf:
                        why = "is cut short: the file ends inside its gzip member"
                        break
                fed += len(buf)
                try:
                    while buf and not inflater.eof:  # bounded output per call: a payload may inflate a thousandfold
                        inflater.decompress(buf, READ_CHUNK)
                        buf = inflater.unconsumed_tail
                except zlib.error as exc:
                    why = f"is corrupt: its gzip data does not inflate ({exc})"
                    break
            if why is None:
                buf = inflater.unused_data
                yield offset, fed - len(buf), None
                offset += fed - len(buf)
                continue
        yield offset, None, why
        resume = _next_start(fh, offset + 1, size, gzipped=True)
        fh.seek(resume)
        offset, buf = resume, b""


# -- uncompressed: one pass, on from the next record after bytes that are not one ---------

def _plain(fh: BinaryIO, other: BinaryIO, size: int, result: CheckedWarc,
           problem: Callable[[BadRecord], None]) -> None:
    start = 0  # where the next record starts
    while start < size:
        fh.seek(start)
        budget = HeaderBudget(fh, start=start, hashed=False)
        records = ArchiveIterator(budget, check_digests=True)
        try:
            while (record := _next(records, start)) is not None:
                row = _counted(records, record, start, budget, result, problem)
                offset = records.get_record_offset()
                if records.err_count:
                    raise _Unreadable(offset, "is not followed by the two blank lines that end a record: "
                                              "its Content-Length is wrong")
                if row is not None:
                    result.rows.append(row)
                start = _after_blank_lines(other, offset + records.get_record_length(), size)
                budget.headers()
            if start >= size:
                return
            # warcio ends quietly where a record's headers are cut off by the end of the file.
            raise _Unreadable(start, "is cut short: the file ends inside its headers")
        except _Unreadable as exc:
            bad = exc.bad
        finally:
            records.close()
        problem(bad)
        start = _next_start(other, bad.offset + 1, size, gzipped=False)


def _counted(records: ArchiveIterator, record: Any, start: int, budget: HeaderBudget, result: CheckedWarc,
             problem: Callable[[BadRecord], None]) -> dict[str, Any] | None:
    """RECORD (at START) counted in RESULT and read with the header budget moved to its
    block: its index row, or None when it is not indexed (bad, or of a kind not indexed)."""
    result.records += 1
    budget.block()
    try:
        return _take(records, record, start, problem)
    except _Skipped:
        result.unindexed += 1
        return None


def _next(records: ArchiveIterator, start: int) -> Any:
    """The next record warcio reads, None at the end; what it cannot read, _Unreadable at START."""
    try:
        return next(records, None)
    except HeadersTooLong:
        raise _Unreadable(start, f"has headers over {HEAD_BYTES} bytes (or no end to them)") from None
    except Exception as exc:  # noqa: BLE001 - warcio fails on what is not a record in many ways
        raise _Unreadable(start, f"is not a WARC record ({type(exc).__name__}: {first_line(exc)})") from None


def _after_blank_lines(fh: BinaryIO, end: int, size: int) -> int:
    """Where the record after the one ending at END starts: past the blank lines between."""
    fh.seek(end)
    gap = fh.read(64)
    return min(end + len(gap) - len(gap.lstrip(b"\r\n")), size)


# -- one record ---------------------------------------------------------------------------

class _Skipped(Exception):
    """A good record replay does not serve: of a URL that is not http(s)."""


def _take(records: ArchiveIterator, record: Any, start: int,
          problem: Callable[[BadRecord], None]) -> dict[str, Any] | None:
    """Read RECORD (which starts at START) to its end and check it: its index row, None when
    it is not indexed (or bad, and given to PROBLEM); _Skipped for one of a URL not served."""
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or None
    if record.format != "warc":
        raise _Unreadable(start, "is an ARC record: only WARC files are imported", url)
    if not (headers.get_header("Content-Length") or "").strip().isdigit():
        raise _Unreadable(start, "has no valid Content-Length (is it cut short?)", url)
    rectype = record.rec_type
    # cdxj-indexer's digest for a record that states none: sha1 of the payload, base 32.
    computed = hashlib.sha1() if rectype in ("response", "resource") \
        and not headers.get_header("WARC-Payload-Digest") else None
    stream = record.raw_stream
    try:
        while chunk := stream.read(READ_CHUNK):
            if computed is not None:
                computed.update(chunk)
    except Exception as exc:  # noqa: BLE001 - a chunk warcio cannot read (a bad HTTP framing)
        raise _Unreadable(start, f"cannot be read ({type(exc).__name__}: {first_line(exc)})", url) from None
    left = getattr(stream, "limit", 0)
    if left:
        raise _Unreadable(start, f"is cut short: it ends {left} bytes before its stated length", url)
    offset, length = records.get_record_offset(), records.get_record_length()
    why = _digest_problem(record)
    if why is not None:
        problem(BadRecord(offset, why, url))
        return None
    if rectype not in INDEXED or (rectype == "resource" and _media_type(headers.get_header("Content-Type"))
                                  == "application/warc-fields"):
        return None
    if not url or not (url.lower().startswith(("http://", "https://")) or page_of(url) is not None):
        raise _Skipped
    stamp = "".join(c for c in headers.get_header("WARC-Date") or "" if c.isdigit())[:14]
    if len(stamp) != 14:
        problem(BadRecord(offset, "has no WARC-Date", url))
        return None
    http = record.http_headers
    status = None
    if rectype != "resource" and http is not None and http.get_statuscode().isdigit():
        status = int(http.get_statuscode())
    mime = _media_type(headers.get_header("Content-Type") if rectype == "resource"
                       else (http.get_header("Content-Type") if http is not None else None))
    digest = headers.get_header("WARC-Payload-Digest") or ""
    if computed is not None:
        digest = "sha1:" + base64.b32encode(computed.digest()).decode("ascii")
    return {"urlkey": surt_key(url), "timestamp": stamp, "url": url, "mime": (mime or "unk")[:255],
            "status": status, "digest": digest[:80], "length": length, "offset": offset, "rectype": rectype}


def _digest_problem(record: Any) -> str | None:
    """Why RECORD's bytes are not what its digests say, or None (no digest stated is not a
    problem: a revisit has no block to check, and many tools write none on metadata)."""
    headers = record.rec_headers
    problems = record.digest_checker.problems
    if any(p.startswith("block digest failed") for p in problems):
        return f"is corrupt: its bytes do not match its WARC-Block-Digest ({headers.get_header('WARC-Block-Digest')})"
    if any(p.startswith("payload digest failed") for p in problems):
        http = record.http_headers
        chunked = http is not None and "chunked" in (http.get_header("Transfer-Encoding") or "").lower()
        if not (chunked and headers.get_header("WARC-Block-Digest")):
            return (f"is corrupt: its payload does not match its WARC-Payload-Digest "
                    f"({headers.get_header('WARC-Payload-Digest')})")
    return None


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


# -- finding where records start again --------------------------------------------------

def _next_start(fh: BinaryIO, after: int, size: int, gzipped: bool) -> int:
    """The first offset at or after AFTER where a record starts (SIZE if none does): a gzip
    member whose first bytes inflate to 'WARC/', or, uncompressed, a 'WARC/1.' line."""
    marker = _MEMBER_START if gzipped else _RECORD_LINE
    pos = after if gzipped else after - 1  # uncompressed: the marker begins with the newline before
    while pos < size:
        fh.seek(pos)
        window = fh.read(READ_CHUNK + _OPENING)  # each candidate in the first READ_CHUNK with its opening
        found = window.find(marker)
        while found != -1 and found < READ_CHUNK:
            candidate = pos + found + (0 if gzipped else 1)
            if candidate >= after and (not gzipped or _opens_record(window[found:found + _OPENING])):
                return candidate
            found = window.find(marker, found + 1)
        pos += READ_CHUNK
    return size


def _opens_record(head: bytes) -> bool:
    """Whether HEAD, the first bytes of what may be a gzip member, inflates to a WARC
    record's first line."""
    if len(head) < 10 or head[3] & _RESERVED_FLAGS:  # no gzip header: nothing to inflate
        return False
    try:
        out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 16)
    except zlib.error:
        return False
    return out.startswith(b"WARC/")


class _Window:
    """Bytes START..END of FH, read from FH's position (START) on; tell() is FH's offset, so
    the records warcio finds here have their offsets in the whole file."""

    def __init__(self, fh: BinaryIO, start: int, end: int) -> None:
        self._fh, self._pos, self._end = fh, start, end

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        most = self._end - self._pos
        data = self._fh.read(most if size is None or size < 0 else min(size, most))
        self._pos += len(data)
        return data

    def close(self) -> None:
        """The file is the caller's."""
