"""Corrupt, not cut: a flipped byte inside a stored record, a garbled index, a damaged
manifest. Every reader names the file and the offset (or line), none serves, copies or
passes as intact a damaged record, and what is intact around it still reads."""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import random
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest
from sqlalchemy import update
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import BUFF_SIZE
from warcio.warcwriter import WARCWriter
from werkzeug.test import Client

from refuge.cli.main import main
from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.mirror.replay.app import STREAMS, make_app
from refuge.storage import catalog
from refuge.storage.catalog.schema import cdx
from refuge.storage.warc.records import open_record
from replay_helpers import ArchiveWriter
from replica_helpers import flip_byte, make_capture
from servers import free_port

REFUGE = str(Path(sys.executable).with_name("refuge"))
SITE = "https://news.example/"
T = "20261127234147"
HTML = (("Content-Type", "text/html; charset=utf-8"),)
BINARY = (("Content-Type", "application/octet-stream"),)


def _big_html() -> bytes:
    para = '<p>ប្រទេសកម្ពុជា news <a href="/news/a1.html">more</a></p>\n'.encode()
    return b"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + para * 40_000 + b"</body></html>"


@pytest.fixture
def archive(tmp_path) -> SimpleNamespace:
    """One WARC file: a small page, a 3 MB page (streamed when rewritten), a 3 MB and a
    40 kB incompressible file (deflate stores such bytes as they are, so a flipped byte in
    them inflates without complaint and only the gzip CRC shows it), and a 3.5 MB file
    left intact."""
    data = tmp_path / "data"
    data.mkdir()
    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    rng = random.Random(14)
    bodies = {"page": "<html><title>ទំព័រ</title><p>first</p></html>".encode(), "big_html": _big_html(),
              "blob": rng.randbytes(3_000_000), "small": rng.randbytes(40_000), "big_ok": b"refuge " * 500_000}
    urls = {"page": SITE, "big_html": SITE + "big.html", "blob": SITE + "blob.bin", "small": SITE + "small.bin",
            "big_ok": SITE + "big-ok.bin"}
    with ArchiveWriter(settings, engine, seed=SITE) as w:
        rows = {k: w.response(urls[k], bodies[k], ts=T, headers=HTML if "html" in k or k == "page" else BINARY)
                for k in bodies}
    [warc] = data.rglob("*.warc.gz")
    return SimpleNamespace(settings=settings, engine=engine, warc=warc, rows=rows, bodies=bodies, urls=urls,
                           pristine=warc.read_bytes())


def _read(path: Path, row: dict, stream: bool, got: list[bytes]) -> None:
    """Read the record's payload into GOT, chunk by chunk, as replay and export do."""
    with open_record(path, row["offset"], row["length"], stream=stream) as record:
        while chunk := record.raw_stream.read(64 * 1024):
            got.append(chunk)


def _corrupt(path: Path, row: dict, where: str) -> None:
    # Not the gzip header's mtime, flags' FTEXT bit, XFL or OS bytes: hints that change
    # nothing read (verify still finds the file's SHA-256 changed).
    start, length = row["offset"], row["length"]
    at = {"gzip magic": 1, "gzip method": 2, "deflate start": 12, "middle": length // 2,
          "last deflate byte": length - 9, "crc": length - 6, "size": length - 2}[where]
    flip_byte(path, start + at)


@pytest.mark.parametrize("where", ["gzip magic", "gzip method", "deflate start", "middle", "last deflate byte",
                                   "crc", "size"])
@pytest.mark.parametrize("key", ["blob", "small", "big_html"])
def test_a_flipped_byte_anywhere_in_a_record_is_refused_before_its_last_bytes(archive, key, where) -> None:
    row = archive.rows[key]
    _corrupt(archive.warc, row, where)
    for stream in (False, True):
        got: list[bytes] = []
        with pytest.raises(Failure) as refused:
            _read(archive.warc, row, stream, got)
        [line] = str(refused.value).splitlines()
        why = "it does not parse as a WARC record" if where == "gzip magic" else "its gzip data does not inflate"
        assert line.startswith(f"{archive.warc}: the record at offset {row['offset']} is corrupt: {why}")
        # Whatever was handed over before the damage showed, the whole payload never was.
        assert len(b"".join(got)) < len(archive.bodies[key])
    # The records around it are untouched and read whole.
    for other in set(archive.rows) - {key}:
        got = []
        _read(archive.warc, archive.rows[other], True, got)
        assert b"".join(got) == archive.bodies[other]


def _one_record_warc(payload: bytes) -> bytes:
    """A gzipped WARC file of one response record, written by warcio (the same bytes every run)."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="WARC/1.1")
    head = StatusAndHeaders("200 OK", [("Content-Type", "application/octet-stream"),
                                       ("Content-Length", str(len(payload)))], protocol="HTTP/1.1")
    fixed = {"WARC-Record-ID": "<urn:uuid:6c4e3a8e-0b7a-4f55-9d0e-2f2b7c1d9a11>", "WARC-Date": "2026-11-27T23:41:47Z"}
    writer.write_record(writer.create_warc_record("https://news.example/a.bin", "response", payload=io.BytesIO(payload),
                                                  http_headers=head, warc_headers_dict=fixed))
    return out.getvalue()


def _payload_inflated_by(member: bytes) -> int:
    """How many leading bytes of MEMBER inflate to the whole payload (all but the closing CRLFs)."""
    needed = len(zlib.decompress(member, 16 + zlib.MAX_WBITS)) - 4
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    done, fed = len(inflater.decompress(member[:-64])), len(member) - 64
    while done < needed:
        done += len(inflater.decompress(member[fed:fed + 1]))
        fed += 1
    return fed


def test_damage_only_the_crc_shows_is_caught_when_the_crc_falls_in_a_later_block(tmp_path) -> None:
    """Records are inflated a block (BUFF_SIZE bytes) at a time and zlib checks the CRC as
    soon as it has it; in a member whose CRC starts in a later block than the payload's last
    bytes, every payload byte would be handed over before the CRC is read. The member's end
    is checked before the last bytes go out."""
    data, size = random.Random(7).randbytes(300_000), 200_000
    for _ in range(30):  # grow or shrink the payload until the CRC starts just past a block boundary
        member = _one_record_warc(data[:size])
        if (_payload_inflated_by(member) - 1) // BUFF_SIZE < (len(member) - 8) // BUFF_SIZE:
            break
        size += (10 - len(member) % BUFF_SIZE + BUFF_SIZE // 2) % BUFF_SIZE - BUFF_SIZE // 2
    else:
        pytest.fail("no payload size put the gzip CRC in a block after the payload's end")
    path = tmp_path / "one.warc.gz"
    path.write_bytes(member)
    flip_byte(path, len(member) // 2)  # incompressible bytes are stored as they are: it inflates without error
    for stream in (False, True):
        got: list[bytes] = []
        with pytest.raises(Failure, match=f"^{path}: the record at offset 0 is corrupt: its gzip data does not "
                                          "inflate .*incorrect data check"):
            _read(path, {"offset": 0, "length": len(member)}, stream, got)
        assert len(b"".join(got)) < size


@pytest.fixture
def plain_warc(archive, tmp_path) -> tuple[Path, dict[str, int]]:
    """The same records in an uncompressed WARC file (no CRC: only the WARC digests can
    tell), and each response's offset in it."""
    path = tmp_path / "plain.warc"
    path.write_bytes(gzip.decompress(archive.pristine))
    offsets = {}
    with open(path, "rb") as fh:
        records = ArchiveIterator(fh)
        for record in records:
            if record.rec_type == "response":
                offsets[record.rec_headers.get_header("WARC-Target-URI")] = records.get_record_offset()
    return path, offsets


@pytest.mark.parametrize("where", ["payload", "http headers"])
def test_a_flipped_byte_in_an_uncompressed_record_fails_its_digest(archive, plain_warc, where) -> None:
    path, offsets = plain_warc
    offset = offsets[archive.urls["small"]]
    head = path.read_bytes()[offset:offset + 4096]
    http_start = head.index(b"HTTP/1.1 200")
    body_start = head.index(b"\r\n\r\n", http_start) + 4
    flip_byte(path, offset + (body_start + 20_000 if where == "payload" else http_start + 5))
    got: list[bytes] = []
    with pytest.raises(Failure, match=f"^{path}: the record at offset {offset} is corrupt: its bytes do not match "
                                      "its digest"):
        _read(path, {"offset": offset, "length": None}, True, got)
    assert len(b"".join(got)) < 40_000
    # The intact records of the same file pass their digests and read whole.
    for key in ("page", "blob"):
        got = []
        _read(path, {"offset": offsets[archive.urls[key]], "length": None}, True, got)
        assert b"".join(got) == archive.bodies[key]


def test_replay_refuses_a_record_damaged_where_it_starts_and_serves_the_rest(archive, caplog) -> None:
    row = archive.rows["page"]
    _corrupt(archive.warc, row, "deflate start")
    client = Client(make_app(archive.settings, archive.engine))
    for mod in ("", "id_"):
        page = client.get(f"/web/{T}{mod}/{SITE}")
        text = page.get_data(as_text=True)
        assert page.status_code == 404 and "damaged or incomplete" in text and str(archive.settings.data) not in text
    assert f"{archive.warc}: the record at offset {row['offset']} is corrupt" in caplog.text
    small = client.get(f"/web/{T}id_/{archive.urls['small']}")
    assert small.status_code == 200 and small.get_data() == archive.bodies["small"]


@contextmanager
def _serving(data: Path, log: Path) -> Iterator[str]:
    """`refuge serve` on DATA in one process, its log to LOG, until the block ends."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")} | {"REFUGE_DATA": str(data)}
    with open(log, "wb") as out:
        proc = subprocess.Popen([REFUGE, "serve", "--port", str(port), "--processes", "1"], env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while _get(port, "/healthz")[0] != 200:
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


def _get(port: int, path: str) -> tuple[int, bytes | None]:
    """Status and whole body; None for a body the server did not finish (connection closed
    short of its Content-Length, or before the last chunk)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        try:
            return response.status, response.read()
        except http.client.IncompleteRead:
            return response.status, None
    except OSError:
        return 0, None
    finally:
        conn.close()


def test_a_record_found_corrupt_mid_stream_ends_the_response_short_and_the_server_goes_on(archive,
                                                                                       tmp_path) -> None:
    blob, html = archive.rows["blob"], archive.rows["big_html"]
    _corrupt(archive.warc, blob, "middle")  # stored deflate: the CRC at the end is all that tells
    flip_byte(archive.warc, html["offset"] + html["length"] * 9 // 10)  # past the first 2 MiB rewritten
    log = tmp_path / "serve.log"
    with _serving(archive.settings.data, log) as port:
        status, body = _get(port, f"/web/{T}id_/{archive.urls['blob']}")  # raw, with a Content-Length
        assert status == 200 and body is None
        status, body = _get(port, f"/web/{T}/{archive.urls['big_html']}")  # rewritten, chunked
        assert status == 200 and body is None
        for _ in range(STREAMS):  # each cut response gives back its place among the big streams
            assert _get(port, f"/web/{T}id_/{archive.urls['blob']}") == (200, None)
            assert _get(port, f"/web/{T}/{archive.urls['big_html']}") == (200, None)
        assert _get(port, f"/web/{T}id_/{archive.urls['big_ok']}") == (200, archive.bodies["big_ok"])
        assert _get(port, "/healthz") == (200, b"ok\n")
        assert _get(port, f"/web/{T}id_/{archive.urls['small']}") == (200, archive.bodies["small"])
        status, body = _get(port, f"/web/{T}/{SITE}")
        assert status == 200 and "ទំព័រ" in body.decode()
    text = log.read_text()
    for row in (blob, html):
        assert f"{archive.warc}: the record at offset {row['offset']} is corrupt" in text
        assert "the response was cut short" in text


def _export(settings: Settings, out: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")} | {"REFUGE_DATA": str(settings.data)}
    return subprocess.run([REFUGE, "export", "site", "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=120)


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_stops_with_the_file_and_offset_named_and_keeps_the_earlier_export(archive, tmp_path) -> None:
    out = tmp_path / "out"
    assert _export(archive.settings, out).returncode == 0
    before = _tree(out)
    blob = archive.rows["blob"]
    _corrupt(archive.warc, blob, "middle")
    done = _export(archive.settings, out)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"refuge: failed: export of {archive.urls['blob']}: ")
    assert f"{archive.warc}: the record at offset {blob['offset']} is corrupt" in line
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_an_index_row_pointing_past_the_end_of_its_file_is_refused_by_replay_and_export(archive, tmp_path,
                                                                                       caplog) -> None:
    size = archive.warc.stat().st_size
    with archive.engine.begin() as conn:
        conn.execute(update(cdx).where(cdx.c.url == archive.urls["small"]).values(offset=size + 500))
    page = Client(make_app(archive.settings, archive.engine)).get(f"/web/{T}id_/{archive.urls['small']}")
    assert page.status_code == 404 and "damaged or incomplete" in page.get_data(as_text=True)
    expected = f"{archive.warc}: no WARC record at offset {size + 500}: the file is only {size} bytes long"
    assert expected in caplog.text
    done = _export(archive.settings, tmp_path / "out")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr


# -- refuge verify: damaged WARC files, indexes and manifests ------------------------------------------------

@pytest.fixture
def captured(tmp_settings) -> SimpleNamespace:
    engine = catalog.connect(tmp_settings.catalog_url)
    made = make_capture(tmp_settings, engine, records=2, payload_size=50_000)
    folder = tmp_settings.archive_dir / made.target / made.capture_id
    [warc] = made.warcs
    return SimpleNamespace(settings=tmp_settings, engine=engine, made=made, folder=folder, warc=warc,
                           cdxj=warc.with_name(warc.name.replace(".warc.gz", ".cdxj")),
                           manifest=folder / f"{made.capture_id}.manifest.json",
                           sums=folder / f"{made.capture_id}.sha256")


def _verify(captured, capsys) -> tuple[int, list[str]]:
    """Exit status and the lines about copies that are not ok (stderr must stay empty)."""
    code = main(["--data", str(captured.settings.data), "verify", captured.made.capture_id])
    out, err = capsys.readouterr()
    assert err == ""
    return code, [line.strip() for line in out.splitlines()[1:]]


def test_verify_names_the_corrupt_record_of_a_warc_file(captured, capsys) -> None:
    offsets = []
    with open(captured.warc, "rb") as fh:
        records = ArchiveIterator(fh)
        for record in records:
            records.read_to_end(record)
            offsets.append(records.get_record_offset())
    second_response = offsets[4]  # warcinfo, request, response, request, response
    flip_byte(captured.warc, second_response + 3000)
    code, [line] = _verify(captured, capsys)
    assert code == 1
    assert line.startswith(f"BAD: local {captured.made.capture_id}/{captured.warc.name}: sha256 ")
    assert f"; first damage: {captured.warc}: the record at offset {second_response} is corrupt: its gzip data " \
           "does not inflate (" in line and line.endswith(")")


def _garble_line(data: bytes) -> bytes:
    return data.replace(b"\n", b"\nthis is not an index line\n", 1)


def _cut_line(data: bytes) -> bytes:
    return data[:data.index(b"\n") // 2]


def _not_utf8(data: bytes) -> bytes:
    return data.replace(b'"url"', b'"\xff\xfel"', 1)


def _bad_json(data: bytes) -> bytes:
    return data.replace(b'", "', b'" "', 1)


def _past_the_end(data: bytes) -> bytes:
    first = json.loads(data.split(b"\n")[0].split(b" ", 2)[2])
    return data.replace(f'"offset": "{first["offset"]}"'.encode(), b'"offset": "999999999"', 1)


@pytest.mark.parametrize("damage, line, says", [
    (_garble_line, 2, "not a CDXJ line"),
    (_cut_line, 1, "cut short"),
    (_not_utf8, 1, "not UTF-8 (byte offset "),
    (_bad_json, 1, "not a JSON object of strings"),
    (_past_the_end, 1, "points past the end of "),
])
def test_verify_names_the_damaged_line_of_an_index_and_replay_does_not_read_it(captured, capsys, damage, line,
                                                                              says) -> None:
    captured.cdxj.write_bytes(damage(captured.cdxj.read_bytes()))
    code, [found] = _verify(captured, capsys)
    assert code == 1 and found.startswith(f"BAD: local {captured.made.capture_id}/{captured.cdxj.name}: ")
    assert f"; first damage: {captured.cdxj}: line {line} (byte offset " in found and says in found
    # Replay looks records up in the catalog, never in the .cdxj file: it still serves them.
    client = Client(make_app(captured.settings, captured.engine))
    assert client.get(f"/web/{T}id_/https://site.example/doc0.pdf").status_code == 200


@pytest.mark.parametrize("damage, says", [
    (lambda p: p.write_bytes(p.read_bytes()[:-200]), "not JSON: "),
    (lambda p: p.write_bytes(p.read_bytes().replace(b'"files"', b'"fi\xffes"')), "not UTF-8 at byte offset "),
    (lambda p: p.write_bytes(p.read_bytes().replace(b'": ', b'"; ', 1)), "not JSON: Expecting ':' delimiter"),
    (lambda p: p.write_text(p.read_text().replace('"files"', '"filez"')), "JSON, but not a capture manifest"),
])
def test_verify_reports_a_damaged_manifest_in_one_line(captured, capsys, damage, says) -> None:
    damage(captured.manifest)
    code, [found] = _verify(captured, capsys)
    assert code == 1 and found.startswith(f"BAD: local {captured.made.capture_id}/{captured.manifest.name}: ")
    assert f"; first damage: {captured.manifest}: {says}" in found


def test_verify_reports_a_missing_manifest_and_a_garbled_sums_file(captured, capsys) -> None:
    captured.manifest.unlink()
    captured.sums.write_bytes(captured.sums.read_bytes().replace(b"  ", b" *", 1))
    code, found = _verify(captured, capsys)
    assert code == 1 and len(found) == 2
    assert f"MISSING: local {captured.made.capture_id}/{captured.manifest.name}: local: {captured.manifest} is " \
           "missing" in found
    [sums] = [line for line in found if captured.sums.name in line]
    assert sums.startswith("BAD: ") and f"first damage: {captured.sums}: line 1 (byte offset 0): not " in sums
    code = main(["--data", str(captured.settings.data), "verify", captured.made.capture_id, "--json"])
    assert code == 1 and json.loads(capsys.readouterr().out)["ok"] is False
