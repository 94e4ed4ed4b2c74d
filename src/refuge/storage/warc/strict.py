"""Reading one stored record strictly: damaged bytes are refused, never handed on.

warcio forgives damage. A gzip member that stops inflating part-way (a flipped byte, a
CRC that does not match at the member's end) is reported on stderr and read as if it
ended there; one that fails in its first block is read as if it were not compressed.
Either way a reader gets a wrong or short payload and no error. Here any of that raises
a Failure naming the file and the record's offset.

The damage that inflates without error (deflate stores incompressible data as is, so a
flipped byte in a JPEG passes straight through) shows only in the member's CRC, which
comes after the payload. So the record's stream checks the member's end before it hands
over the record's last bytes: a streamed response whose record proves corrupt ends short,
never complete. A record stored without gzip has no CRC; its WARC digests are checked
instead, the same way.
"""

from __future__ import annotations

import io
import zlib
from typing import Any, BinaryIO

from warcio.bufferedreaders import BufferedReader
from warcio.recordloader import ArcWarcRecord, ArcWarcRecordLoader
from warcio.utils import BUFF_SIZE

from refuge.config.errors import Failure, first_line

LOADER = ArcWarcRecordLoader(verify_http=False)  # as ArchiveIterator reads records
GZIP_MAGIC = b"\x1f\x8b"
# What a whole record holds after its block: the two CRLFs closing it. More than this
# much after the block, inside the same gzip member, is not one record.
TAIL_LIMIT = 64 * 1024


def damaged(path: object, offset: int, why: str, hint: bool = True) -> Failure:
    """The one-line error every reader of a stored record gives for damage (HINT: point to
    `refuge verify`, which is what restores it; not in what verify itself says)."""
    see = " (see `refuge verify`)" if hint else ""
    return Failure(f"{path}: the record at offset {offset} is corrupt: {why}{see}")


class _StrictInflater(io.RawIOBase):
    """The gzip member that starts at FH's position, inflated strictly: bytes that do not
    inflate, or a member that stops before its trailer (where zlib checks the CRC and the
    length), raise instead of ending the stream early or passing on compressed bytes."""

    def __init__(self, fh: BinaryIO, path: object, offset: int) -> None:
        self._fh, self._path, self._offset = fh, path, offset
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            if self._inflater.eof:
                return 0
            data = self._inflater.unconsumed_tail or self._fh.read(BUFF_SIZE)
            if not data:
                raise damaged(self._path, self._offset, "its gzip member ends before its trailer")
            try:  # bounded output per call: a payload may inflate a thousandfold
                self._pending = self._inflater.decompress(data, BUFF_SIZE)
            except zlib.error as exc:
                raise damaged(self._path, self._offset, f"its gzip data does not inflate ({exc})") from None
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _drain(reader: BufferedReader, path: object, offset: int) -> None:
    """Read a gzipped record's member to its end, so zlib checks its CRC and length."""
    tail = 0
    while chunk := reader.read(BUFF_SIZE):
        tail += len(chunk)
        if tail > TAIL_LIMIT:
            # Inflating on past the record is the bad data showing before zlib notices it.
            raise damaged(path, offset, "its gzip data does not inflate to one record: "
                                        "it goes on past the record's stated length")


class CheckedStream:
    """A record's raw_stream that checks the record whole before handing over its last bytes.

    Reads, readlines and the remaining `limit` are the wrapped stream's. When the read that
    reaches the end of the record's block comes back, FINISH runs first: on damage it
    raises, and the last bytes are never returned.
    """

    def __init__(self, inner: Any, finish: Any, path: object, offset: int) -> None:
        self._inner, self._finish = inner, finish
        self._path, self._offset = path, offset
        self._done = False
        self._error: Failure | None = None  # raised again on every later read: damage does not go away

    @property
    def limit(self) -> int | None:
        return getattr(self._inner, "limit", None)

    def read(self, length: int | None = None) -> bytes:
        return self._checked(self._inner.read(length), length)

    def readline(self, length: int | None = None) -> bytes:
        return self._checked(self._inner.readline(length), length)

    def _checked(self, data: bytes, asked: int | None) -> bytes:
        if self._error is not None:
            raise self._error
        if self._done:
            return data
        left = self.limit
        if left == 0 or (not data and asked != 0):
            self._done = True
            try:
                if left:  # the stream ended with bytes of the block still owed
                    raise damaged(self._path, self._offset, f"it ends {left} bytes before its stated length")
                self._finish()
            except Failure as exc:
                self._error = exc
                raise
        return data

    def close(self) -> None:
        self._inner.close()


def read_record(fh: BinaryIO, path: object, offset: int) -> ArcWarcRecord:
    """The record at OFFSET of FH (the file at PATH), its raw_stream a CheckedStream.

    A gzip member is inflated strictly and its CRC checked at the end; a record stored
    without gzip has its block digest (or, when it has none, its payload digest) checked.
    """
    fh.seek(offset)
    gzipped = fh.read(2) == GZIP_MAGIC
    fh.seek(offset)
    reader = BufferedReader(_StrictInflater(fh, path, offset) if gzipped else fh, block_size=BUFF_SIZE)
    try:
        record = LOADER.parse_record_stream(reader, check_digests=not gzipped)
    except Failure:
        raise
    except Exception as exc:  # noqa: BLE001 - warcio fails on garbage in many ways, all meaning this
        raise damaged(path, offset, f"it does not parse as a WARC record ({type(exc).__name__}: "
                                    f"{first_line(exc)})") from None
    finish = (lambda: _drain(reader, path, offset)) if gzipped else (lambda: _check_digests(record, path, offset))
    record.raw_stream = CheckedStream(record.raw_stream, finish, path, offset)
    return record


def _check_digests(record: ArcWarcRecord, path: object, offset: int) -> None:
    """Refuse an uncompressed record whose block digest does not match, or, when it has
    none, whose payload digest does not. With a block digest that matches, a payload
    digest that does not is let be: tools differ on whether it covers a chunked body's
    framing, and the block digest, over every byte stored, has no such doubt."""
    problems = record.digest_checker.problems
    has_block = bool(record.rec_headers.get_header("WARC-Block-Digest"))
    for problem in problems:
        if problem.startswith("block digest failed") or (not has_block and problem.startswith("payload digest failed")):
            raise damaged(path, offset, f"its bytes do not match its digest ({problem})")
