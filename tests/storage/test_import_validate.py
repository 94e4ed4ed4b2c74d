"""A WARC file made elsewhere, read whole before it is imported (storage.warc.validate), and
its records read back as replay and export read them (storage.warc.records): the index
rows are the ones pywb's cdxj-indexer makes, and every kind of damage is named by file and
offset, or, with lenient, listed while the good records are kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import import_archives as ia
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from refuge.config.errors import BadInput, Failure
from refuge.storage.damage import where_damaged
from refuge.storage.warc import validate
from refuge.storage.warc.header_budget import HEAD_BYTES
from refuge.storage.warc.records import open_record
from refuge.storage.warc.sealed import index_warc
from refuge.storage.warc.validate import check_warc

CDXJ_INDEXER = str(Path(sys.executable).with_name("cdxj-indexer"))


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("validate")
    ia.recorder_warc(folder / "rec.warc.gz")
    ia.recorder_warc(folder / "rec.warc", compress=False)
    return folder


def _pywb_rows(path: Path) -> list[dict[str, str]]:
    """cdxj-indexer's lines for PATH's http(s) records, as dicts with urlkey and timestamp."""
    out = subprocess.run([CDXJ_INDEXER, str(path)], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        key, stamp, fields = line.split(" ", 2)
        doc = json.loads(fields)
        if doc["url"].startswith(("http://", "https://")):
            rows.append({"urlkey": key, "timestamp": stamp, **doc})
    return rows


@pytest.mark.parametrize("name", ["rec.warc.gz", "rec.warc"])
def test_the_rows_are_the_ones_cdxj_indexer_makes(made: Path, name: str) -> None:
    found = check_warc(made / name, name)
    assert found.gzipped == name.endswith(".gz") and not found.bad
    assert found.records == 13 and found.unindexed == 1  # the urn:pageinfo resource
    ours = [{"urlkey": r["urlkey"], "timestamp": r["timestamp"], "url": r["url"],
             "mime": "warc/revisit" if r["rectype"] == "revisit" else r["mime"],
             **({"status": str(r["status"])} if r["status"] is not None else {}), "digest": r["digest"],
             "length": str(r["length"]), "offset": str(r["offset"]), "filename": name} for r in found.rows]
    assert ours == _pywb_rows(made / name)
    assert [r["rectype"] for r in found.rows] == ["response", "response", "response", "resource", "response",
                                                   "revisit"]


def test_a_gzip_member_cut_in_the_middle_is_named_by_its_offset(made: Path, tmp_path: Path) -> None:
    offset = ia.cut_inside(made / "rec.warc.gz", tmp_path / "cut.warc.gz", ia.SITE + "logo.png")
    with pytest.raises(BadInput, match=rf"^cut\.warc\.gz: the record at offset {offset} is cut short"):
        check_warc(tmp_path / "cut.warc.gz", "cut.warc.gz")
    lenient = check_warc(tmp_path / "cut.warc.gz", "cut.warc.gz", lenient=True)
    assert [b.offset for b in lenient.bad] == [offset]
    assert [r["url"] for r in lenient.rows] == [ia.SITE, ia.SITE + "style.css"]


def test_a_member_missing_its_middle_is_refused_and_reading_goes_on_after_it_when_lenient(
        made: Path, tmp_path: Path) -> None:
    spans = ia.record_offsets(made / "rec.warc.gz")
    _, _, offset, length = next(r for r in spans if r[0] == "response" and r[1] == ia.SITE + "style.css")
    data = (made / "rec.warc.gz").read_bytes()
    (tmp_path / "hole.warc.gz").write_bytes(data[:offset + 40] + data[offset + length - 20:])
    with pytest.raises(BadInput, match=rf"the record at offset {offset} is corrupt"):
        check_warc(tmp_path / "hole.warc.gz", "hole.warc.gz")
    lenient = check_warc(tmp_path / "hole.warc.gz", "hole.warc.gz", lenient=True)
    assert [b.offset for b in lenient.bad] == [offset]
    # Everything after the damaged member is found again and indexed.
    assert {r["url"] for r in lenient.rows} == {ia.SITE, ia.SITE + "logo.png", ia.SITE + "notes.txt"}
    assert len(lenient.rows) == 5


def test_a_flipped_byte_in_a_gzip_member_is_refused(made: Path, tmp_path: Path) -> None:
    _, _, offset, length = next(r for r in ia.record_offsets(made / "rec.warc.gz") if r[1] == ia.SITE + "logo.png")
    ia.flip_inside(made / "rec.warc.gz", tmp_path / "flip.warc.gz", offset + length // 2)
    with pytest.raises(BadInput, match=rf"the record at offset {offset} is corrupt"):
        check_warc(tmp_path / "flip.warc.gz", "flip.warc.gz")


def test_a_payload_digest_that_does_not_match_is_refused(tmp_path: Path) -> None:
    ia.recorder_warc(tmp_path / "digest.warc.gz", wrong_payload_digest="sha1:" + "A" * 32)
    offset = next(o for t, u, o, _ in ia.record_offsets(tmp_path / "digest.warc.gz")
                  if t == "response" and u == ia.SITE + "style.css")
    with pytest.raises(BadInput, match=rf"offset {offset} is corrupt: its payload does not match its "
                                       rf"WARC-Payload-Digest \(sha1:A+\)"):
        check_warc(tmp_path / "digest.warc.gz", "digest.warc.gz")
    lenient = check_warc(tmp_path / "digest.warc.gz", "digest.warc.gz", lenient=True)
    assert [(b.offset, b.url) for b in lenient.bad] == [(offset, ia.SITE + "style.css")]
    assert ia.SITE + "style.css" not in {r["url"] for r in lenient.rows} and len(lenient.rows) == 5


def test_a_flipped_byte_in_an_uncompressed_record_fails_its_block_digest(made: Path, tmp_path: Path) -> None:
    _, _, offset, length = next(r for r in ia.record_offsets(made / "rec.warc") if r[1] == ia.SITE + "logo.png")
    ia.flip_inside(made / "rec.warc", tmp_path / "flip.warc", offset + length - 10)
    with pytest.raises(BadInput, match=rf"offset {offset} is corrupt: its bytes do not match its WARC-Block-Digest"):
        check_warc(tmp_path / "flip.warc", "flip.warc")


def test_an_uncompressed_file_cut_short_is_refused(made: Path, tmp_path: Path) -> None:
    offset = ia.cut_inside(made / "rec.warc", tmp_path / "cut.warc", ia.SITE + "logo.png")
    with pytest.raises(BadInput, match=rf"offset {offset} is cut short"):
        check_warc(tmp_path / "cut.warc", "cut.warc")
    # Cut inside a record's WARC headers, where warcio itself ends without a word.
    (tmp_path / "cut2.warc").write_bytes((made / "rec.warc").read_bytes()[:offset + 30])
    with pytest.raises(BadInput, match=rf"offset {offset} "):
        check_warc(tmp_path / "cut2.warc", "cut2.warc")


def test_a_wrong_content_length_is_refused(made: Path, tmp_path: Path) -> None:
    data = (made / "rec.warc").read_bytes()
    _, _, offset, _ = next(r for r in ia.record_offsets(made / "rec.warc") if r[1] == ia.SITE + "notes.txt")
    head_end = data.index(b"Content-Length: ", offset)
    line_end = data.index(b"\r\n", head_end)
    stated = int(data[head_end + 16:line_end])
    (tmp_path / "length.warc").write_bytes(data[:head_end + 16] + str(stated - 5).encode() + data[line_end:])
    with pytest.raises(BadInput, match=rf"offset {offset} "):
        check_warc(tmp_path / "length.warc", "length.warc")


def test_one_gzip_member_for_the_whole_file_is_refused(made: Path, tmp_path: Path) -> None:
    ia.single_member(made / "rec.warc.gz", tmp_path / "one.warc.gz")
    with pytest.raises(BadInput, match="not one gzip member per record .*warcio recompress"):
        check_warc(tmp_path / "one.warc.gz", "one.warc.gz")


@pytest.mark.parametrize("name", ["long.warc.gz", "long.warc"])
def test_a_record_whose_headers_outgrow_the_budget_is_refused_by_its_offset(tmp_path: Path, name: str) -> None:
    """warcio holds a header line whole: a record whose headers take more than HEAD_BYTES of
    the file (here a header of random hex, which gzip cannot shrink under it) is refused
    before it is held, and, lenient, listed while the record before it is kept."""
    path = tmp_path / name
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=name.endswith(".gz"))
        head = StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1")
        for url, extra in [(ia.SITE, {}), (ia.SITE + "long", {"X-Padding": os.urandom(2 * HEAD_BYTES).hex()})]:
            writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(b"text"), http_headers=head,
                                                          warc_headers_dict={"WARC-Date": ia.T0, **extra}))
    offset = ia.record_offsets(path)[1][2]
    with pytest.raises(BadInput, match=rf"^{name}: the record at offset {offset} has headers over {HEAD_BYTES} bytes"):
        check_warc(path, name)
    lenient = check_warc(path, name, lenient=True)
    assert [b.offset for b in lenient.bad] == [offset] and [r["url"] for r in lenient.rows] == [ia.SITE]


def test_bytes_full_of_gzip_magic_are_refused_at_once_without_looking_for_records_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusing needs no place where records start again: only lenient reading looks for one
    (each '\\x1f\\x8b\\x08' a candidate, a few MB of them a long search)."""
    path = tmp_path / "magic.warc.gz"
    path.write_bytes(b"\x1f\x8b\x08" * 1_000_000)
    searched: list[int] = []
    real_search = validate._next_start

    def search(fh, after: int, size: int, gzipped: bool) -> int:  # type: ignore[no-untyped-def]
        searched.append(after)
        return real_search(fh, after, size, gzipped)

    monkeypatch.setattr(validate, "_next_start", search)
    with pytest.raises(BadInput, match=r"^magic\.warc\.gz: not a readable WARC file: the record at offset 0 "):
        check_warc(path, "magic.warc.gz")
    assert searched == []
    small = tmp_path / "small.warc.gz"
    small.write_bytes(b"\x1f\x8b\x08" * 30_000)
    with pytest.raises(BadInput, match=r"offset 0 .*; nothing in it can be imported"):
        check_warc(small, "small.warc.gz", lenient=True)
    assert searched == [1]  # lenient: looked once, found none


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, b"<html>not a warc</html>\n" * 20])
def test_a_file_that_is_not_warc_is_refused_as_such(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.warc").write_bytes(content)
    for lenient in (False, True):
        with pytest.raises(BadInput, match=r"^x\.warc: not a readable WARC file: the record at offset 0 "):
            check_warc(tmp_path / "x.warc", "x.warc", lenient=lenient)


# -- reading imported records back --------------------------------------------------------------

@pytest.mark.parametrize("name", ["rec.warc.gz", "rec.warc"])
def test_records_read_back_from_either_file_give_the_payloads_archived(made: Path, name: str) -> None:
    held = {ia.SITE: ia.PAGE, ia.SITE + "style.css": ia.CSS, ia.SITE + "logo.png": ia.PNG,
            ia.SITE + "notes.txt": ia.NOTES}
    for row in check_warc(made / name, name).rows:
        with open_record(made / name, row["offset"], row["length"]) as record:
            assert int(record.http_headers.get_statuscode()) == 200
            body = record.raw_stream.read()
            if row["rectype"] == "revisit":
                assert body == b""
            else:
                assert body == held[row["url"]], row
            if row["rectype"] == "resource":  # served as a 200 response of its WARC Content-Type
                assert record.http_headers.get_header("Content-Type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize("compress", [True, False])
def test_a_chunked_body_kept_by_wget_reads_without_its_framing(tmp_path: Path, compress: bool) -> None:
    path, held = ia.wget_warc(tmp_path, compress=compress)
    rows = {r["url"]: r for r in check_warc(path, path.name).rows}
    chunked = rows[next(u for u in held if u.endswith("chunked.txt"))]
    with open_record(path, chunked["offset"], chunked["length"]) as record:
        assert record.http_headers.get_header("Transfer-Encoding") is None
        assert record.raw_stream.read() == b"".join(ia.CHUNKS)
        assert record.content_stream().read() == b""  # read already: not undone twice
    with open_record(path, chunked["offset"], chunked["length"]) as record:
        assert record.content_stream().read() == b"".join(ia.CHUNKS)


def test_a_flipped_byte_in_an_uncompressed_chunked_body_is_refused_before_its_last_bytes(tmp_path: Path) -> None:
    path, _ = ia.wget_warc(tmp_path, compress=False)
    chunked = next(r for r in check_warc(path, path.name).rows if r["url"].endswith("chunked.txt"))
    data = bytearray(path.read_bytes())
    at = data.index(b"second chunk", chunked["offset"])
    data[at] ^= 0x01
    (tmp_path / "bad.warc").write_bytes(bytes(data))
    got = b""
    with pytest.raises(Failure, match=rf"offset {chunked['offset']} is corrupt"):
        with open_record(tmp_path / "bad.warc", chunked["offset"], chunked["length"]) as record:
            while chunk := record.raw_stream.read(8):
                got += chunk
    assert len(got) < len(b"".join(ia.CHUNKS))


def test_verify_names_where_an_imported_uncompressed_copy_is_damaged(made: Path, tmp_path: Path) -> None:
    _, _, offset, length = next(r for r in ia.record_offsets(made / "rec.warc") if r[1] == ia.SITE + "logo.png")
    ia.flip_inside(made / "rec.warc", tmp_path / "copy.warc", offset + length - 10)
    found = where_damaged(tmp_path / "copy.warc", "warc")
    assert found is not None and found.startswith(f"{tmp_path / 'copy.warc'}: the record at offset {offset} is corrupt")
    assert where_damaged(made / "rec.warc", "warc") is None


def test_a_browser_captures_dom_and_screenshot_are_indexed_as_a_capture_indexes_them(tmp_path: Path) -> None:
    """An imported browser-mode capture (Refuge's own, from another archive) replays and
    exports from its rendered DOM only if the import indexes urn:dom: and urn:screenshot:
    as the capture that wrote them did; a urn: of anything else stays unindexed."""
    page, date = "https://kampuchea.example/news/", "2026-12-04T10:00:00Z"
    path = tmp_path / "browser.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        head = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(page, "response", payload=BytesIO(b"<p>shell</p>"),
                                                      http_headers=head, warc_headers_dict={"WARC-Date": date}))
        for uri, kind, body in [(f"urn:dom:{page}", "text/html; charset=utf-8", "<p>ការបោះឆ្នោត</p>".encode()),
                                (f"urn:screenshot:{page}", "image/png", b"\x89PNG\r\n\x1a\n"),
                                ("urn:pageinfo:" + page, "application/json", b"{}")]:
            writer.write_record(writer.create_warc_record(uri, "resource", payload=BytesIO(body),
                                                          warc_content_type=kind,
                                                          warc_headers_dict={"WARC-Date": date}))
    found = check_warc(path, "browser.warc.gz")
    assert not found.bad and found.unindexed == 1  # the urn:pageinfo resource
    captured, _ = index_warc(path)
    fields = ("urlkey", "timestamp", "url", "mime", "status", "offset", "length", "rectype")
    assert [{f: r[f] for f in fields} for r in found.rows] == [{f: r[f] for f in fields} for r in captured
                                                               if not r["url"].startswith("urn:pageinfo:")]
    assert [r["url"] for r in found.rows] == [page, f"urn:dom:{page}", f"urn:screenshot:{page}"]
    assert [r["mime"] for r in found.rows] == ["text/html", "text/html", "image/png"]
