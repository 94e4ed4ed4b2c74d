"""An exchange read back from the capture's own WARC files, for a resumed capture.

A killed run may have written a URL's record before its coordinator heard of it. The
resumed run reads that record instead of fetching the URL again: the worker finds the
links in it as it would in a fresh response, and writes nothing new.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from refuge.archiver.fetch import CHUNK, SPOOL_IN_MEMORY, Exchange
from refuge.storage.warc.records import open_record


def archived_exchange(path: Path, offset: int, length: int, max_bytes: int,
                      spool_dir: Path | None = None) -> Exchange:
    """The response record at OFFSET of the WARC at PATH as an Exchange (its body at most
    MAX_BYTES, as a fetch would keep it). Raises Failure if the record cannot be read."""
    with open_record(path, offset, length) as record:
        http = record.http_headers
        code, _, reason = http.statusline.partition(" ")
        body = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=spool_dir)
        size = 0
        while size < max_bytes and (chunk := record.raw_stream.read(min(CHUNK, max_bytes - size))):
            body.write(chunk)
            size += len(chunk)
        body.seek(0)
        date = record.rec_headers.get_header("WARC-Date") or ""
        return Exchange(
            url=record.rec_headers.get_header("WARC-Target-URI"),
            started=datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc),
            request_line="", request_headers=[], status=int(code), reason=reason, protocol=http.protocol,
            headers=list(http.headers), body=body, length=size,
            payload_digest=record.rec_headers.get_header("WARC-Payload-Digest") or "",
        )
