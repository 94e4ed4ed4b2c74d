"""WACZ packages of captures (storage.wacz): what goes in, that it is the capture's bytes as
sealed, that its signature is the one ReplayWeb.page and openssl check, and that
verify_wacz refuses what was changed, forged or built to hurt, with a line naming the file."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import time
import tracemalloc
import zipfile
from pathlib import Path

import import_archives as ia
import pytest
from replica_helpers import make_capture
from wacz_helpers import OPERATOR, capture_twice, flip_byte_in_member, rezip, set_declared_sizes
from warcio.archiveiterator import ArchiveIterator

from refuge.config.errors import BadInput
from refuge.storage import catalog
from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR
from refuge.storage.manifest import ensure_manifest
from refuge.storage.wacz.package import STALE_TMP, write_wacz
from refuge.storage.wacz.signing import WaczKey, check_signature, wacz_key
from refuge.storage.wacz.verify import verify_wacz


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    root = tmp_path_factory.mktemp("wacz")
    made = capture_twice(root / "data")
    settings, engine = made["settings"], made["engine"]
    made["first_wacz"] = write_wacz(settings, engine, "news", root / "first.wacz", made["first"])
    made["second_wacz"] = write_wacz(settings, engine, "news", root / "second.wacz")  # the newest complete
    made["root"] = root
    return made


def _read(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as package:
        return package.read(name)


def _sealed(captured, capture_id: str) -> dict[str, dict]:
    return {f["name"]: f for f in catalog.capture_files(captured["engine"], capture_id) if f["kind"] == "warc"}


def test_the_warc_files_inside_are_the_sealed_ones_byte_for_byte(captured) -> None:
    packaged = captured["first_wacz"]
    sealed = _sealed(captured, captured["first"])
    with zipfile.ZipFile(packaged.path) as package:
        archive = [i for i in package.infolist() if i.filename.startswith("archive/")]
        assert sorted(i.filename for i in archive) == sorted(f"archive/{name}" for name in sealed)
        for info in archive:
            assert info.compress_type == zipfile.ZIP_STORED  # so a reader can seek into it
            data = package.read(info)
            stored = sealed[info.filename.removeprefix("archive/")]
            assert hashlib.sha256(data).hexdigest() == stored["sha256"] == \
                hashlib.sha256((captured["settings"].data / stored["path"]).read_bytes()).hexdigest()
    doc = json.loads(_read(packaged.path, "datapackage.json"))
    listed = {r["path"]: r for r in doc["resources"]}
    for name, f in sealed.items():
        assert listed[f"archive/{name}"] == {"name": name, "path": f"archive/{name}", "hash": f"sha256:{f['sha256']}",
                                             "bytes": f["size"]}
    assert packaged.originals == 0 and packaged.warcs == len(sealed)


def test_datapackage_and_signed_digest_say_what_the_spec_asks(captured) -> None:
    packaged = captured["first_wacz"]
    body = _read(packaged.path, "datapackage.json")
    doc = json.loads(body)
    assert doc["profile"] == "data-package" and doc["wacz_version"] == "1.1.1"
    assert doc["software"].startswith("Refuge ") and doc["created"] == packaged.created
    assert doc["mainPageURL"] == captured["seed"] and doc["mainPageDate"].endswith("Z")
    assert doc["refuge"]["capture"] == captured["first"] and doc["refuge"]["operator"] == OPERATOR
    assert [r["path"] for r in doc["resources"]][-2:] == ["indexes/index.cdxj", "pages/pages.jsonl"]
    for resource in doc["resources"]:
        data = _read(packaged.path, resource["path"])
        assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest() and resource["bytes"] == len(data)
    digest = json.loads(_read(packaged.path, "datapackage-digest.json"))
    assert digest["path"] == "datapackage.json" and digest["hash"] == "sha256:" + hashlib.sha256(body).hexdigest()
    signed = digest["signedData"]
    assert set(signed) == {"hash", "signature", "publicKey", "created", "software"}
    assert signed["hash"] == digest["hash"] and signed["created"] == doc["created"]
    assert signed["publicKey"] == wacz_key(captured["settings"]).public_key_b64() == packaged.public_key
    assert len(base64.b64decode(signed["signature"])) == 96  # P-384's r||s, as WebCrypto writes it
    assert check_signature(signed)[0] is True


def test_the_index_is_sorted_and_every_line_finds_its_record(captured) -> None:
    for packaged in (captured["first_wacz"], captured["second_wacz"]):
        lines = _read(packaged.path, "indexes/index.cdxj").decode("utf-8").splitlines()
        assert lines == sorted(lines) and len(lines) == packaged.records
        with zipfile.ZipFile(packaged.path) as package:
            for line in lines:
                key, ts, fields = line.split(" ", 2)
                row = json.loads(fields)
                data = package.read(f"archive/{row['filename']}")
                offset, length = int(row["offset"]), int(row["length"])
                record = next(iter(ArchiveIterator(io.BytesIO(data[offset:offset + length]))))
                assert record.rec_headers.get_header("WARC-Target-URI") == row["url"]
                assert record.rec_headers.get_header("WARC-Date").replace("-", "").replace(":", "")[:15] \
                    .replace("T", "") == ts


def test_a_later_capture_carries_the_records_its_revisits_stand_for(captured) -> None:
    packaged = captured["second_wacz"]
    assert captured["second_summary"]["revisits"] > 0 and packaged.originals > 0
    name = f"archive/{captured['second']}-originals.warc.gz"
    with zipfile.ZipFile(packaged.path) as package:
        originals = package.read(name)
        assert package.getinfo(name).compress_type == zipfile.ZIP_STORED
    records = list(ArchiveIterator(io.BytesIO(originals)))
    assert records[0].rec_type == "warcinfo" and all(r.rec_type == "response" for r in records[1:])
    rows = [json.loads(line.split(" ", 2)[2])
            for line in _read(packaged.path, "indexes/index.cdxj").decode("utf-8").splitlines()]
    responses = {r["digest"] for r in rows if r["mime"] != "warc/revisit"}
    assert all(r["digest"] in responses for r in rows if r["mime"] == "warc/revisit")  # none stands for nothing
    # Each copied record is the stored one, byte for byte: its gzip member from the first capture's file.
    first_files = {name: (captured["settings"].data / f["path"]).read_bytes()
                   for name, f in _sealed(captured, captured["first"]).items()}
    for row in (r for r in rows if r["filename"].endswith("-originals.warc.gz")):
        member = originals[int(row["offset"]):int(row["offset"]) + int(row["length"])]
        assert any(member in data for data in first_files.values())
    check = verify_wacz(packaged.path)
    assert check.ok, check.problems


def test_pages_list_every_html_page_with_its_title_and_khmer_text(captured) -> None:
    lines = _read(captured["first_wacz"].path, "pages/pages.jsonl").decode("utf-8").splitlines()
    header, pages = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header == {"format": "json-pages-1.0", "id": "pages", "title": "All Pages", "hasText": True}
    assert len(pages) == captured["first_wacz"].pages and len({p["id"] for p in pages}) == len(pages)
    by_url = {p["url"]: p for p in pages}
    front = by_url[captured["seed"]]
    assert front["title"].startswith("Mekong Observer") and front["ts"].endswith("Z") and "<" not in front["text"]
    khmer = [p for p in pages if "/km/" in p["url"]]
    assert khmer and any("សេរីភាពសារព័ត៌មាន" in p.get("text", "") + p.get("title", "") for p in khmer)
    assert not any(p["url"].endswith((".css", ".js", ".png", ".gif")) for p in pages)
    # The second capture's pages are revisits: their text comes from the records they stand for.
    second = [json.loads(line) for line in
              _read(captured["second_wacz"].path, "pages/pages.jsonl").decode("utf-8").splitlines()[1:]]
    assert {p["url"]: p.get("text") for p in second}[captured["seed"]] == front["text"]


def test_a_page_under_a_takedown_is_left_out_of_the_page_list_not_out_of_the_warc(captured, tmp_path) -> None:
    settings, engine = captured["settings"], captured["engine"]
    url = next(p for p in (json.loads(line) for line in
                           _read(captured["first_wacz"].path, "pages/pages.jsonl").decode().splitlines()[1:])
               if "/km/" in p["url"])["url"]
    row = hidden.hide(engine, url, "Withheld at the request of a person named in it", CLI_ACTOR)
    try:
        packaged = write_wacz(settings, engine, "news", tmp_path / "hidden.wacz", captured["first"])
    finally:
        hidden.unhide(engine, row["id"], CLI_ACTOR)
    pages = _read(packaged.path, "pages/pages.jsonl").decode("utf-8")
    assert packaged.withheld == 1 and f'"url": "{url}"' not in pages
    assert url in _read(packaged.path, "indexes/index.cdxj").decode("utf-8")  # the record stays
    check = verify_wacz(packaged.path)
    assert check.ok, check.problems


def test_the_signature_checks_out_as_replayweb_page_and_openssl_check_it(captured, tmp_path) -> None:
    signed = json.loads(_read(captured["first_wacz"].path, "datapackage-digest.json"))["signedData"]
    # wabac.js (ReplayWeb.page): importKey("spki", P-384), verify ECDSA SHA-256 over the hash's UTF-8.
    node = shutil.which("node")
    if node is not None:
        script = ("const d = JSON.parse(process.argv[1]);"
                  "crypto.subtle.importKey('spki', Buffer.from(d.publicKey, 'base64'),"
                  " {name: 'ECDSA', namedCurve: 'P-384'}, true, ['verify'])"
                  ".then(k => crypto.subtle.verify({name: 'ECDSA', hash: 'SHA-256'}, k,"
                  " Buffer.from(d.signature, 'base64'), new TextEncoder().encode(d.hash)))"
                  ".then(ok => process.exit(ok ? 0 : 1));")
        assert subprocess.run([node, "-e", script, json.dumps(signed)], timeout=60).returncode == 0
        forged = dict(signed, hash=signed["hash"][:-1] + ("0" if signed["hash"][-1] != "0" else "1"))
        assert subprocess.run([node, "-e", script, json.dumps(forged)], timeout=60).returncode == 1
    # openssl, with the README's recipe: the raw r||s pair as DER.
    raw = base64.b64decode(signed["signature"])
    (tmp_path / "signer.der").write_bytes(base64.b64decode(signed["publicKey"]))
    (tmp_path / "signed.txt").write_bytes(signed["hash"].encode())
    (tmp_path / "sig.der").write_bytes(_der(raw))
    check = subprocess.run(["openssl", "dgst", "-sha256", "-verify", "signer.der", "-keyform", "DER",
                            "-signature", "sig.der", "signed.txt"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0 and "Verified OK" in check.stdout, check.stderr


def _der(raw: bytes) -> bytes:
    def integer(b: bytes) -> bytes:
        b = b.lstrip(b"\0") or b"\0"
        b = b"\0" + b if b[0] & 0x80 else b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(raw[:len(raw) // 2]) + integer(raw[len(raw) // 2:])
    return b"\x30" + bytes([len(body)]) + body


# -- what verify_wacz refuses ------------------------------------------------------------

@pytest.fixture
def package(captured, tmp_path) -> Path:
    path = tmp_path / "copy.wacz"
    shutil.copyfile(captured["first_wacz"].path, path)
    return path


def _warc_member(path: Path) -> str:
    return next(n for n in zipfile.ZipFile(path).namelist() if n.startswith("archive/"))


def test_an_intact_package_verifies(package) -> None:
    check = verify_wacz(package)
    assert (check.ok, check.problems, check.signed, check.signature_ok) == (True, [], True, True)
    assert check.software.startswith("Refuge ") and check.created.endswith("Z") and check.public_key


def test_a_byte_flipped_in_a_warc_file_is_found_and_named(package) -> None:
    name = _warc_member(package)
    flip_byte_in_member(package, name)  # bit rot: the zip's CRC says so too
    check = verify_wacz(package)
    assert not check.ok and check.problems and all(p.startswith(name) for p in check.problems)


def test_a_warc_file_changed_and_rezipped_is_found_by_its_hash(package, tmp_path) -> None:
    name = _warc_member(package)
    forged = tmp_path / "forged.wacz"

    def change(member: str, data: bytes) -> bytes:
        if member != name:
            return data
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]
    rezip(package, forged, change)  # the zip is sound: its CRCs are the changed bytes'
    check = verify_wacz(forged)
    assert not check.ok and all(p.startswith(f"{name}: ") for p in check.problems)
    assert f"{name}: its SHA-256 is not the one datapackage.json lists" in check.problems
    assert any("warcio" in p or "offset" in p for p in check.problems)  # and the record it is in
    assert check.signature_ok is True  # the signature is intact: it is the WARC file that lies


@pytest.mark.parametrize("how", ["flip", "rezip"])
def test_a_changed_datapackage_is_found_and_named(package, tmp_path, how) -> None:
    if how == "flip":
        flip_byte_in_member(package, "datapackage.json")
        target = package
    else:
        target = tmp_path / "forged.wacz"
        rezip(package, target, lambda n, d: d.replace(b'"title": "news', b'"title": "nevs') if n == "datapackage.json"
              else d)
    check = verify_wacz(target)
    assert not check.ok and any(p.startswith("datapackage") for p in check.problems), check.problems


def test_a_signature_by_another_key_or_edited_signed_data_is_refused(package, tmp_path) -> None:
    digest = json.loads(_read(package, "datapackage-digest.json"))
    other = WaczKey.generate()
    cases = {
        "other key's signature": dict(digest["signedData"], signature=other.sign(digest["hash"], "x", "y")["signature"]),
        "created edited": dict(digest["signedData"], created="2020-01-01T00:00:00Z"),
        "hash edited": dict(digest["signedData"], hash="sha256:" + "0" * 64),
        "key swapped": dict(digest["signedData"], publicKey=other.public_key_b64()),
        "not base64": dict(digest["signedData"], signature="%%%"),
        "no key": {k: v for k, v in digest["signedData"].items() if k != "publicKey"},
    }
    for case, signed in cases.items():
        forged = tmp_path / "forged.wacz"
        body = (json.dumps(dict(digest, signedData=signed)) + "\n").encode()
        rezip(package, forged, lambda n, d: body if n == "datapackage-digest.json" else d)
        check = verify_wacz(forged)
        assert not check.ok and check.signed, case
        assert any(p.startswith("datapackage-digest.json: ") for p in check.problems), (case, check.problems)
    # Signed anew, whole, by another key: it verifies, under that key (whose it is, the reader decides).
    resigned = tmp_path / "resigned.wacz"
    whole = dict(digest, signedData=other.sign(digest["hash"], digest["signedData"]["created"], "someone"))
    rezip(package, resigned, lambda n, d: json.dumps(whole).encode() if n == "datapackage-digest.json" else d)
    check = verify_wacz(resigned)
    assert check.ok and check.public_key == other.public_key_b64() != digest["signedData"]["publicKey"]


def test_an_unsigned_package_is_whole_but_says_so(package, tmp_path) -> None:
    unsigned = tmp_path / "unsigned.wacz"
    rezip(package, unsigned, lambda n, d: None if n == "datapackage-digest.json" else d)
    check = verify_wacz(unsigned)
    assert (check.ok, check.signed, check.signature_ok, check.public_key) == (True, False, None, None)


def test_a_package_hashed_with_md5_is_refused_saying_why(tmp_path) -> None:
    ia.recorder_warc(tmp_path / "r.warc.gz")
    md5 = tmp_path / "md5.wacz"
    subprocess.run([ia.WACZ, "create", "--hash-type", "md5", "-o", str(md5), str(tmp_path / "r.warc.gz")],
                   check=True, capture_output=True, timeout=120)
    check = verify_wacz(md5)
    assert not check.ok and check.problems == [
        "datapackage.json: its files are hashed with md5; Refuge checks sha256 packages only "
        "(`wacz create` makes one unless given --hash-type)"]


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as out:
        for name, data in members.items():
            out.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def test_hostile_packages_get_a_problem_line_never_an_exception(package, tmp_path) -> None:
    good = {n: _read(package, n) for n in zipfile.ZipFile(package).namelist()}
    cases: dict[str, Path] = {
        "../x": _zip(tmp_path / "climb.wacz", {**good, "../x": b"escape"}),
        "/etc/x": _zip(tmp_path / "absolute.wacz", {**good, "/etc/x": b"escape"}),
        "datapackage.json: not JSON": _zip(tmp_path / "json.wacz", {**good, "datapackage.json": b"{nope"}),
        "datapackage.json: no list of resources": _zip(tmp_path / "list.wacz", {**good, "datapackage.json": b"{}"}),
        "datapackage.json: not a JSON object": _zip(tmp_path / "array.wacz", {**good, "datapackage.json": b"[]"}),
        "datapackage.json: not in the package": _zip(tmp_path / "none.wacz", {"a.txt": b"hi"}),
        "not a zip file": tmp_path / "plain.wacz",
        "too short": tmp_path / "empty.wacz",
    }
    (tmp_path / "plain.wacz").write_bytes(b"WARC/1.1\r\n" * 1000)
    (tmp_path / "empty.wacz").write_bytes(b"")
    # A member whose stated sizes lie: 1 GB stored in a file of a few KB; 1 GB from a few deflated bytes.
    stored = _zip(tmp_path / "huge-stored.wacz", good, zipfile.ZIP_STORED)
    set_declared_sizes(stored, "pages/pages.jsonl", 1 << 30, 1 << 30)
    cases["pages/pages.jsonl: its 1073741824 stored bytes would reach past the end"] = stored
    deflated = _zip(tmp_path / "huge-deflated.wacz", good)
    set_declared_sizes(deflated, "pages/pages.jsonl", None, 1 << 30)
    cases["more than deflate can give"] = deflated
    # A real bomb: 300 MB of zeros deflated to a few hundred KB.
    cases["claim 3"] = _zip(tmp_path / "bomb.wacz", {**good, "pages/pages.jsonl": bytes(300 * 1024 * 1024)})
    # A WARC file whose first "header" never ends (a gzip member of 50 MB without a line end).
    endless = gzip.compress(b"WARC/1.1" + b"A" * (50 * 1024 * 1024), compresslevel=1)
    name = _warc_member(package)
    listing = json.loads(good["datapackage.json"])
    for resource in listing["resources"]:
        if resource["path"] == name:  # listed as it is: only reading it shows what it is
            resource.update(hash="sha256:" + hashlib.sha256(endless).hexdigest(), bytes=len(endless))
    cases["has headers over"] = _zip(tmp_path / "endless.wacz", {
        **{n: d for n, d in good.items() if n != "datapackage-digest.json"}, name: endless,
        "datapackage.json": json.dumps(listing).encode()}, zipfile.ZIP_STORED)
    for expected, path in cases.items():
        tracemalloc.start()
        try:
            check = verify_wacz(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert not check.ok and any(expected in p for p in check.problems), (expected, check.problems)
        assert all("\n" not in p for p in check.problems)
        assert peak < 80 * 1024 * 1024, (expected, peak)


def test_a_directory_too_big_to_load_is_refused_before_zipfile_reads_it(package, tmp_path) -> None:
    lying = tmp_path / "directory.wacz"
    data = bytearray(package.read_bytes())
    eocd = data.rindex(b"PK\x05\x06")
    data[eocd + 12:eocd + 16] = (0x7FFFFFF0).to_bytes(4, "little")  # a 2 GB central directory
    lying.write_bytes(bytes(data))
    check = verify_wacz(lying)
    assert not check.ok and "central directory claims" in check.problems[0]


# -- memory, provenance, the key ---------------------------------------------------------

def test_a_capture_of_tens_of_mb_is_packaged_and_verified_in_bounded_memory(tmp_settings, tmp_path) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    made = make_capture(tmp_settings.replace(warc_max_bytes=64 * 1024 * 1024), engine, "big", records=100)
    warc_bytes = sum(p.stat().st_size for p in made.warcs)
    assert warc_bytes > 29_000_000
    wacz_key(tmp_settings)  # made before measuring (it is made once)
    tracemalloc.start()
    try:
        packaged = write_wacz(tmp_settings, engine, "big", tmp_path / "big.wacz")
        packing = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        check = verify_wacz(packaged.path)
        verifying = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert check.ok, check.problems
    # Chunks of 1 MiB, a record's buffers: a small fraction of the 30 MB that went through.
    assert packing < 8 * 1024 * 1024 and verifying < 8 * 1024 * 1024, (packing, verifying, warc_bytes)


def test_an_index_or_page_list_outgrowing_zip32_sizes_is_written_whatever_the_warc_files_weigh(
        captured, tmp_path, monkeypatch) -> None:
    """Index and page list are streamed: zipfile must be told at their start that they may need
    zip64 sizes. A capture of revisits has a page list (text read from the originals) far
    bigger than its WARC files; zipfile's limit, lowered, stands for the 4 GiB it outgrows."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1000)
    packaged = write_wacz(captured["settings"], captured["engine"], "news", tmp_path / "zip64.wacz")
    assert min(len(_read(packaged.path, n)) for n in ("indexes/index.cdxj", "pages/pages.jsonl")) > 1000
    check = verify_wacz(packaged.path)
    assert check.ok, check.problems


def test_every_member_is_where_replaywebpage_reads_it(captured) -> None:
    """ReplayWeb.page (wabac.js) takes a member with no extra field in the central directory to
    have none in its local header either, and reads its bytes from there: a local header with
    extra fields (zip64 sizes, as the streamed members have) needs one in the directory too."""
    path = captured["second_wacz"].path
    with zipfile.ZipFile(path) as package, open(path, "rb") as fh:
        for info in package.infolist():
            fh.seek(info.header_offset + 26)
            _, local_extra = struct.unpack("<HH", fh.read(4))
            assert info.extra or not local_extra, info.filename


def test_a_killed_writers_temporary_package_is_removed_by_the_next_one(captured, tmp_path) -> None:
    """`refuge wacz` killed leaves `.NAME.<pid>-<hex>.tmp` beside --out: the next writer to the
    folder removes it once its process is gone and it has sat unchanged; nothing else."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    litter = tmp_path / f".news.wacz.{ended.pid}-0badc0de.tmp"
    kept = [tmp_path / f".news.wacz.{os.getpid()}-0badc0de.tmp",  # its writer is alive
            tmp_path / f".news.wacz.{ended.pid}-0badc0dx.tmp",  # not a name Refuge writes
            tmp_path / f".other.wacz.{ended.pid}-12345678.tmp.keep",
            tmp_path / "notes.tmp"]
    long_ago = time.time() - 2 * STALE_TMP
    for path in [litter, *kept]:
        path.write_bytes(b"PK\x03\x04 half a package")
        os.utime(path, (long_ago, long_ago))
    recent = tmp_path / f".other.wacz.{ended.pid}-12345678.tmp"  # still being written, maybe from another machine
    recent.write_bytes(b"PK\x03\x04")
    write_wacz(captured["settings"], captured["engine"], "news", tmp_path / "news.wacz", captured["first"])
    assert not litter.exists() and all(p.exists() for p in [*kept, recent])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".wacz")) == ["news.wacz"]


def test_every_warc_file_and_the_manifest_say_who_made_them(captured) -> None:
    settings, engine = captured["settings"], captured["engine"]
    for name, f in _sealed(captured, captured["first"]).items():
        with open(settings.data / f["path"], "rb") as fh:
            info = next(iter(ArchiveIterator(fh)))
            fields = dict(line.split(": ", 1) for line in
                          info.content_stream().read().decode("utf-8").strip().split("\r\n"))
        assert info.rec_type == "warcinfo"
        assert fields["operator"] == OPERATOR and fields["refuge-capture"] == captured["first"]
        assert fields["isPartOf"] == "news" and fields["software"].startswith("Refuge/")
    ensure_manifest(settings, engine, captured["first"])
    folder = settings.archive_dir / "news" / captured["first"]
    manifest = json.loads((folder / f"{captured['first']}.manifest.json").read_text())
    key = wacz_key(settings)
    assert manifest["signing_key"]["public_key"] == key.public_key_b64() == captured["first_wacz"].public_key
    assert manifest["signing_key"]["fingerprint"] == key.fingerprint()


def test_the_wacz_key_is_made_once_owner_only_and_refused_when_corrupt(tmp_settings) -> None:
    key = wacz_key(tmp_settings)
    keys = tmp_settings.data / "keys"
    assert (keys / "wacz.key").stat().st_mode & 0o777 == 0o600 and wacz_key(tmp_settings) == key
    assert (keys / "wacz.pub").read_text() == key.public_key_pem()
    openssl = subprocess.run(["openssl", "pkey", "-in", str(keys / "wacz.key"), "-pubout"], capture_output=True,
                             text=True)
    assert openssl.returncode == 0 and openssl.stdout == key.public_key_pem()
    (keys / "wacz.key").write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(BadInput) as caught:
        wacz_key(tmp_settings)
    assert str(caught.value).startswith(str(keys / "wacz.key")) and "corrupt" in str(caught.value)


def test_a_cluster_signs_wacz_packages_with_one_key_kept_in_the_catalog(tmp_path) -> None:
    from refuge.storage import keyfiles
    from refuge.storage.wacz.signing import WACZ_KEY

    engine = catalog.connect(f"sqlite:///{tmp_path / 'shared.sqlite'}")  # the catalog every machine shares
    first = keyfiles.cluster_key(WACZ_KEY, tmp_path / "m1", engine)
    assert keyfiles.cluster_key(WACZ_KEY, tmp_path / "m2", engine) == first
    assert (tmp_path / "m2" / "keys" / "wacz.key").stat().st_mode & 0o777 == 0o600
    own = keyfiles.load_or_create(WACZ_KEY, tmp_path / "m3")  # a machine with a key of its own joins
    before = (tmp_path / "m3" / "keys" / "wacz.key").read_bytes()
    with pytest.raises(BadInput) as caught:
        keyfiles.cluster_key(WACZ_KEY, tmp_path / "m3", engine)
    assert "wacz.key: this machine's signing key is not the cluster's" in str(caught.value) and own != first
    assert (tmp_path / "m3" / "keys" / "wacz.key").read_bytes() == before


def test_warc_files_only_in_s3_are_packaged_from_there(tmp_settings, tmp_path, monkeypatch, s3_server,
                                                       s3_bucket) -> None:
    from replica_helpers import store_settings, use_credentials

    from refuge.storage.replicate import push

    use_credentials(monkeypatch, s3_server, tmp_path)
    settings = store_settings(tmp_settings.replace(warc_max_bytes=400_000), s3_server, s3_bucket, keep_local=False)
    engine = catalog.connect(settings.catalog_url)
    made = make_capture(settings, engine, "remote", records=4)
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in made.warcs}
    assert push(settings, engine).ok and not any(p.exists() for p in made.warcs)  # S3 holds the only copies
    packaged = write_wacz(settings, engine, "remote", tmp_path / "remote.wacz")
    with zipfile.ZipFile(packaged.path) as package:
        assert {n.removeprefix("archive/"): hashlib.sha256(package.read(n)).hexdigest()
                for n in package.namelist() if n.startswith("archive/")} == sums
    check = verify_wacz(packaged.path)
    assert check.ok, check.problems


@pytest.mark.postgres
def test_on_postgresql_the_index_is_sorted_bytewise_too(tmp_settings, tmp_path, postgres_server) -> None:
    import uuid

    from replay_helpers import ArchiveWriter
    from sqlalchemy import text

    settings = tmp_settings.replace(database_url=postgres_server.create_database("w" + uuid.uuid4().hex[:12]))
    engine = catalog.connect(settings.catalog_url)
    with engine.begin() as conn:  # a catalog made with a language's collation, as many servers default to
        conn.execute(text('ALTER TABLE cdx ALTER COLUMN urlkey TYPE text COLLATE "und-x-icu"'))
    # Keys a collation-aware sort orders otherwise than bytes do: case, punctuation, non-ASCII.
    with ArchiveWriter(settings, engine, "pg", "https://pg.example/") as w:
        for path in ("a-b", "aB", "a_b", "A", "ab", "a.b", "%E1%9E%80", "z", "a b"):
            w.response(f"https://pg.example/{path}", b"<title>x</title>")
    packaged = write_wacz(settings, engine, "pg", tmp_path / "pg.wacz")
    lines = _read(packaged.path, "indexes/index.cdxj").splitlines()
    assert len(lines) == 9 and lines == sorted(lines)  # bytes, as `LC_ALL=C sort` orders them
    check = verify_wacz(packaged.path)
    assert check.ok, check.problems
