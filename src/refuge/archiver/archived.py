"""An exchange read back from the capture's own WARC files, for a resumed capture.

A killed run may have written a URL's record before its coordinator heard of it. The
resumed run reads that record instead of fetching the URL again: the worker finds the
links in it as it would in a fresh response, and writes nothing new. A revisit record
holds no payload: its status and headers are its own, its body is read from the record
it stands for (found by the caller, as replay finds it: by payload digest).
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable

from refuge.archiver.fetch import CHUNK, SPOOL_IN_MEMORY, Exchange
from refuge.config.errors import Failure
from refuge.storage.warc.files import WarcFiles
from refuge.storage.warc.records import open_stored_record

Where = tuple[str, int, int]  # (file in the data directory, offset, length) of a record
# (payload digest, the revisit's 14-digit timestamp) -> where the original record is, or None
FindOriginal = Callable[[str, str], "Where | None"]


def archived_exchange(files: WarcFiles, path: str, offset: int, length: int, max_bytes: int,
                      spool_dir: Path | None = None,
                      find_original: FindOriginal | None = None) -> tuple[Exchange, str]:
    """The response or revisit record at OFFSET of the sealed file PATH (in the data
    directory, read wherever FILES finds it: on another machine's resume, in S3) as an
    Exchange (its body at most MAX_BYTES, as a fetch would keep it), and the record's
    type. Raises Failure if the record, or a revisit's original, cannot be read."""
    with open_stored_record(files, path, offset, length) as record:
        headers = record.rec_headers
        digest = headers.get_header("WARC-Payload-Digest") or ""
        date = headers.get_header("WARC-Date") or ""
        if record.rec_type == "revisit":
            original = find_original(digest, "".join(c for c in date if c.isdigit())[:14]) if find_original else None
            if original is None:
                raise Failure(f"{path} offset {offset}: a revisit whose original record is not in the archive")
            with open_stored_record(files, *original) as source:
                body, size = _spooled(source.raw_stream, max_bytes, spool_dir)
        else:
            body, size = _spooled(record.raw_stream, max_bytes, spool_dir)
        http = record.http_headers
        code, _, reason = http.statusline.partition(" ")
        exchange = Exchange(
            url=headers.get_header("WARC-Target-URI"),
            started=datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc),
            request_line="", request_headers=[], status=int(code), reason=reason, protocol=http.protocol,
            headers=list(http.headers), body=body, length=size, payload_digest=digest,
        )
        return exchange, record.rec_type


def _spooled(stream: IO[bytes], max_bytes: int, spool_dir: Path | None) -> tuple[Any, int]:
    body = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=spool_dir)
    size = 0
    while size < max_bytes and (chunk := stream.read(min(CHUNK, max_bytes - size))):
        body.write(chunk)
        size += len(chunk)
    body.seek(0)
    return body, size
