"""A stream as warcio reads it, with what warcio may pull while it parses a record's headers
bounded. warcio reads header lines whole into memory, so a "header" with no line end (or a
gzip member inflating to gigabytes of one) would be held whole; through HeaderBudget it
may read at most HEAD_BYTES of the stream between the end of one record's block and the
start of the next one's (a gzip member's headers inflate to at most about a thousand times
that), and HeadersTooLong stops it there.

    budget = HeaderBudget(stream, start=0, hashed=True)
    ArchiveIterator(budget, ...)   the budget applies from the start
    budget.block()                 once warcio has a record: its block is read unbounded
    budget.headers()               before asking for the next record
    budget.tell()                  START + the bytes read: warcio's offsets in the whole file
    budget.drain()                 read the rest (for the hash)
    budget.sha256, budget.size     what was read, hashed (when HASHED) and counted

Used where a WARC file from elsewhere is read whole: a WACZ's members (storage.wacz.warccheck)
and an imported file (storage.warc.validate).
"""

from __future__ import annotations

import hashlib
from typing import Any, BinaryIO

HEAD_BYTES = 64 * 1024
CHUNK = 1024 * 1024  # what a read of no stated size returns at most


class HeadersTooLong(Exception):
    """A record's headers needed more than the budget (or had no end)."""


class HeaderBudget:
    """STREAM as warcio reads it: counted (and hashed), and limited to HEAD_BYTES while
    headers are parsed (`headers()`; `block()` lifts the limit)."""

    def __init__(self, stream: BinaryIO | Any, start: int = 0, hashed: bool = True,
                 head_bytes: int = HEAD_BYTES) -> None:
        self.stream = stream
        self.start = start
        self.sha256: Any = hashlib.sha256() if hashed else None
        self.size = 0
        self.head_bytes = head_bytes
        self.budget: int | None = head_bytes

    def headers(self) -> None:
        self.budget = self.head_bytes

    def block(self) -> None:
        self.budget = None

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size is not None and size >= 0 else CHUNK)
        if self.sha256 is not None:
            self.sha256.update(data)
        self.size += len(data)
        if self.budget is not None:
            self.budget -= len(data)
            if self.budget < 0:
                raise HeadersTooLong
        return data

    def tell(self) -> int:
        return self.start + self.size

    def drain(self) -> None:
        """Read what is left, for the hash."""
        self.block()
        while self.read(CHUNK):
            pass
