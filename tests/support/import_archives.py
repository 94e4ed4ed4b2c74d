"""Archives made by other tools, for the import tests: a WARC file as pywb's recorder writes
one (warcio: request/response pairs, a revisit, resource and metadata records), the same
uncompressed, one written by `wget --warc-file` from a site on loopback (a chunked body
among its responses), and a WACZ package made by Webrecorder's own `wacz create`; and the
ways such files are damaged.

Every builder returns what the archive holds (URL -> payload bytes), for comparing what
replay serves with what was archived.
"""

from __future__ import annotations

import gzip
import http.server
import os
import shutil
import struct
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from servers import unavailable

SITE = "https://other.example/"
T0, T1 = "2024-03-01T10:00:00Z", "2024-03-08T10:00:00Z"
TS0, TS1 = "20240301100000", "20240308100000"
PAGE_TEXT = "Bassac river gazette"
PAGE = (f'<!doctype html><html><head><meta charset="utf-8"><title>{PAGE_TEXT}</title>'
        '<link rel="stylesheet" href="/style.css"></head><body><h1>ទន្លេបាសាក់ ' + PAGE_TEXT + '</h1>'
        '<img src="/logo.png"><a href="/notes.txt">notes</a></body></html>').encode()
CSS = b"h1 { color: rgb(10, 20, 30) }\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
NOTES = "notes kept as a resource record: ស្រុក\n".encode()
WACZ = str(Path(sys.executable).with_name("wacz"))


def recorder_warc(path: Path, *, compress: bool = True, wrong_payload_digest: str | None = None,
                  site: str = SITE) -> dict[str, bytes]:
    """A WARC file as pywb's recorder writes one, at PATH: warcinfo; at T0 request/response
    pairs for the page, its stylesheet and its image, a resource record of an http URL and
    a urn:pageinfo one (not indexed) and a metadata record; at T1 the page again and the
    image as a revisit. WRONG_PAYLOAD_DIGEST: the stylesheet's response states that payload
    digest (its block digest stays right). SITE: the URL its pages are under."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=compress)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "pywb recorder (test)",
                                                                      "format": "WARC File Format 1.1"}))
        _pair(writer, site, "", PAGE, "text/html; charset=utf-8", T0)
        _pair(writer, site, "style.css", CSS, "text/css", T0,
              {"WARC-Payload-Digest": wrong_payload_digest} if wrong_payload_digest else None)
        image = _pair(writer, site, "logo.png", PNG, "image/png", T0)
        writer.write_record(writer.create_warc_record(site + "notes.txt", "resource", payload=BytesIO(NOTES),
                                                      length=len(NOTES), warc_content_type="text/plain; charset=utf-8",
                                                      warc_headers_dict={"WARC-Date": T0}))
        info = b'{"pageinfo": "test"}'
        writer.write_record(writer.create_warc_record("urn:pageinfo:" + site, "resource", payload=BytesIO(info),
                                                      length=len(info), warc_content_type="application/json",
                                                      warc_headers_dict={"WARC-Date": T0}))
        meta = b"outlink: " + site.encode() + b"style.css L link/@href\r\n"
        writer.write_record(writer.create_warc_record(site, "metadata", payload=BytesIO(meta), length=len(meta),
                                                      warc_content_type="application/warc-fields",
                                                      warc_headers_dict={"WARC-Date": T0}))
        _pair(writer, site, "", PAGE, "text/html; charset=utf-8", T1)
        revisit = writer.create_revisit_record(
            site + "logo.png", digest=image.rec_headers.get_header("WARC-Payload-Digest"),
            refers_to_uri=site + "logo.png", refers_to_date=T0,
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Date": T1})
        writer.write_record(revisit)
    return {site: PAGE, site + "style.css": CSS, site + "logo.png": PNG, site + "notes.txt": NOTES}


def _pair(writer: WARCWriter, site: str, path: str, body: bytes, ctype: str, date: str,
          extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    url = site + path
    head = StatusAndHeaders("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))],
                            protocol="HTTP/1.1")
    response = writer.create_warc_record(url, "response", payload=BytesIO(body), length=len(body), http_headers=head,
                                         warc_headers_dict={"WARC-Date": date, **(extra or {})})
    request = writer.create_warc_record(url, "request", payload=BytesIO(b""), length=0, http_headers=StatusAndHeaders(
        f"GET /{path} HTTP/1.1", [("Host", site.split("/")[2]), ("User-Agent", "pywb-recorder-test")],
        is_http_request=True), warc_headers_dict={"WARC-Date": date})
    writer.write_request_response_pair(request, response)
    return response


def record_offsets(path: Path) -> list[tuple[str, str | None, int, int]]:
    """(type, URL, offset, length) of every record of the WARC file at PATH."""
    out = []
    with open(path, "rb") as fh:
        records = ArchiveIterator(fh)
        for record in records:
            records.read_to_end(record)
            out.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI"),
                        records.get_record_offset(), records.get_record_length()))
    return out


def wacz_package(warc: Path, out: Path) -> Path:
    """OUT, a WACZ package of WARC made by Webrecorder's `wacz create` (pages detected)."""
    subprocess.run([WACZ, "create", "-o", str(out), "--detect-pages", str(warc)], check=True, capture_output=True,
                   timeout=120)
    return out


# -- a site for wget -------------------------------------------------------------------------

CHUNKS = (b"first chunk; ", b"second chunk; ", b"last chunk")
WGET_PAGE = b'<!doctype html><html><head><title>wget page</title><link rel="stylesheet" href="/site.css"></head>' \
            b'<body><p>Fetched by wget</p><a href="/chunked.txt">chunked</a></body></html>'


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/chunked.txt":  # wget keeps a chunked body with its framing
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in CHUNKS:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        body, ctype = {"/": (WGET_PAGE, "text/html"), "/site.css": (CSS, "text/css")}.get(
            self.path, (b"not here", "text/plain"))
        self.send_response(200 if body != b"not here" else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def wget_site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def wget_warc(folder: Path, *, compress: bool = True) -> tuple[Path, dict[str, bytes]]:
    """A WARC file written by `wget --warc-file` crawling the loopback site. Without wget the
    test fails under CI (scripts/install-test-servers.sh installs it) and skips locally."""
    wget = shutil.which("wget")
    if wget is None:
        unavailable("wget", "not on PATH", "run `make test` or `bash scripts/install-test-servers.sh`")
    base = folder / ("wget" if compress else "wget-plain")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with wget_site() as url:
        subprocess.run([wget, "--no-verbose", "--no-proxy", "-e", "robots=off", "--recursive", "--level=1",
                        "--page-requisites", f"--warc-file={base}", *([] if compress else ["--no-warc-compression"]),
                        "--directory-prefix", str(folder / "wget-files"), url],
                       check=True, capture_output=True, timeout=120, env=env)
        held = {url: WGET_PAGE, url + "site.css": CSS, url + "chunked.txt": b"".join(CHUNKS)}
    return Path(f"{base}.warc.gz" if compress else f"{base}.warc"), held


# -- damage ----------------------------------------------------------------------------------

def cut_inside(path: Path, out: Path, url: str) -> int:
    """OUT: the WARC file at PATH cut in the middle of URL's response record; its offset."""
    _, _, offset, length = next(r for r in record_offsets(path) if r[0] == "response" and r[1] == url)
    out.write_bytes(path.read_bytes()[:offset + length // 2])
    return offset


def flip_inside(path: Path, out: Path, at: int) -> None:
    """OUT: the file at PATH with the byte at AT flipped."""
    data = bytearray(path.read_bytes())
    data[at] ^= 0x55
    out.write_bytes(bytes(data))


def single_member(path: Path, out: Path) -> None:
    """OUT: the records of the gzipped WARC file at PATH in one gzip member (`gzip file.warc`)."""
    with gzip.open(path, "rb") as fh:
        plain = fh.read()
    out.write_bytes(gzip.compress(plain))


def flip_in_wacz(path: Path, out: Path, member: str) -> None:
    """OUT: the WACZ package at PATH with one byte flipped in the middle of MEMBER's stored bytes."""
    with zipfile.ZipFile(path) as package:
        info = package.getinfo(member)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.compress_size // 2] ^= 0x55
    out.write_bytes(bytes(data))


def forge_signature(path: Path, out: Path) -> None:
    """OUT: the WACZ package at PATH with the signature in its datapackage-digest.json changed
    (one byte of it), every other member as it was."""
    import base64
    import json

    with zipfile.ZipFile(path) as package, zipfile.ZipFile(out, "w") as forged:
        for info in package.infolist():
            data = package.read(info)
            if info.filename == "datapackage-digest.json":
                doc = json.loads(data)
                signature = bytearray(base64.b64decode(doc["signedData"]["signature"]))
                signature[len(signature) // 2] ^= 0x01
                doc["signedData"]["signature"] = base64.b64encode(bytes(signature)).decode()
                data = json.dumps(doc, indent=2).encode()
            forged.writestr(info, data)
