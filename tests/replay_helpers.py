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
import uuid
from pathlib import Path
from typing import Any, Iterable

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.formats.urls import surt_key
from refuge.storage import catalog
from refuge.storage.cdxj import write_cdxj

Headers = Iterable[tuple[str, str]]
REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified", 404: "Not Found",
           500: "Internal Server Error"}


class _HexSha256(Digester):
    def __init__(self) -> None:
        super().__init__("sha256")

    def __str__(self) -> str:
        return "sha256:" + self.digester.hexdigest()


class _Writer(WARCWriter):
    @staticmethod
    def _create_digester() -> Digester:
        return _HexSha256()


class _WireHeaders(StatusAndHeaders):
    """Header bytes written back exactly as received (Latin-1, one char per byte)."""

    def compute_headers_buffer(self, header_filter=None) -> None:  # type: ignore[no-untyped-def]
        self.headers_buff = self.to_str(header_filter).encode("latin-1", "replace") + b"\r\n"


class _Counting:
    def __init__(self, fh) -> None:  # type: ignore[no-untyped-def]
        self.fh, self.pos, self.sha = fh, 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.sha.update(data)
        self.pos += len(data)
        return len(data)

    def flush(self) -> None:
        self.fh.flush()


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
    """One capture of one target: a single sealed WARC file registered in the catalog."""

    def __init__(self, settings: Settings, engine: Any, name: str = "site",
                 seed: str = "https://news.example/") -> None:
        self.settings, self.engine = settings, engine
        self.target, _ = catalog.save_target(engine, make_target(seed, name=name, scope="host"))
        self.capture_id = catalog.start_capture(engine, self.target, stale_seconds=600)
        directory = settings.archive_dir / name / self.capture_id
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{self.capture_id}-00001.warc.gz"
        self._fh = open(self.path, "wb")
        self._out = _Counting(self._fh)
        self._writer = _Writer(self._out, gzip=True, warc_version="1.1")
        self._writer.write_record(self._writer.create_warcinfo_record(self.path.name, {"software": "replay tests"}))
        self.records = 1
        self.rows: list[dict[str, Any]] = []

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
        http = _WireHeaders(f"{status} {REASONS.get(status, 'Status')}", head, protocol="HTTP/1.1")
        record = self._writer.create_warc_record(
            url, "response", payload=stream, length=length, http_headers=http,
            warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>", "WARC-Date": warc_date(ts),
                               "WARC-Payload-Digest": digest})
        return self._write(record, url, ts, status, head, digest, "response")

    def revisit(self, url: str, original: dict[str, Any], *, ts: str, status: int = 200,
                headers: Headers | None = None) -> dict[str, Any]:
        """A revisit of ORIGINAL (a row from response()): same payload, its own headers."""
        head = list(headers) if headers is not None else list(original["headers"])
        http = _WireHeaders(f"{status} {REASONS.get(status, 'Status')}", head, protocol="HTTP/1.1")
        record = self._writer.create_revisit_record(
            url, original["digest"], original["url"], warc_date(original["timestamp"]), http_headers=http,
            warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>", "WARC-Date": warc_date(ts)})
        return self._write(record, url, ts, status, head, original["digest"], "revisit")

    def _write(self, record: Any, url: str, ts: str, status: int, head: list[tuple[str, str]], digest: str,
               rectype: str) -> dict[str, Any]:
        offset = self._out.pos
        self._writer.write_record(record)
        self.records += 1
        path = str(self.path.resolve().relative_to(self.settings.data.resolve()))
        ctype = next((v for k, v in head if k.lower() == "content-type"), "")
        row = {"urlkey": surt_key(url), "timestamp": ts, "url": url,
               "mime": ctype.split(";", 1)[0].strip().lower() or "unk", "status": status, "digest": digest,
               "length": self._out.pos - offset, "offset": offset, "rectype": rectype}
        self.rows.append(row)
        return {**row, "headers": head, "path": path}

    def close(self) -> Path:
        """Seal the file, write its CDXJ, register both and finish the capture."""
        self._fh.flush()
        self._fh.close()
        cdxj = self.path.with_name(self.path.name[: -len(".warc.gz")] + ".cdxj")
        write_cdxj(cdxj, self.rows, self.path.name)
        data = self.settings.data.resolve()
        cdxj_bytes = cdxj.read_bytes()
        catalog.record_sealed_warc(
            self.engine, self.capture_id, self.target.id,
            warc=dict(name=self.path.name, path=str(self.path.resolve().relative_to(data)),
                      sha256=self._out.sha.hexdigest(), size=self._out.pos, records=self.records),
            cdxj=dict(name=cdxj.name, path=str(cdxj.resolve().relative_to(data)),
                      sha256=hashlib.sha256(cdxj_bytes).hexdigest(), size=len(cdxj_bytes),
                      records=len(self.rows)),
            rows=self.rows)
        catalog.finish_capture(self.engine, self.capture_id, "complete",
                               {"pages": len(self.rows), "files": 1, "bytes": self._out.pos})
        return self.path

    def __enter__(self) -> "ArchiveWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def stored_payload(path: Path, offset: int) -> bytes:
    """The payload bytes of the record at OFFSET exactly as stored (no decoding)."""
    from refuge.storage.records import open_record

    with open_record(path, offset) as record:
        return record.raw_stream.read()
