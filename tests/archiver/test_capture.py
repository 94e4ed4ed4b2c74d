"""A capture of the fixture news site, read back with warcio and compared with the files served.

One capture is made per module and inspected from many angles; tests that need a
capture of their own make it.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from werkzeug.test import Client

import fixture_site as fs
from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.mirror.export.exporter import export_capture
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from refuge.storage.catalog import index
from refuge.storage.catalog.cdxj import parse_cdxj_line


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    settings = Settings(data=data, allow_private_networks=True, backoff=0.05, timeout=5,
                        max_response_bytes=1_000_000, max_pages=150)
    with fs.serve_with_cdn() as (site, cdn):
        engine = catalog.connect(settings.catalog_url)
        catalog.save_target(engine, make_target(site.url, name="fixture", scope="host"))
        summary = run_capture(settings, engine, "fixture")
        records = read_records([Path(p) for p in summary["warcs"]])
        yield {"settings": settings, "engine": engine, "site": site, "cdn": cdn, "summary": summary,
               "records": records}


def read_records(paths: list[Path]) -> dict[tuple[str, str], list[dict]]:
    """(type, url) -> records with headers and payload, read with digest checking on."""
    out: dict[tuple[str, str], list[dict]] = {}
    for path in paths:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, check_digests="raise"):
                url = rec.rec_headers.get_header("WARC-Target-URI") or ""
                payload = rec.raw_stream.read()
                out.setdefault((rec.rec_type, url), []).append({
                    "warc": rec.rec_headers, "http": rec.http_headers, "payload": payload})
    return out


def response(captured, path: str, site: str = "site") -> dict:
    url = captured[site].abs(path)
    recs = captured["records"].get(("response", url))
    assert recs, f"no response record for {url}"
    return recs[0]


def test_capture_summary_counts_what_happened(captured) -> None:
    s = captured["summary"]
    assert s["status"] == "complete" and s["error"] is None
    assert s["pages"] >= 25 and s["requisites"] >= 15
    assert s["files"] == len(s["warcs"]) >= 1  # a file series per worker process
    assert s["failed"] == len(s["failures"])
    reasons = {Path(f["url"]).name or f["url"]: f["reason"] for f in s["failures"]}
    assert reasons["missing"] == "HTTP 404"
    assert "max_response_bytes" in reasons["big.bin"] and "max_response_bytes" in reasons["big-chunked.bin"]
    assert reasons["secret.html"] == "disallowed by robots.txt"


def test_warc_files_pass_warcio_check(captured) -> None:
    for path in captured["summary"]["warcs"]:
        result = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", "-v", path],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "digest pass" in result.stdout and "fail" not in result.stdout


@pytest.mark.parametrize("n", [0, -1])
def test_every_file_has_warcinfo_and_request_response_pairs(captured, n) -> None:
    path = captured["summary"]["warcs"][n]
    with open(path, "rb") as fh:
        types = [r.rec_type for r in ArchiveIterator(fh)]
    assert types[0] == "warcinfo" and types.count("warcinfo") == 1
    assert types.count("request") == types.count("response") + types.count("revisit")
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type in ("response", "request"):
                assert rec.rec_headers.get_header("WARC-Block-Digest").startswith("sha256:")
            if rec.rec_type == "response":
                assert rec.rec_headers.get_header("WARC-Payload-Digest").startswith("sha256:")
    # Each record is its own gzip member: reading from any record's offset yields that record.
    raw = Path(path).read_bytes()
    assert gzip.GzipFile(fileobj=io.BytesIO(raw)).read(9) == b"WARC/1.1\r"


@pytest.mark.parametrize("path", ["/km/article-1.html", "/km/article-2.html", "/legacy/cp1251.html",
                                  "/legacy/sjis.html", "/img/hero.jpg", "/img/logo@2x.png", "/static/app.js"])
def test_payloads_are_the_served_bytes(captured, path: str) -> None:
    assert response(captured, path)["payload"] == captured["site"].file_bytes(path)


def test_content_encoding_is_kept_and_chunking_decoded(captured) -> None:
    site = captured["site"]
    gz = response(captured, "/gzip.html")
    assert gz["http"].get_header("Content-Encoding") == "gzip"
    assert gz["payload"] == site.file_bytes("/gzip.html")  # the compressed bytes, as sent
    for path in ("/chunked.html", "/gzip-chunked.html"):
        rec = response(captured, path)
        assert rec["http"].get_header("Transfer-Encoding") is None
        assert rec["http"].get_header("Content-Length") == str(len(rec["payload"]))
        assert rec["payload"] == site.file_bytes(path)


def test_redirect_chain_recorded_hop_by_hop(captured) -> None:
    assert response(captured, "/old")["http"].get_statuscode() == "301"
    assert response(captured, "/older")["http"].get_statuscode() == "302"
    assert response(captured, "/moved/final.html")["http"].get_statuscode() == "200"


def test_errors_retried_and_recorded_once(captured) -> None:
    site = captured["site"]
    assert site.hits.count("/flaky") == 2 and site.hits.count("/busy") == 2
    for path in ("/flaky", "/busy"):
        recs = captured["records"][("response", site.abs(path))]
        assert len(recs) == 1 and recs[0]["http"].get_statuscode() == "200"
    assert response(captured, "/missing")["http"].get_statuscode() == "404"


def test_limits_traps_and_robots(captured) -> None:
    site = captured["site"]
    hits = site.hits.paths()
    assert "/private/secret.html" not in hits
    assert ("response", site.abs("/robots.txt")) in captured["records"]
    assert not any(p.startswith("/trap/a/a/a") for p in hits)
    assert sum(p.startswith("/calendar") for p in hits) <= 12  # stopped by max_depth
    assert ("response", site.abs("/big.bin")) not in captured["records"]


def test_page_requisites_found_everywhere(captured) -> None:
    site, cdn = captured["site"], captured["cdn"]
    for path in ("/img/logo@2x.png",  # srcset
                 "/img/lazy.png",  # data-src / noscript
                 "/media/poster.jpg", "/media/clip.webm", "/embed/frame.html",
                 "/static/reset.css",  # @import
                 "/img/bg.png",  # CSS url()
                 "/km/img/article-3.gif"):  # resolved against <base href="/km/">
        assert ("response", site.abs(path)) in captured["records"], path
    # Out of scope, on another host, still captured because pages need them.
    for path in ("/cdn/cdn.css", "/cdn/cdn-bg.gif", "/cdn/banner.png"):
        assert ("response", cdn.abs(path)) in captured["records"], path


def test_cdxj_index_written_sorted_and_in_catalog(captured) -> None:
    rows = []
    for path in captured["summary"]["warcs"]:
        cdxj = Path(path).with_name(Path(path).name.replace(".warc.gz", ".cdxj"))
        lines = cdxj.read_text(encoding="utf-8").splitlines()
        assert lines == sorted(lines)
        rows += [parse_cdxj_line(line) for line in lines]
    assert len(rows) >= 40
    assert {"url", "mime", "status", "digest", "length", "offset", "filename"} <= set(rows[0])
    km = next(r for r in rows if r["url"].endswith("/km/article-1.html"))
    warc = next(Path(p) for p in captured["summary"]["warcs"] if Path(p).name == km["filename"])
    assert km["mime"] == "text/html"
    # The offset and length in the index point at exactly that record.
    with open(warc, "rb") as fh:
        fh.seek(int(km["offset"]))
        rec = next(iter(ArchiveIterator(fh)))
        assert rec.rec_headers.get_header("WARC-Target-URI") == km["url"]
    hit = index.closest(captured["engine"], km["url"], km["timestamp"])
    assert hit and hit.offset == int(km["offset"]) and hit.length == int(km["length"])
    files = catalog.capture_files(captured["engine"], captured["summary"]["id"])
    assert {f["kind"] for f in files} == {"warc", "cdxj", "manifest", "sums"}
    assert next(f for f in files if f["name"] == warc.name)["size"] == warc.stat().st_size
    assert sum(f["kind"] == "warc" for f in files) == len(captured["summary"]["warcs"])


def test_second_capture_stores_unchanged_payloads_as_revisits(captured, tmp_path) -> None:
    settings, engine = captured["settings"], captured["engine"]
    site = captured["site"]
    site.reset()
    second = run_capture(settings, engine, "fixture")
    assert second["revisits"] >= 30
    assert second["bytes"] < captured["summary"]["bytes"]
    recs = read_records([Path(p) for p in second["warcs"]])
    hero = recs[("revisit", site.abs("/img/hero.jpg"))][0]
    assert hero["warc"].get_header("WARC-Profile").endswith("/revisit/identical-payload-digest")
    assert hero["warc"].get_header("WARC-Refers-To-Target-URI") == site.abs("/img/hero.jpg")
    assert hero["warc"].get_header("WARC-Refers-To-Date")
    assert hero["payload"] == b""
    original = index.original_of(engine, 1, hero["warc"].get_header("WARC-Payload-Digest"))
    assert original is not None and original.capture_id == captured["summary"]["id"]

    # Every revisit the crawler wrote replays as its original's bytes at the second
    # capture's time, and the second capture exports whole (auditor: revisits were only
    # ever replayed when built by hand).
    client = Client(make_app(settings, engine))
    revisits = [(url, r[0]) for (kind, url), r in recs.items() if kind == "revisit"]
    assert len([u for u, _ in revisits if not u.endswith("/robots.txt")]) == second["revisits"]  # robots.txt: not counted
    first_payloads = {url: r[0]["payload"] for (kind, url), r in captured["records"].items() if kind == "response"}
    for url, rec in revisits:
        ts = "".join(c for c in rec["warc"].get_header("WARC-Date") if c.isdigit())[:14]
        replayed = client.get(f"/web/{ts}id_/{url}")
        assert replayed.status_code == 200, url
        assert replayed.get_data() == first_payloads[rec["warc"].get_header("WARC-Refers-To-Target-URI")], url
    out = export_capture(settings, engine, "fixture", settings.data.parent / "export-second", second["id"])
    exported = {f.path for f in out.files}
    host = site.host.replace(":", "_")
    assert f"{host}/img/hero.jpg" in exported and f"{host}/km/article-1.html" in exported


def test_catalog_lists_the_capture(captured) -> None:
    rows = catalog.list_captures(captured["engine"], "fixture")
    assert rows[-1]["id"] == captured["summary"]["id"]
    assert {"id", "target", "started", "finished", "status", "pages", "bytes", "files"} <= set(rows[0])
    json.dumps(rows)  # what --json prints must serialise


def test_hostile_page_is_captured_and_its_traps_refused(tmp_settings, fixture_site) -> None:
    """Deep nesting, huge attributes, a javascript: base and links to private addresses:
    the page is recorded as served, nothing crashes, and nothing off the site is fetched
    (the exclude keeps the crawler from even resolving the fixture's *.invalid trackers)."""
    engine = catalog.connect(tmp_settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.abs("/hostile.html"), name="hostile", scope="page",
                                            exclude=[r"\.invalid\b", r"169\.254\.", r"//10\.", r"\[::1\]"]))
    summary = run_capture(tmp_settings, engine, "hostile")
    assert summary["status"] == "complete" and summary["pages"] == 1
    records = read_records([Path(p) for p in summary["warcs"]])
    assert records[("response", fixture_site.abs("/hostile.html"))][0]["payload"] == \
        fixture_site.file_bytes("/hostile.html")
    assert not any(h in f["url"] for f in summary["failures"] for h in ("169.254", "10.0.0.1", ".invalid"))


def test_header_bytes_are_kept_as_received_non_ascii_and_repeated_included(tmp_settings) -> None:
    """Header lines reach the WARC file byte for byte: UTF-8 Khmer and Latin-1 values,
    a repeated header in its order, and the block digest checks over those bytes."""
    body = "<html><title>ក</title></html>".encode()
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            + "X-Title: ទំព័រដើម\r\n".encode() + b"X-Latin: caf\xe9\r\n"
            + b"Set-Cookie: a=1; Path=/\r\nX-Between: 1\r\nSet-Cookie: b=2; Path=/\r\n"
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        server.settimeout(20)
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(head + body)

    threading.Thread(target=answer, daemon=True).start()
    try:
        engine = catalog.connect(tmp_settings.catalog_url)
        catalog.save_target(engine, make_target(f"http://127.0.0.1:{port}/", name="raw", scope="page",
                                                robots="ignore"))
        summary = run_capture(tmp_settings, engine, "raw")
    finally:
        server.close()
    assert summary["status"] == "complete", summary
    [warc] = [Path(p) for p in summary["warcs"]]
    with open(warc, "rb") as fh:
        stored = [gzip.decompress(member) for member in _members(fh.read())]
    [record] = [r for r in stored if b"WARC-Type: response" in r]
    block = record.split(b"\r\n\r\n", 1)[1]
    assert block.startswith(head) and block[len(head):].startswith(body)
    records = read_records([warc])  # digests checked ("raise") over exactly these bytes
    assert records[("response", f"http://127.0.0.1:{port}/")][0]["payload"] == body


def _members(data: bytes) -> list[bytes]:
    """The gzip members of a WARC file, one per record."""
    members, start = [], 0
    while start < len(data):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        inflater.decompress(data[start:])
        end = len(data) - len(inflater.unused_data)
        members.append(data[start:end])
        start = end
    return members
