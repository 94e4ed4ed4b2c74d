"""Where readers of the archive open a sealed file: the seam between the records they
want and the disk or bucket that holds them.

`files.open(path, offset, length)` gives a binary file in which the LENGTH bytes at
OFFSET of the sealed file PATH (relative to the data directory) are read after a seek
to OFFSET, and `seek(0, 2)` gives the whole file's size. Readers (storage.warc.records)
read only that window; what lies outside it may read as the end of the file.

- LocalFiles: the data directory's copy, as on one machine.
- StoredFiles: the local copy when there is one; else the S3 copy the catalog records,
  read with one ranged GET for the window (so a replay server, an export or a verify
  needs no local file at all). Windows small enough to be read whole are kept in a
  bounded in-memory cache: the next reader of the same record sends no request.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from sqlalchemy import Engine

from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.storage.catalog import replicas

if TYPE_CHECKING:
    from refuge.storage.stores.s3 import S3Store

WHOLE_WINDOW = 4 * 1024 * 1024  # a window this small is fetched whole and may be cached
_PLACES = 50_000  # sealed files whose S3 key and size are remembered


class WarcFiles(Protocol):
    data: Path

    def open(self, path: str, offset: int, length: int | None) -> BinaryIO:
        """The sealed file PATH, to read LENGTH bytes at OFFSET from. Raises Failure naming
        PATH when there is no copy to read."""


class LocalFiles:
    def __init__(self, data: Path) -> None:
        self.data = data

    def open(self, path: str, offset: int, length: int | None) -> BinaryIO:
        return open_local(self.data / path)


def open_local(path: Path | str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise Failure(f"{path}: cannot open WARC file ({exc.strerror})") from None


class StoredFiles:
    """Local copies first, then S3's. Thread-safe: one per replay process."""

    def __init__(self, data: Path, engine: Engine, s3: S3Store, cache_bytes: int) -> None:
        self.data = data
        self.engine = engine
        self.s3 = s3
        self.cache = ByteCache(cache_bytes)
        self._places: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def open(self, path: str, offset: int, length: int | None) -> BinaryIO:
        try:
            return open(self.data / path, "rb")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise Failure(f"{self.data / path}: cannot open WARC file ({exc.strerror})") from None
        key, size = self._place(path)
        end = size if not length or length <= 0 else min(offset + length, size)
        name = f"s3://{self.s3.settings.bucket}/{key}"
        if offset >= end:  # what the reader reports as a record past the end of the file
            return io.BufferedReader(Window(name, size, offset, b""))
        if end - offset <= WHOLE_WINDOW:
            ident = f"{key}@{offset}+{end - offset}"
            data = self.cache.get(ident)
            if data is None:
                data = b"".join(self.s3.read_range(key, offset, end - 1))
                self.cache.put(ident, data)
            return io.BufferedReader(Window(name, size, offset, data))
        return io.BufferedReader(Window(name, size, offset, end, lambda a, b: self.s3.read_range(key, a, b)),
                                 buffer_size=1024 * 1024)

    def _place(self, path: str) -> tuple[str, int]:
        with self._lock:
            if path in self._places:
                self._places.move_to_end(path)
                return self._places[path]
        if self._pid != os.getpid():
            # A forked process (an export's workers): the parent's pooled connections are
            # the parent's; this process opens its own (SQLAlchemy's advice for fork).
            self._pid = os.getpid()
            self.engine.dispose(close=False)
        found = replicas.located(self.engine, path, "s3")
        if found is None:
            raise Failure(f"{self.data / path}: cannot open WARC file (not on this disk, and the catalog "
                          f"knows no S3 copy of it)")
        with self._lock:
            self._places[path] = found
            while len(self._places) > _PLACES:
                self._places.popitem(last=False)
        return found


def warc_files(settings: Settings, engine: Engine) -> WarcFiles:
    """How this process reads sealed files: from S3 too when [s3] is configured."""
    if settings.s3 is None:
        return LocalFiles(settings.data)
    from refuge.storage.stores.s3 import S3Store

    return StoredFiles(settings.data, engine, S3Store(settings.s3), settings.s3.cache_mb * 1024 * 1024)


class ByteCache:
    """Least recently used byte strings, at most MAX_BYTES in all; thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                self._size -= len(self._items.popitem(last=False)[1])


class Window(io.RawIOBase):
    """The file NAME, SIZE bytes, of which only bytes START.. can be read: DATA (given, from
    START), or up to END by FETCH(first, last), a stream opened at the position asked and
    again only after a seek away from where it stands."""

    def __init__(self, name: str, size: int, start: int, data_or_end: bytes | int,
                 fetch: Callable[[int, int], Iterator[bytes]] | None = None) -> None:
        super().__init__()
        self.name = name
        self.size, self.start, self.pos = size, start, 0
        self.data = data_or_end if isinstance(data_or_end, bytes) else None
        self.end = start + len(self.data) if self.data is not None else int(data_or_end)
        self.fetch = fetch
        self._stream: Iterator[bytes] | None = None
        self._at = -1  # where the open stream stands
        self._pending = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + pos)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if not self.start <= self.pos < self.end:
            return 0
        if self.data is not None:
            chunk = self.data[self.pos - self.start:self.pos - self.start + len(buffer)]
        else:
            chunk = self._next(len(buffer))
        buffer[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def _next(self, most: int) -> bytes:
        if self._stream is None or self._at != self.pos:
            self._close_stream()
            assert self.fetch is not None
            self._stream, self._at, self._pending = self.fetch(self.pos, self.end - 1), self.pos, b""
        if not self._pending:
            self._pending = next(self._stream, b"")
            if not self._pending:
                raise Failure(f"s3: the object ended at byte {self.pos}, before the record did")
        chunk, self._pending = self._pending[:most], self._pending[most:]
        self._at += len(chunk)
        return chunk

    def _close_stream(self) -> None:
        if self._stream is not None:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
        self._stream = None

    def close(self) -> None:
        self._close_stream()
        super().close()
