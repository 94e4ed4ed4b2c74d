"""A captured response's payload, read back from its WARC file (through a revisit to the
record it stands for), for anything that reads captured bytes rather than fetching again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from sqlalchemy import Engine

from refuge.config.errors import Failure
from refuge.storage.catalog.index import Hit, original_of
from refuge.storage.warc.files import WarcFiles
from refuge.storage.warc.records import open_stored_record

MAX_READ = 64 * 1024 * 1024


@contextmanager
def open_payload(files: WarcFiles, hit: Hit, original: Hit | None, *, stream: bool = False) -> Iterator[tuple[Any, Any]]:
    """(head, body): the records to answer for HIT with, open inside the block. BODY holds
    the payload: ORIGINAL's record when HIT is a revisit (ORIGINAL: the record it stands
    for, None otherwise), else HIT's own. HEAD holds the status and headers: HIT's own
    record, unless a revisit stored none (then the original's). STREAM: never read a record
    whole (records.open_record), so memory does not grow with what a record inflates to."""
    with ExitStack() as stack:
        def opened(h: Hit) -> Any:
            return stack.enter_context(open_stored_record(files, h.path, h.offset, h.length, stream))
        head = body = opened(hit)
        if original is not None:
            body = opened(original)
            if head.http_headers is None:
                head = body
        yield head, body


def _source(engine: Engine, hit: Hit) -> Hit:
    if hit.rectype != "revisit":
        return hit
    original = original_of(engine, hit.target_id, hit.digest, not_after=hit.timestamp)
    if original is None:
        raise Failure(f"{hit.url}: a revisit whose original record is not in the archive")
    return original


def payload(engine: Engine, files: WarcFiles, hit: Hit, limit: int = MAX_READ) -> tuple[bytes, str | None]:
    """The payload as the reader's browser would see it (transfer and content coding
    undone), and the Content-Type it was served with (its charset matters)."""
    source = _source(engine, hit)
    with open_stored_record(files, source.path, source.offset, source.length) as record:
        content_type = record.http_headers.get_header("Content-Type") if record.http_headers else None
        return record.content_stream().read(limit), content_type


def stored_payload_digest(engine: Engine, files: WarcFiles, hit: Hit) -> tuple[str, int]:
    """SHA-256 hex and size of the payload bytes exactly as served (content coding kept).

    Refuge's own records say both without reading the body: the index keeps the payload
    digest as `sha256:<hex>`, and the stored HTTP headers a Content-Length that is the
    stored body's true length (a chunked body is stored decoded, with its length). A
    record from elsewhere is read and hashed instead.
    """
    source = _source(engine, hit)
    with open_stored_record(files, source.path, source.offset, source.length) as record:
        length = record.http_headers.get_header("Content-Length") if record.http_headers else None
        if hit.digest.startswith("sha256:") and length and length.strip().isdigit() and \
                record.rec_headers.get_header("WARC-Payload-Digest") == hit.digest:
            return hit.digest[len("sha256:"):], int(length)
        digest, size = hashlib.sha256(), 0
        while chunk := record.raw_stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def redirect_target(files: WarcFiles, hit: Hit) -> str | None:
    """The Location a captured redirect pointed to (its own header, also for a revisit)."""
    with open_stored_record(files, hit.path, hit.offset, hit.length) as record:
        location = record.http_headers.get_header("Location") if record.http_headers else None
    return location.strip() if location else None
