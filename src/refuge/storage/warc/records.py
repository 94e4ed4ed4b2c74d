"""Reading one WARC record back by (file, offset): whole when it is small, else streaming."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from warcio.bufferedreaders import BufferedReader, ChunkedDataReader
from warcio.recordloader import ArcWarcRecord
from warcio.utils import BUFF_SIZE
from zlib_ng import zlib_ng

from refuge.config.errors import Failure
from refuge.storage.warc.files import WarcFiles, open_local
from refuge.storage.warc.strict import LOADER, read_record

# A record stored in at most this many bytes (its gzip member, per the index) is read and
# inflated in one call, and parsed from memory: most pages and assets. warcio's buffered
# gzip reader, which the streaming path uses, costs more than the inflating itself.
WHOLE_STORED = 4 * 1024 * 1024
WHOLE_INFLATED = 32 * 1024 * 1024  # ...as long as it inflates to no more than this



@contextmanager
def open_record(path: Path | str, offset: int, length: int | None = None,
                stream: bool = False) -> Iterator[ArcWarcRecord]:
    """The record starting at OFFSET in the WARC at PATH on this disk; its streams are
    valid inside the block. As record_in, which says the rest."""
    with open_local(path) as fh, record_in(fh, path, offset, length, stream) as record:
        yield record


@contextmanager
def open_stored_record(files: WarcFiles, path: str, offset: int, length: int | None = None,
                       stream: bool = False) -> Iterator[ArcWarcRecord]:
    """The record starting at OFFSET in the sealed file PATH (relative to the data
    directory), wherever FILES finds its copy. As record_in, which says the rest."""
    with files.open(path, offset, length) as fh, \
            record_in(fh, getattr(fh, "name", path), offset, length, stream) as record:  # errors name the copy read
        yield record


@contextmanager
def record_in(fh: BinaryIO, path: Path | str, offset: int, length: int | None = None,
              stream: bool = False) -> Iterator[ArcWarcRecord]:
    """The record starting at OFFSET in FH, the WARC file PATH.

    Each record is its own gzip member, so seeking to its offset and reading one
    record touches only that record's bytes. LENGTH, the stored length from the index,
    lets a small record be read whole (unless STREAM); anything unexpected about it (a
    member that does not end there) and the record is read by streaming instead, which
    reports what is wrong. A file too short to hold LENGTH bytes at OFFSET is refused
    with a Failure naming both: a record cut short is never served as if whole. A record
    whose bytes are damaged is refused the same way, when opened or, for damage only its
    end shows (the gzip CRC), by its raw_stream before it returns the last bytes
    (storage.warc.strict).
    """
    end = fh.seek(0, 2)
    if offset >= end:  # an index row that points past the file (a wrong or damaged index)
        raise Failure(f"{path}: no WARC record at offset {offset}: the file is only {end} bytes long "
                      f"(see `refuge verify`)")
    if length is not None:
        if end < offset + length:
            raise Failure(f"{path}: the record at offset {offset} is cut short: it needs {length} bytes, "
                          f"the file ends {end - offset} bytes after its start (see `refuge verify`)")
    small = length is not None and 0 < length <= WHOLE_STORED and not stream
    whole = _read_whole(fh, offset, length) if small else None
    if whole is not None:
        yield as_served(whole)
        return
    yield as_served(read_record(fh, path, offset))


def as_served(record: ArcWarcRecord) -> ArcWarcRecord:
    """RECORD as every reader takes it, whoever wrote it. Refuge writes responses with their
    bodies decoded; archives made elsewhere (`refuge import`) may hold:
    - a resource record (no HTTP head): given the head of a 200 response of its WARC
      Content-Type and length, as pywb serves one;
    - a body kept with its chunked transfer framing (wget keeps it): read with the framing
      undone and Transfer-Encoding dropped, so what is served, exported or hashed is the
      body, not the chunks (warcio's content_stream would undo it, raw_stream does not).
    """
    http = record.http_headers
    if http is None:
        if record.rec_type == "resource":
            record.http_headers = LOADER.default_http_headers(record.length, record.content_type)
    elif "chunked" in (http.get_header("Transfer-Encoding") or "").lower():
        record.raw_stream = Dechunked(record.raw_stream)
        http.remove_header("Transfer-Encoding")
    return record


class Dechunked:
    """A body stored with its chunked framing (the record's raw_stream, INNER), read with the
    framing undone. It reads one block ahead and, when the body ends, reads INNER to its end
    too: the checks storage.warc.strict runs there (the gzip CRC, an uncompressed record's
    digests) run before the last bytes are handed over, as for any other record."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._reader = ChunkedDataReader(inner)
        self._buffer = b""
        self._ended = False

    def read(self, length: int | None = None) -> bytes:
        want = length if length is not None and length >= 0 else None
        self._fill(lambda: want is not None and len(self._buffer) > want)
        return self._take(len(self._buffer) if want is None else want)

    def readline(self, length: int | None = None) -> bytes:
        self._fill(lambda: b"\n" in self._buffer or (length is not None and 0 <= length < len(self._buffer)))
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        return self._take(end if length is None or length < 0 else min(end, length))

    def _fill(self, enough: Any) -> None:
        while not self._ended and not enough():
            block = self._reader.read(BUFF_SIZE)
            if block:
                self._buffer += block
                continue
            while self._inner.read(BUFF_SIZE):  # the record's own end, where its bytes are checked
                pass
            self._ended = True

    def _take(self, n: int) -> bytes:
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def close(self) -> None:
        self._inner.close()


def _read_whole(fh: BinaryIO, offset: int, length: int) -> ArcWarcRecord | None:
    """The record in the LENGTH bytes at OFFSET, parsed from memory; None unless those bytes
    are exactly one whole gzip member (an uncompressed WARC is streamed)."""
    fh.seek(offset)
    stored = fh.read(length)
    if len(stored) != length or stored[:2] != b"\x1f\x8b":
        return None
    # zlib-ng inflates the same standard gzip as zlib in under half the time.
    inflater = zlib_ng.decompressobj(16 + zlib_ng.MAX_WBITS)
    try:
        data = inflater.decompress(stored, WHOLE_INFLATED)
    except zlib_ng.error:
        return None
    if not inflater.eof or inflater.unused_data:
        return None
    try:
        return LOADER.parse_record_stream(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - the streaming path reads it again and says what is wrong
        return None


def content_encoding(record: Any) -> str:
    value = record.http_headers.get_header("Content-Encoding") if record.http_headers else None
    return (value or "").strip().lower()


def decoded_stream(record: Any, encoding: str):
    """The payload with its Content-Encoding undone, or None if it cannot be (an unknown
    or stacked encoding, or br without the brotli module). Like record.content_stream(),
    which handles the same codings, plus the x-gzip alias."""
    if encoding in ("", "identity"):
        return record.raw_stream
    if encoding == "x-gzip":
        encoding = "gzip"
    if encoding not in BufferedReader.get_supported_decompressors():
        return None
    return BufferedReader(record.raw_stream, decomp_type=encoding)
