"""Writing a capture's WARC files: rolling at a size limit, sealed when done.

Each record is its own gzip member (warcio), digests are SHA-256 as hex, and the
HTTP headers are written back in the bytes they arrived in. A file is written under
'<name>.open' and only becomes '<name>' once complete, hashed and flushed to disk;
`on_seal` then indexes it. Offsets for the index are counted as bytes are written,
so nothing is read back.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Callable

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter
from zlib_ng import zlib_ng

from refuge import __version__
from refuge.archiver.fetch import Exchange
from refuge.formats.urls import surt_key
from refuge.storage.warc.sealed import INCOMPLETE_SUFFIX, OPEN_SUFFIX, fsync_dir


class WriteFailed(Exception):
    """A WARC file could not be written (a full disk, say): the capture must stop, and the
    file is left unsealed for the next run to salvage up to its last whole record."""


class WriterClosed(Exception):
    """A record came after the writer was closed (its capture sealed): refused, so no file
    is opened behind a sealed capture."""


class _HexSha256(Digester):
    def __init__(self) -> None:
        super().__init__("sha256")

    def __str__(self) -> str:
        return "sha256:" + self.digester.hexdigest()


class _GzipMember:
    """One gzip member per record, through zlib-ng: the same standard gzip as zlib at a
    third of its CPU cost. (warcio would compress at level 9: several times the CPU of
    the middle levels for files well under 1% smaller.)"""

    def __init__(self, out: "_CountingFile", level: int) -> None:
        self.out = out
        self.z = zlib_ng.compressobj(level, zlib_ng.DEFLATED, zlib_ng.MAX_WBITS + 16)

    def write(self, data: bytes) -> None:
        self.out.write(self.z.compress(data))

    def flush(self) -> None:
        self.out.write(self.z.flush())
        self.out.flush()


class _Sha256Writer(WARCWriter):
    def __init__(self, out: "_CountingFile", level: int) -> None:
        super().__init__(out, gzip=False, warc_version="1.1")
        self.level = level

    @staticmethod
    def _create_digester() -> Digester:
        return _HexSha256()

    def write_record(self, record, params=None) -> None:  # type: ignore[no-untyped-def]
        # warcio ends each record with out.flush(), which closes the gzip member.
        self._write_warc_record(_GzipMember(self.out, self.level), record)


class _WireHeaders(StatusAndHeaders):
    """http.client decodes header bytes as Latin-1; encoding them back the same way
    restores the bytes as received (warcio would percent-encode anything non-ASCII).
    For a response this is fetch.response_head(), which the block digest was taken of."""

    def compute_headers_buffer(self, header_filter=None) -> None:  # type: ignore[no-untyped-def]
        self.headers_buff = self.to_str(header_filter).encode("latin-1", "replace") + b"\r\n"


class _CountingFile:
    """The file under the gzip members: counts offsets and hashes the sealed bytes in one pass."""

    def __init__(self, fh) -> None:  # type: ignore[no-untyped-def]
        self.fh = fh
        self.sha256 = hashlib.sha256()
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.sha256.update(data)
        self.pos += len(data)
        return len(data)

    def flush(self) -> None:
        self.fh.flush()


@dataclass
class SealedWarc:
    path: Path
    name: str
    sha256: str
    size: int
    records: int
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per response/revisit/resource, for the index


def warc_date(exchange: Exchange) -> str:
    return exchange.started.strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp14(exchange: Exchange) -> str:
    return exchange.started.strftime("%Y%m%d%H%M%S")


class RollingWarcWriter:
    """Thread-safe writer for one capture; call close() to seal the last file."""

    def __init__(self, directory: Path, basename: str, max_bytes: int, info: dict[str, str],
                 on_seal: Callable[[SealedWarc], None], gzip_level: int = 5, max_age: float | None = None,
                 taken: frozenset[str] = frozenset()) -> None:
        """MAX_AGE: also seal a file at the first record written this many seconds after it
        was opened (a checkpoint: what is sealed survives the machine). TAKEN: names the
        capture's earlier runs used, wherever their files are now (another machine, S3)."""
        self.directory = directory
        self.taken = taken
        self.max_age = max_age
        self._opened = 0.0
        self.gzip_level = gzip_level
        self.basename = basename
        self.max_bytes = max_bytes
        self.info = info
        self.on_seal = on_seal
        self._lock = threading.Lock()
        self._serials = itertools.count(1)
        self._file = None  # type: ignore[var-annotated]
        self._counting: _CountingFile | None = None
        self._writer: _Sha256Writer | None = None
        self._current: SealedWarc | None = None
        self._failed: str | None = None
        self._closed = False
        directory.mkdir(parents=True, exist_ok=True)

    def write_response(self, ex: Exchange) -> dict[str, Any]:
        """Write the exchange as a request and a response record; returns the response's index row."""
        with self._lock, self._guard():
            writer, resp_id = self._ensure_open(), _record_id()
            response = writer.create_warc_record(
                ex.url, "response", payload=ex.body, length=ex.length, http_headers=_response_head(ex),
                warc_headers_dict={**_record_headers(ex, resp_id), "WARC-Payload-Digest": ex.payload_digest,
                                   **({"WARC-Block-Digest": ex.block_digest} if ex.block_digest else {})},
            )
            return self._write_pair(ex, response, resp_id, "response")

    def write_revisit(self, ex: Exchange, refers_to_url: str, refers_to_date: str) -> dict[str, Any]:
        """A payload identical to an earlier record: keep the headers, point at the bytes."""
        with self._lock, self._guard():
            writer, resp_id = self._ensure_open(), _record_id()
            revisit = writer.create_revisit_record(
                ex.url, ex.payload_digest, refers_to_url, refers_to_date,
                http_headers=_response_head(ex), warc_headers_dict=_record_headers(ex, resp_id),
            )
            return self._write_pair(ex, revisit, resp_id, "revisit")

    def write_resource(self, uri: str, date: str, content_type: str, data: bytes) -> dict[str, Any]:
        """Write DATA as a resource record of URI (a browser capture's urn:dom: or
        urn:screenshot: record) dated DATE (a WARC-Date); returns its index row."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with self._lock, self._guard():
            writer = self._ensure_open()
            assert self._counting and self._current
            record = writer.create_warc_record(
                uri, "resource", payload=BytesIO(data), length=len(data), warc_content_type=content_type,
                warc_headers_dict={"WARC-Record-ID": _record_id(), "WARC-Date": date,
                                   "WARC-Payload-Digest": digest, "WARC-Block-Digest": digest},
            )
            offset = self._counting.pos
            writer.write_record(record)
            self._current.records += 1
            row = {"urlkey": surt_key(uri), "timestamp": "".join(c for c in date if c.isdigit())[:14], "url": uri,
                   "mime": content_type.split(";", 1)[0].strip().lower(), "status": None, "digest": digest,
                   "length": self._counting.pos - offset, "offset": offset, "rectype": "resource"}
            self._current.rows.append(row)
            written = dict(row, path=self._current.path)
            self._roll()
            return written

    def _write_pair(self, ex: Exchange, record, resp_id: str, rectype: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        assert self._writer and self._counting and self._current
        request = self._writer.create_warc_record(
            ex.url, "request", payload=BytesIO(b""), length=0,
            http_headers=_WireHeaders(ex.request_line, ex.request_headers, is_http_request=True),
            warc_headers_dict={"WARC-Record-ID": _record_id(), "WARC-Date": warc_date(ex),
                               "WARC-Concurrent-To": resp_id},
        )
        self._writer.write_record(request)
        offset = self._counting.pos
        self._writer.write_record(record)
        length = self._counting.pos - offset
        self._current.records += 2
        row = {
            "urlkey": surt_key(ex.url), "timestamp": timestamp14(ex), "url": ex.url,
            "mime": ex.media_type, "status": ex.status, "digest": ex.payload_digest,
            "length": length, "offset": offset, "rectype": rectype,
        }
        self._current.rows.append(row)
        written = dict(row, path=self._current.path)
        self._roll()
        return written

    def _roll(self) -> None:
        """Seal the file once it is big or old enough (the caller holds the lock)."""
        assert self._counting is not None
        if self._counting.pos >= self.max_bytes or \
                (self.max_age is not None and time.monotonic() - self._opened >= self.max_age):
            self._seal()

    def close(self) -> None:
        """Seal the open file; any write after this raises WriterClosed."""
        with self._lock:
            self._closed = True
            if self._failed is not None:
                if self._file is not None:
                    self._file.close()  # left '.open': the next run salvages its whole records
                return
            if self._file is not None:
                with self._guard():
                    self._seal()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Once a write fails, nothing more goes to this writer's file: a record torn in
        the middle of a file would hide every record after it from a reader."""
        if self._failed is not None:
            raise WriteFailed(self._failed)
        try:
            yield
        except OSError as exc:
            where = self._current.path if self._current is not None else self.directory
            self._failed = f"cannot write {where}: {exc.strerror or exc}"
            raise WriteFailed(self._failed) from None

    def _ensure_open(self) -> _Sha256Writer:
        if self._closed:
            raise WriterClosed(f"{self.basename}: record refused, the capture's files are sealed")
        if self._writer is not None:
            return self._writer
        # A resumed capture's series goes on after the files its earlier runs left.
        while True:
            name = f"{self.basename}-{next(self._serials):05d}.warc.gz"
            path = self.directory / name
            if name not in self.taken and \
                    not any(path.with_name(name + suffix).exists() for suffix in ("", OPEN_SUFFIX, INCOMPLETE_SUFFIX)):
                break
        self._file = open(path.with_name(name + OPEN_SUFFIX), "xb")
        self._counting = _CountingFile(self._file)
        self._writer = _Sha256Writer(self._counting, self.gzip_level)
        self._current = SealedWarc(path=path, name=name, sha256="", size=0, records=0)
        self._opened = time.monotonic()
        self._writer.write_record(self._writer.create_warcinfo_record(name, self.info))
        self._current.records += 1
        return self._writer

    def _seal(self) -> None:
        assert self._file is not None and self._counting and self._current
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        current = self._current
        current.sha256 = self._counting.sha256.hexdigest()
        current.size = self._counting.pos
        os.replace(current.path.with_name(current.name + OPEN_SUFFIX), current.path)
        fsync_dir(current.path.parent)
        self._file = self._counting = self._writer = self._current = None
        self.on_seal(current)


def warcinfo_fields(target: str, user_agent: str, robots: str, *, capture: str = "",
                    operator: str = "") -> dict[str, str]:
    """The warcinfo record that opens each file: who wrote it (software and version, the
    OPERATOR setting when set) and what it is part of (the target, the CAPTURE id)."""
    from importlib.metadata import version  # slow to import; needed once per worker

    fields = {
        "software": f"Refuge/{__version__} (warcio/{version('warcio')})",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "isPartOf": target,
        "description": f"Capture {capture} of target {target} by Refuge" if capture
        else f"Capture of target {target} by Refuge",
        "robots": "obey" if robots == "obey" else "ignore",
        "http-header-user-agent": user_agent,
    }
    if capture:
        fields["refuge-capture"] = capture
    operator = " ".join(operator.split())  # one line: a field's value may not break the record
    if operator:
        fields["operator"] = operator
    return fields


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _response_head(ex: Exchange) -> _WireHeaders:
    return _WireHeaders(f"{ex.status} {ex.reason}".strip(), ex.headers, protocol=ex.protocol)


def _record_headers(ex: Exchange, record_id: str) -> dict[str, str]:
    headers = {"WARC-Record-ID": record_id, "WARC-Date": warc_date(ex)}
    if ex.ip:
        headers["WARC-IP-Address"] = ex.ip
    return headers
