"""The records a capture's revisits stand for, when an earlier capture holds them: so that its
WACZ package replays whole by itself.

A payload already archived for the target becomes a `revisit` record that points at the
earlier response (identical-payload-digest). When that response is in an earlier capture,
its bytes are in none of this capture's WARC files, and a package of those files alone
would show every unchanged page as missing. So the package carries one more WARC file,
archive/<capture>-originals.warc.gz: a warcinfo record saying what it is, then each such
original record copied byte for byte (its gzip member as stored: its WARC headers, its
digests and its gzip CRC are the ones it was sealed with), each checked as it is read
(storage.warc.records refuses a record whose CRC or digests do not match). Its index lines
join the package's index; the capture's own WARC files stay exactly as sealed.

The originals are found with one indexed lookup per distinct payload digest revisited;
their list (one small row per original) is held in memory while the package is written.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine
from warcio.warcwriter import WARCWriter

from refuge import __version__
from refuge.config.errors import Failure
from refuge.storage.catalog.cdxj import cdxj_line
from refuge.storage.catalog.index import Hit, capture_query, original_of, to_hit
from refuge.storage.warc.files import WarcFiles
from refuge.storage.warc.records import open_stored_record

CHUNK = 1024 * 1024


def originals_name(capture_id: str) -> str:
    return f"{capture_id}-originals.warc.gz"


def outside_originals(engine: Engine, capture_id: str) -> list[Hit]:
    """The records CAPTURE_ID's revisits stand for that other captures hold, each once, in
    the order of their files and offsets."""
    found: dict[tuple[str, int], Hit] = {}
    seen: set[tuple[int, str]] = set()
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(capture_query(capture_id)):
            hit = to_hit(row)
            if hit.rectype != "revisit" or (hit.target_id, hit.digest) in seen:
                continue
            seen.add((hit.target_id, hit.digest))
            # The earliest response with the digest is the one replay serves for every revisit
            # of it (storage.warc.payloads), whichever capture holds it.
            original = original_of(engine, hit.target_id, hit.digest)
            if original is not None and original.capture_id != capture_id:
                found.setdefault((original.path, original.offset), original)
    return [found[k] for k in sorted(found)]


def warcinfo(target: str, capture_id: str, operator: str, sources: list[str]) -> bytes:
    """The warcinfo record (one gzip member) that opens the originals file."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    fields = {"software": f"Refuge/{__version__}", "format": "WARC File Format 1.1", "isPartOf": target,
              "refuge-capture": capture_id,
              "description": f"Records copied byte for byte from earlier captures of target {target} "
                             f"({', '.join(sources)}): the originals that the revisit records of capture "
                             f"{capture_id} stand for"}
    if " ".join(operator.split()):
        fields["operator"] = " ".join(operator.split())
    writer.write_record(writer.create_warcinfo_record(originals_name(capture_id), fields))
    return out.getvalue()


def copy_record(files: WarcFiles, hit: Hit) -> Iterator[bytes]:
    """HIT's record as stored (its LENGTH bytes at OFFSET), after reading it once whole
    through the strict reader: a damaged record raises Failure naming its file and offset."""
    with open_stored_record(files, hit.path, hit.offset, hit.length, stream=True) as record:
        while record.raw_stream.read(CHUNK):
            pass
    with files.open(hit.path, hit.offset, hit.length) as fh:
        fh.seek(hit.offset)
        left = hit.length
        while left > 0 and (chunk := fh.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk
    if left:
        raise Failure(f"{hit.path}: the record at offset {hit.offset} ends {left} bytes early")


def moved_line(hit: Hit, offset: int, filename: str) -> str:
    """HIT's CDXJ line as the record sits in the originals file, at OFFSET."""
    row: dict[str, Any] = {**dataclasses.asdict(hit), "offset": offset}
    return cdxj_line(row, filename)
