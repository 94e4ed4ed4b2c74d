"""Reading one WARC record back by (file, offset), streaming."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from refuge.config.errors import Failure


@contextmanager
def open_record(path: Path, offset: int) -> Iterator[ArcWarcRecord]:
    """The record starting at OFFSET in the WARC at PATH; its streams are valid inside the block.

    Each record is its own gzip member, so seeking to its offset and reading one
    record touches only that record's bytes.
    """
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise Failure(f"{path}: cannot open WARC file ({exc.strerror})") from None
    records = None
    try:
        fh.seek(offset)
        records = ArchiveIterator(fh, no_record_parse=False)
        try:
            record = next(records)
        except StopIteration:
            raise Failure(f"{path}: no WARC record at offset {offset}") from None
        yield record
    finally:
        # The iterator sits in a reference cycle with its own generator: release its
        # decompression buffers now rather than whenever the cyclic GC runs.
        if records is not None:
            records.close()
        fh.close()


