"""The replay server's routes and lookups: front page, capture list, closest capture,
id_ (stored bytes), redirects, revisits, misses, and URLs in the forms readers send them."""

from __future__ import annotations

import re

import requests

from refuge.mirror.replay.app import make_app
from replay_fixtures import INDEX, KM_PATH, PNG, SITE, T0, T1, T2, get, payload_of
from replay_fixtures import replay_fixture  # noqa: F401 - provides the `replay` fixture
from replay_helpers import gzipped


# -- routes ------------------------------------------------------------------------------

def test_front_page_lists_targets_khmer_first(replay):
    r = get(replay, "/")
    assert r.status_code == 200
    body = r.text
    assert 'name="viewport"' in body and "Noto Sans Khmer" in body and "Khmer OS" in body
    assert f'href="/web/{T1}/{SITE}"' in body or f'href="/web/{T2}/{SITE}"' in body
    assert "site" in body and "other" in body
    assert body.index('lang="km"') < body.index('lang="en" class="en"')
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", body), "no external references"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_closest_capture_redirects_to_exact_timestamp(replay):
    r = get(replay, f"/web/2026/{SITE}")
    assert r.status_code == 302
    assert r.headers["Location"] == f"/web/{T1}/{SITE}"
    r = get(replay, f"/web/20261215/{SITE}")
    assert r.headers["Location"] == f"/web/{T2}/{SITE}"
    r = get(replay, f"/web/{T1}/{SITE}")
    assert r.status_code == 200


def test_assets_are_served_from_the_closest_capture_directly(replay):
    r = get(replay, f"/web/2026im_/{SITE}img/logo.png")
    assert r.status_code == 200
    assert r.content == PNG
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Length"] == str(len(PNG))


def test_bare_url_redirects_to_newest_capture(replay):
    r = get(replay, f"/web/{SITE}")
    assert r.status_code == 302
    assert r.headers["Location"] == f"/web/{T2}/{SITE}"


def test_capture_list(replay):
    r = get(replay, f"/web/*/{SITE}")
    assert r.status_code == 200
    body = r.text
    assert f'/web/{T1}/{SITE}' in body and f'/web/{T2}/{SITE}' in body
    assert "2026-11-27 23:41 UTC" in body and "2026-12-01 09:00 UTC" in body
    assert "ច្បាប់ចម្លងទាំងអស់" in body and "All captures" in body
    assert r.headers["X-Frame-Options"] == "DENY"


def test_healthz_and_methods(replay):
    assert get(replay, "/healthz").text.strip() == "ok"
    assert requests.post(replay.base + f"/web/{T1}/{SITE}", timeout=10).status_code == 405
    # With a body it never gets as far: refused before the body is read.
    assert requests.post(replay.base + f"/web/{T1}/{SITE}", data=b"x", timeout=10).status_code == 413
    r = requests.head(replay.base + f"/web/{T1}id_/{SITE}img/logo.png", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(PNG)) and r.content == b""


# -- id_ ---------------------------------------------------------------------------------

def test_id_serves_the_stored_bytes(replay):
    r = get(replay, f"/web/{T1}id_/{SITE}", stream=True)
    assert r.raw.read(decode_content=False) == INDEX
    assert "Set-Cookie" not in r.headers
    assert r.headers["X-Archive-Orig-Set-Cookie"] == "sid=1; HttpOnly"


def test_id_keeps_content_encoding_and_compressed_bytes(replay):
    r = get(replay, f"/web/{T1}id_/{SITE}gzip.html", stream=True)
    raw = r.raw.read(decode_content=False)
    assert r.headers["Content-Encoding"] == "gzip"
    assert raw == gzipped(INDEX) == payload_of(replay, "gzip")
    assert int(r.headers["Content-Length"]) == len(raw)


# -- redirects, revisits, misses ---------------------------------------------------------

def test_redirect_location_is_rewritten(replay):
    r = get(replay, f"/web/{T1}/{SITE}old")
    assert r.status_code == 301
    assert r.headers["Location"] == f"/web/{T1}/{SITE}moved/final.html"
    assert r.headers["X-Archive-Orig-Location"] == "/moved/final.html"
    r = get(replay, f"/web/{T1}/{SITE}old", allow_redirects=True)
    assert r.status_code == 200 and b"final" in r.content


def test_redirect_to_same_key_does_not_loop(replay):
    # http://news.example/ -> https://news.example/ share a SURT key.
    r = get(replay, f"/web/{T0}/http://news.example/", allow_redirects=True)
    assert r.status_code == 200
    assert len(r.history) <= 3
    assert b"Mekong Observer" in r.content


def test_revisit_is_served_with_the_original_payload(replay):
    r = get(replay, f"/web/{T2}id_/{SITE}", stream=True)
    assert r.status_code == 200
    assert r.raw.read(decode_content=False) == INDEX
    assert r.headers["X-Archive-Orig-X-Capture"] == "second"
    assert r.headers["Memento-Datetime"] == "Tue, 01 Dec 2026 09:00:00 GMT"
    page = get(replay, f"/web/{T2}/{SITE}").content
    assert f'href="/web/{T2}cs_/{SITE}static/site.css"'.encode() in page
    assert b"2026-12-01 09:00 UTC" in page


def test_revisit_without_original_names_the_problem(replay):
    r = get(replay, f"/web/{T2}/https://other.example/gone.html")
    assert r.status_code == 404
    assert "the stored copy it refers to is missing" in r.text
    assert "មិនអាចបង្ហាញច្បាប់ចម្លងនេះបានទេ" in r.text
    assert r.headers["X-Frame-Options"] == "DENY"


def test_uncaptured_url_gets_404_with_nearby_captures(replay):
    r = get(replay, f"/web/2026/{SITE}not-here.html")
    assert r.status_code == 404
    body = r.text
    assert "This page was not captured" in body and "ទំព័រនេះមិនត្រូវបានរក្សាទុកទេ" in body
    assert f'href="/web/{SITE}km/article-2.html"' in body
    assert f'href="/web/{SITE}legacy/cp1251.html"' in body
    assert 'href="/"' in body
    assert r.headers["X-Frame-Options"] == "DENY"
    assert get(replay, "/web/2026/https://never.example/").status_code == 404


# -- URLs as readers send them -----------------------------------------------------------

def test_query_strings_survive(replay):
    r = get(replay, f"/web/{T1}/{SITE}search?q=khmer&page=2")
    assert r.status_code == 200 and b"results page 2" in r.content
    r = get(replay, f"/web/{T1}/https:/news.example/search?q=khmer&page=2")  # '//' collapsed by a proxy
    assert r.status_code == 200 and b"results page 2" in r.content
    r = get(replay, f"/web/{T1}/news.example/search?q=khmer&page=2")  # no scheme
    assert r.status_code == 200 and b"results page 2" in r.content


def test_khmer_paths_encoded_or_not(replay):
    encoded = f"/web/{T1}/{SITE}{KM_PATH}"
    assert get(replay, encoded).status_code == 200
    assert get(replay, f"/web/{T1}/{SITE}{KM_PATH.lower()}").status_code == 200  # %e1 as well as %E1
    # Captured under a raw (not percent-encoded) Khmer URL, asked for as a browser sends it.
    r = get(replay, f"/web/{T1}/{SITE}km/%E1%9E%96%E1%9F%90%E1%9E%8F%E1%9F%8C%E1%9E%98%E1%9E%B6%E1%9E%93.html")
    assert r.status_code == 200 and b"raw khmer url" in r.content
    # A raw Khmer link in a page comes out percent-encoded, and leads to the capture.
    page = get(replay, encoded).content
    link = f"/web/{T1}/{SITE}km/%E1%9E%96%E1%9F%90%E1%9E%8F%E1%9F%8C%E1%9E%98%E1%9E%B6%E1%9E%93.html"
    assert f'href="{link}"'.encode() in page
    # The capture list and the banner show the Khmer path readable.
    assert "km/កម្ពុជា.html" in get(replay, f"/web/*/{SITE}{KM_PATH}").text


def test_raw_utf8_request_uri(replay):
    """Waitress refuses raw non-ASCII request lines (browsers always percent-encode), but
    another WSGI server may pass them on, decoded as Latin-1 per PEP 3333."""
    app = make_app(replay.settings, replay.engine)
    uri = f"/web/{T1}/{SITE}km/កម្ពុជា.html".encode().decode("latin-1")
    environ = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "PATH_INFO": uri, "QUERY_STRING": "",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http"}
    status = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status == ["200 OK"]
    assert "សេរីភាពសារព័ត៌មាន".encode() in body
    # No REQUEST_URI/RAW_URI at all: PATH_INFO (decoded) and QUERY_STRING are used.
    environ.pop("REQUEST_URI")
    environ["PATH_INFO"] = f"/web/{T1}/{SITE}search".encode().decode("latin-1")
    environ["QUERY_STRING"] = "q=khmer&page=2"
    status.clear()
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status == ["200 OK"] and b"results page 2" in body
