"""Real WARC files for the replay tests, written the way the capture side writes them.

Gzipped WARC/1.1, one gzip member per record, SHA-256 digests as ``sha256:<hex>``,
HTTP headers as received (minus Transfer-Encoding, with Content-Length set to the
stored body length), bodies as received (Content-Encoding preserved), ``revisit``
records (identical-payload-digest, headers only) for repeated payloads. Each sealed
file gets its CDXJ file and is registered in the catalog with its index rows.

    with ArchiveWriter(settings, engine, "site", "https://news.example/") as w:
        row = w.response("https://news.example/", b"<html>...", ts="20261127234147")
        w.revisit("https://news.example/", row, ts="20261128000000")
"""

from __future__ import annotations

import gzip
import hashlib
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from refuge.archiver.fetch import Exchange
from refuge.archiver.warcwriter import RollingWarcWriter, SealedWarc
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.warc import sealed

Headers = Iterable[tuple[str, str]]
REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified", 404: "Not Found",
           500: "Internal Server Error"}


class Repeated(io.RawIOBase):
    """SIZE bytes of PATTERN repeated, as a stream: a big payload without holding it in memory."""

    def __init__(self, pattern: bytes, size: int) -> None:
        self.pattern, self.size, self.pos = pattern, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buf), self.size - self.pos)
        if n <= 0:
            return 0
        start = self.pos % len(self.pattern)
        reps = (start + n) // len(self.pattern) + 1
        buf[:n] = (self.pattern * reps)[start:start + n]
        self.pos += n
        return n

    def digest(self) -> str:
        h = hashlib.sha256()
        stream = Repeated(self.pattern, self.size)
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            h.update(chunk)
        return "sha256:" + h.hexdigest()


def warc_date(ts: str) -> str:
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body, mtime=0)


class ArchiveWriter:
    """One capture of one target, written by the capture side's own WARC writer, sealed
    and registered in the catalog with its index on close."""

    def __init__(self, settings: Settings, engine: Any, name: str = "site",
                 seed: str = "https://news.example/") -> None:
        self.settings, self.engine = settings, engine
        self.target, _ = catalog.save_target(engine, make_target(seed, name=name, scope="host"))
        self.capture_id = catalog.start_capture(engine, self.target, stale_seconds=600)
        self.sealed: list[SealedWarc] = []
        self._writer = RollingWarcWriter(settings.archive_dir / name / self.capture_id, self.capture_id,
                                         settings.warc_max_bytes, {"software": "replay tests"}, self._on_seal)

    def _on_seal(self, warc: SealedWarc) -> None:
        sealed.register_sealed(self.engine, self.settings.data, self.capture_id, self.target.id, warc.path,
                                  warc.sha256, warc.size, warc.records, warc.rows)
        self.sealed.append(warc)

    def response(self, url: str, body: bytes | Repeated, *, ts: str = "20261127234147", status: int = 200,
                 headers: Headers = (("Content-Type", "text/html; charset=utf-8"),),
                 encoding: str | None = None) -> dict[str, Any]:
        """A response record. ENCODING 'gzip' stores BODY gzip-compressed with that
        Content-Encoding (the bytes as a server would send them)."""
        if isinstance(body, Repeated):
            stream, length, digest = body, body.size, body.digest()
        else:
            if encoding == "gzip":
                body = gzipped(body)
            stream, length = io.BytesIO(body), len(body)
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
        head = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
        if encoding:
            head.append(("Content-Encoding", encoding))
        head.append(("Content-Length", str(length)))
        row = self._writer.write_response(_exchange(url, ts, status, head, stream, length, digest))
        return self._row(row, head)

    def revisit(self, url: str, original: dict[str, Any], *, ts: str, status: int = 200,
                headers: Headers | None = None) -> dict[str, Any]:
        """A revisit of ORIGINAL (a row from response()): same payload, its own headers."""
        head = list(headers) if headers is not None else list(original["headers"])
        ex = _exchange(url, ts, status, head, io.BytesIO(b""), 0, original["digest"])
        row = self._writer.write_revisit(ex, original["url"], warc_date(original["timestamp"]))
        return self._row(row, head)

    def _row(self, row: dict[str, Any], head: list[tuple[str, str]]) -> dict[str, Any]:
        path = Path(row.pop("path")).resolve().relative_to(self.settings.data.resolve())
        return {**row, "headers": head, "path": str(path)}

    def close(self) -> Path:
        """Seal the file (the writer writes its CDXJ and registers both) and finish the capture."""
        self._writer.close()
        catalog.finish_capture(self.engine, self.capture_id, "complete",
                               {"pages": sum(len(w.rows) for w in self.sealed), "files": len(self.sealed),
                                "bytes": sum(w.size for w in self.sealed)})
        return self.sealed[-1].path

    def __enter__(self) -> "ArchiveWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _exchange(url: str, ts: str, status: int, headers: list[tuple[str, str]], body: Any, length: int,
              digest: str) -> Exchange:
    started = datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    host = url.split("://", 1)[1].split("/", 1)[0]
    return Exchange(url=url, started=started, request_line=f"GET /{url.split(host, 1)[1].lstrip('/')} HTTP/1.1",
                    request_headers=[("Host", host)], status=status, reason=REASONS.get(status, "Status"),
                    protocol="HTTP/1.1", headers=headers, body=body, length=length, payload_digest=digest)


def stored_payload(path: Path, offset: int) -> bytes:
    """The payload bytes of the record at OFFSET exactly as stored (no decoding)."""
    from refuge.storage.warc.records import open_record

    with open_record(path, offset) as record:
        return record.raw_stream.read()
