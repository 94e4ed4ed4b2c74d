"""The test infrastructure itself works: real PostgreSQL, real Chromium, the fixture site."""

from __future__ import annotations

import gzip
import http.client
import socket

import pytest

from fixture_site import BIG_SIZE
from servers import free_port


def get(site, path: str, method: str = "GET", headers: dict | None = None):
    """(response, body) over a raw http.client connection: headers exactly as sent."""
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def raw_response(site, path: str) -> bytes:
    """The raw bytes of a response (status line, headers, framing) for one request."""
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {site.host}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


@pytest.mark.postgres
def test_postgres_accepts_connections(postgres_url, postgres_server):
    from sqlalchemy import create_engine, text

    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_url.endswith("/refuge")
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(text("select 1")).scalar() == 1
            assert conn.execute(text("select current_database()")).scalar() == "refuge"
            # Khmer round-trips unchanged through a UTF-8 database.
            khmer = "សេរីភាពសារព័ត៌មាននៅកម្ពុជា"
            assert conn.execute(text("select :k"), {"k": khmer}).scalar() == khmer
    finally:
        engine.dispose()
    other = postgres_server.create_database("refuge_infra_extra")
    engine = create_engine(other)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select current_database()")).scalar() == "refuge_infra_extra"
    finally:
        engine.dispose()
        postgres_server.drop_database("refuge_infra_extra")


@pytest.mark.browser
def test_browser_renders_fixture_page(page, fixture_site, cdn_site):
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(fixture_site.abs("/km/article-1.html"))
    assert page.title() == "សេរីភាពសារព័ត៌មាននៅកម្ពុជា"
    assert page.locator("html").get_attribute("lang") == "km"
    assert page.evaluate("document.images[0].complete && document.images[0].naturalWidth") == 80
    assert "/km/img/article-1.png" in fixture_site.hits

    page.goto(fixture_site.url)
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.dataset.app") == "ready"  # app.js ran
    assert "/cdn/cdn.css" in cdn_site.hits and "/cdn/banner.png" in cdn_site.hits
    assert all(u.startswith(("http://127.0.0.1:", "data:")) for u in requested), requested


def test_static_files_are_served_byte_for_byte(fixture_site):
    for path in ["/km/article-1.html", "/km/article-2.html", "/km/archive/2023/article-3.html",
                 "/legacy/cp1251.html", "/legacy/sjis.html", "/img/logo.png", "/km/img/article-2.jpg"]:
        resp, body = get(fixture_site, path)
        assert resp.status == 200, path
        assert body == fixture_site.file_bytes(path) == fixture_site.disk_path(path).read_bytes(), path
    assert "សេរីភាពសារព័ត៌មាននៅកម្ពុជា".encode() in fixture_site.file_bytes("/km/article-1.html")


def test_legacy_charsets(fixture_site):
    resp, body = get(fixture_site, "/legacy/cp1251.html")
    assert resp.getheader("Content-Type") == "text/html"
    assert b'charset=windows-1251' in body
    assert "Свобода прессы в Камбодже" in body.decode("windows-1251")
    resp, body = get(fixture_site, "/legacy/sjis.html")
    assert resp.getheader("Content-Type") == "text/html; charset=Shift_JIS"
    assert b"charset" not in body
    assert "カンボジアの報道の自由" in body.decode("shift_jis")


def test_front_page_is_templated_with_live_ports(fixture_site, cdn_site):
    resp, body = get(fixture_site, "/")
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert b"{{" not in body
    assert f'href="{cdn_site.origin}/cdn/cdn.css"'.encode() in body
    assert f'src="{cdn_site.origin}/cdn/banner.png"'.encode() in body
    assert f'href="{fixture_site.origin}/en/article-2.html"'.encode() in body
    assert f'href="//{fixture_site.host}/en/article-3.html"'.encode() in body
    assert body == fixture_site.file_bytes("/")
    resp, body = get(cdn_site, "/cdn/cdn.css")
    assert resp.status == 200 and b"url(cdn-bg.gif)" in body
    assert get(fixture_site, "/cdn/cdn.css")[0].status == 404  # only on the CDN host
    assert get(fixture_site, "/_cdn/cdn/cdn.css")[0].status == 404


def test_redirect_chain(fixture_site):
    resp, _ = get(fixture_site, "/old")
    assert resp.status == 301 and resp.getheader("Location") == "/older"
    resp, _ = get(fixture_site, "/older")
    assert resp.status == 302
    assert resp.getheader("Location") == f"http://127.0.0.1:{fixture_site.port}/moved/final.html"
    resp, body = get(fixture_site, "/moved/final.html")
    assert resp.status == 200 and b"Press freedom" in body
    assert fixture_site.hits.paths()[-3:] == ["/old", "/older", "/moved/final.html"]


def test_errors_that_recover(fixture_site):
    resp, body = get(fixture_site, "/missing")
    assert resp.status == 404 and b"<html" in body
    assert get(fixture_site, "/flaky")[0].status == 500
    assert get(fixture_site, "/flaky")[0].status == 200
    resp, _ = get(fixture_site, "/busy")
    assert resp.status == 429 and resp.getheader("Retry-After") == "1"
    assert get(fixture_site, "/busy")[0].status == 200
    fixture_site.reset()
    assert get(fixture_site, "/flaky")[0].status == 500
    assert fixture_site.hits.count("/flaky") == 1


def test_chunked_and_gzip(fixture_site):
    raw = raw_response(fixture_site, "/chunked.html")
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    assert rest.endswith(b"0\r\n\r\n") and rest.count(b"\r\n") > 4  # several chunks
    resp, body = get(fixture_site, "/chunked.html")
    assert body == fixture_site.file_bytes("/chunked.html")

    resp, body = get(fixture_site, "/gzip.html", headers={"Accept-Encoding": "gzip"})
    assert resp.getheader("Content-Encoding") == "gzip"
    assert resp.getheader("Content-Length") == str(len(body))
    assert body == fixture_site.file_bytes("/gzip.html")  # http.client does not decode
    assert body == fixture_site.disk_path("/gzip.html").read_bytes()
    assert gzip.decompress(body) == fixture_site.decoded_bytes("/gzip.html")
    assert b"Compressed page" in fixture_site.decoded_bytes("/gzip.html")

    raw = raw_response(fixture_site, "/gzip-chunked.html")
    head = raw.partition(b"\r\n\r\n")[0]
    assert b"Content-Encoding: gzip" in head and b"Transfer-Encoding: chunked" in head
    assert b"Content-Length" not in head
    resp, body = get(fixture_site, "/gzip-chunked.html")
    assert body == fixture_site.file_bytes("/gzip-chunked.html")
    assert b"streamed" in gzip.decompress(body)


def test_big_files(fixture_site):
    resp, body = get(fixture_site, "/big.bin", method="HEAD")
    assert resp.getheader("Content-Length") == str(BIG_SIZE) and body == b""
    resp, body = get(fixture_site, "/big.bin")
    assert len(body) == BIG_SIZE == len(fixture_site.file_bytes("/big.bin"))
    resp, body = get(fixture_site, "/big-chunked.bin")
    assert resp.getheader("Content-Length") is None and resp.getheader("Transfer-Encoding") == "chunked"
    assert body == fixture_site.file_bytes("/big-chunked.bin")


def test_traps_robots_and_keepalive(fixture_site):
    _, body = get(fixture_site, "/calendar?month=2023-12")
    assert b'href="/calendar?month=2023-11"' in body and b'href="/calendar?month=2024-01"' in body
    _, body = get(fixture_site, "/trap/a/a/a/")
    assert b'href="a/"' in body
    assert get(fixture_site, "/trap/b/")[0].status == 404
    _, body = get(fixture_site, "/robots.txt")
    assert b"Disallow: /private/" in body
    assert get(fixture_site, "/en")[0].getheader("Location") == "/en/"
    # Several requests over one HTTP/1.1 connection.
    conn = http.client.HTTPConnection("127.0.0.1", fixture_site.port, timeout=10)
    try:
        for path in ["/", "/en/article-1.html", "/static/site.css", "/missing"]:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.version == 11 and not resp.will_close, path
    finally:
        conn.close()
