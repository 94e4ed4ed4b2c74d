"""Reading one record back (storage.records): read whole from the index's offset and length, or
streamed, a record comes back the same as warcio reads it, whatever is odd about it."""

from __future__ import annotations

import dataclasses
import gzip
import io
import re
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from refuge.config.errors import Failure
from refuge.storage.catalog.index import _COLUMNS, Hit
from refuge.storage.warc.records import open_record

HTML = "<p>ព័ត៌មាន</p>".encode()


def _http(status: str, headers: list[tuple[str, str]], protocol: str = "HTTP/1.1") -> StatusAndHeaders:
    return StatusAndHeaders(status, headers, protocol=protocol)


def _write(path: Path, gz: bool) -> list[str]:
    """A WARC of ordinary and odd records; the name of each, in order."""
    made: list[str] = []
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=gz)

        def add(name: str, rec_type: str, uri: str, payload: bytes = b"",
                http: StatusAndHeaders | None = None, warc_headers: dict | None = None) -> None:
            rec = w.create_warc_record(uri, rec_type, payload=io.BytesIO(payload), length=len(payload),
                                       http_headers=http, warc_headers_dict=warc_headers or {})
            w.write_record(rec)
            made.append(name)

        add("warcinfo", "warcinfo", "", b"software: test\r\n")
        add("page", "response", "https://news.example/km/",
            HTML, _http("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(HTML)))]))
        add("empty page", "response", "https://news.example/empty", b"", _http("204 No Content", []))
        add("header without value", "response", "https://news.example/v", b"x",
            _http("200 OK", [("X-Empty", ""), ("Content-Type", "  text/plain  ")]))
        add("revisit with headers", "revisit", "https://news.example/km/", b"",
            _http("200 OK", [("Content-Type", "text/html")]),
            {"WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"})
        add("resource", "resource", "urn:x-refuge:thing", b"plain bytes")
        add("metadata", "metadata", "https://news.example/km/", b"via: x\r\n")
        add("request", "request", "https://news.example/km/", b"",
            StatusAndHeaders("GET /km/ HTTP/1.1", [("Host", "news.example")], is_http_request=True))
        add("folded header", "response", "https://news.example/fold", b"x",
            _http("200 OK", [("X-Long", "one\r\n two"), ("Content-Type", "text/plain")]))
        add("lowercase protocol", "response", "https://news.example/lc", b"x",
            _http("200 OK", [("Content-Type", "text/plain")], protocol="http/1.1"))
        add("wget's bracketed URI", "response", "<https://news.example/b>", b"x",
            _http("200 OK", [("Content-Type", "text/plain")]))
        add("big", "response", "https://news.example/big", b"A" * 300_000,
            _http("200 OK", [("Content-Type", "application/octet-stream")]))

        def raw(name: str, warc_line: bytes, http: bytes) -> None:  # written byte by byte
            block = http + b"x"
            member = (warc_line + b"\r\nWARC-Type: response\r\nWARC-Target-URI: https://news.example/r"
                      b"\r\nContent-Length: " + str(len(block)).encode() + b"\r\n\r\n" + block + b"\r\n\r\n")
            fh.write(gzip.compress(member, mtime=0) if gz else member)
            made.append(name)

        raw("latin-1 header", b"WARC/1.0", b"HTTP/1.1 200 OK\r\nContent-Disposition: filename=caf\xe9.txt\r\n\r\n")
        raw("bare LF", b"WARC/1.0", b"HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\n\r\n")
        raw("blank-looking line", b"WARC/1.0", b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  \r\nX-B: 2\r\n\r\n")
        raw("line without colon", b"WARC/1.0", b"HTTP/1.1 200 OK\r\nnonsense\r\nX-B: 2\r\n\r\n")
        raw("lowercase WARC line", b"warc/1.0", b"HTTP/1.1 200 OK\r\nX-B: 2\r\n\r\n")
        raw("HTTP/2 status line", b"WARC/1.1", b"HTTP/2 404\r\nX-B: 2\r\n\r\n")
    return made


def _spans(path: Path) -> list[tuple[int, int]]:
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        out = []
        for _record in it:
            it.read_to_end()
            out.append((it.get_record_offset(), it.get_record_length()))
    return out


def _seen(record) -> tuple:  # type: ignore[no-untyped-def]
    """Everything a reader of the record uses."""
    http = record.http_headers
    rec = record.rec_headers
    return (record.format, record.rec_type, rec.protocol, rec.statusline, rec.headers,
            None if http is None else (http.protocol, http.statusline, http.headers),
            record.content_type, record.length, record.payload_length, getattr(record.raw_stream, "limit", None),
            record.raw_stream.read())


@pytest.fixture(scope="module", params=["warc.gz", "warc"])
def warc(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[tuple[int, int]]]:
    path = tmp_path_factory.mktemp("records") / f"odd.{request.param}"
    made = _write(path, request.param == "warc.gz")
    spans = _spans(path)
    assert len(spans) == len(made)
    return path, made, spans


def test_read_whole_gives_what_streaming_gives_for_every_record(warc) -> None:  # type: ignore[no-untyped-def]
    path, made, spans = warc
    for name, (offset, length) in zip(made, spans):
        with open_record(path, offset) as streamed:
            expected = _seen(streamed)
        with open_record(path, offset, length) as whole:
            assert _seen(whole) == expected, name


@pytest.mark.parametrize("change", ["short", "long", "zero"])
def test_a_wrong_length_from_the_index_still_reads_the_right_record(warc, change: str) -> None:  # type: ignore[no-untyped-def]
    path, made, spans = warc
    index = made.index("page")
    offset, length = spans[index]
    wrong = {"short": length - 10, "long": length + spans[index + 1][1], "zero": 0}[change]
    with open_record(path, offset) as streamed:
        expected = _seen(streamed)
    with open_record(path, offset, wrong) as record:
        assert _seen(record) == expected


def test_hit_fields_are_in_the_order_of_the_index_query() -> None:
    # storage.index builds each Hit from a row positionally.
    assert [f.name for f in dataclasses.fields(Hit)] == [c.name for c in _COLUMNS]


def test_a_length_past_the_end_of_the_file_is_a_file_cut_short_and_is_refused(warc) -> None:  # type: ignore[no-untyped-def]
    path, made, spans = warc
    offset, _ = spans[made.index("page")]
    with pytest.raises(Failure, match=f"^{re.escape(str(path))}: the record at offset {offset} is cut short"):
        with open_record(path, offset, path.stat().st_size):
            pass
