"""Replay under stress and attack: security headers, big responses streamed in constant
memory, hostile HTML, and Chromium rendering a replay under the sandbox."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import pytest
import requests

from alarm import Alarm
from replay_fixtures import BIG_SIZE, HOSTILE, SITE, T1, UNCLOSED, big_html, get, without_inserts, without_urls
from refuge.mirror.replay.policy import ReplayPolicy, rewrite_refresh
from replay_fixtures import replay_fixture  # noqa: F401 - provides the `replay` fixture

CSP = ("default-src 'self' data: blob:; script-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; "
       "style-src 'self' 'unsafe-inline' data: blob:; img-src 'self' data: blob:; font-src 'self' data:; "
       "media-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'self'; "
       "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads")


# -- security headers --------------------------------------------------------------------

def test_replay_security_headers(replay):
    r = get(replay, f"/web/{T1}/{SITE}headers.html")
    h = r.headers
    assert h["Content-Security-Policy"] == CSP
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["Access-Control-Allow-Origin"] == "*"
    assert h["Memento-Datetime"] == "Fri, 27 Nov 2026 23:41:47 GMT"
    assert h["Link"].startswith(f'<{SITE}headers.html>; rel="original", ')  # then Memento's (test_memento.py)
    for dropped in ("Strict-Transport-Security", "X-Frame-Options", "Alt-Svc", "Set-Cookie", "X-Foo"):
        assert dropped not in h, dropped
    assert "X-Archive-Orig-X-Foo" not in h and "X-Archive-Orig-Connection" not in h  # hop-by-hop: gone
    assert h["X-Archive-Orig-Strict-Transport-Security"] == "max-age=31536000"
    assert h["X-Archive-Orig-Content-Security-Policy"] == "default-src *"
    assert h["X-Archive-Orig-Link"].startswith("<https://tracker.example/")
    assert h["Refresh"] == f"5; url=/web/{T1}/{SITE}en/"
    assert h["Cache-Control"] == "max-age=60" and h["Content-Language"] == "km"
    # Anything not known to be inert goes renamed: no login prompt on the mirror's origin.
    for renamed in ("WWW-Authenticate", "Speculation-Rules", "X-Anything"):
        assert renamed not in h and f"X-Archive-Orig-{renamed}" in h, renamed
    for path in (f"/web/{T1}im_/{SITE}img/logo.png", f"/web/{T1}id_/{SITE}", f"/web/{T1}/{SITE}old"):
        assert get(replay, path).headers["Content-Security-Policy"] == CSP, path


def test_a_refresh_header_made_to_be_slow_is_read_in_linear_time(replay):
    with Alarm(10, "a Refresh header of a million spaces"):
        new = rewrite_refresh("0;url=x" + " " * 1_000_000 + "y", ReplayPolicy(T1, SITE))
    assert new.startswith(f"0;url=/web/{T1}/{SITE}x%20%20") and new.endswith("%20y")
    # Served, the archived value goes renamed; rewritten, it would be too long to send.
    r = get(replay, f"/web/{T1}/{SITE}slow-refresh.html", timeout=10)
    assert r.status_code == 200 and "Refresh" not in r.headers
    assert r.headers["X-Archive-Orig-Refresh"].startswith("0;url=x   ")


def test_an_archived_header_too_long_for_a_browser_is_left_out(replay):
    r = get(replay, f"/web/{T1}/{SITE}long-header.html")
    assert r.status_code == 200 and without_inserts(r.content).startswith(b"<html><body>")
    assert "X-Archive-Orig-Link" not in r.headers


def test_a_request_body_is_refused_before_it_is_read(replay):
    host, port = replay.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /web/ HTTP/1.1\r\nHost: x\r\nContent-Length: 500000000\r\n\r\n" + b"x" * 1000)
        answer = sock.recv(65536)  # answered at once: the 500 MB never sent are not waited for
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert get(replay, f"/web/{T1}/{SITE}headers.html").status_code == 200


# -- big and hostile responses -----------------------------------------------------------

def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


@pytest.mark.parametrize("mod", ["id_", "oe_"])
def test_large_response_streams_in_constant_memory(replay, mod):
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    before = _rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    digest = hashlib.sha256()
    size = 0
    try:
        with get(replay, f"/web/{T1}{mod}/{SITE}big.bin", stream=True) as r:
            assert r.status_code == 200
            assert r.headers["Content-Length"] == str(BIG_SIZE)
            for chunk in r.iter_content(64 * 1024):
                digest.update(chunk)
                size += len(chunk)
    finally:
        stop.set()
        sampler.join()
    assert size == BIG_SIZE
    assert "sha256:" + digest.hexdigest() == replay.rows["big"]["digest"]
    assert peak[0] - before < BIG_SIZE // 3, f"RSS grew by {(peak[0] - before) >> 20} MB"


def test_large_html_is_rewritten_as_a_stream(replay):
    original = big_html()
    with get(replay, f"/web/{T1}/{SITE}big.html", stream=True) as r:
        assert r.status_code == 200
        assert "Content-Length" not in r.headers
        assert r.headers.get("Transfer-Encoding") == "chunked"
        chunks = list(r.iter_content(None))
    body = b"".join(chunks)
    assert len(chunks) > 1
    assert body.count(f'href="/web/{T1}/{SITE}news/a1.html"'.encode()) == 50_000
    assert without_urls(body) == without_urls(original)


def test_hostile_html_does_not_break_the_server(replay):
    r = get(replay, f"/web/{T1}/{SITE}hostile.html")
    assert r.status_code == 200
    body = r.content
    # The javascript: base is never used to resolve links, and base-uri 'self' makes the browser ignore it.
    assert "base-uri 'self'" in r.headers["Content-Security-Policy"]
    assert f'href="/web/{T1}/{SITE}x.html"'.encode() in body  # resolved against the page, not the javascript: base
    assert f'href="/web/{T1}/{SITE}after.html"'.encode() in body
    assert f'src="/web/{T1}im_/http://169.254.169.254/latest"'.encode() in body
    # And the whole document is the archived one outside the rewritten URLs: the 100,000-deep
    # nesting, the 5,000-character attribute and the broken tags all passed through as they were.
    assert without_urls(body) == without_urls(HOSTILE)
    assert get(replay, "/healthz").status_code == 200


def test_a_page_of_unclosed_tags_is_served_at_once(replay):
    r = get(replay, f"/web/{T1}/{SITE}unclosed.html")  # within get's 30 s: it used to take minutes
    assert r.status_code == 200
    rewritten = UNCLOSED.replace(b'href="x.html"', f'href="/web/{T1}/{SITE}x.html"'.encode())
    assert without_inserts(r.content) == rewritten
    assert get(replay, "/healthz").status_code == 200


@pytest.mark.browser
def test_browser_renders_replay_under_the_sandbox(replay, page):
    """Chromium under the replay CSP: stylesheet and image load, the banner shows, and
    no request leaves the replay server."""
    requests_seen: list[str] = []
    page.on("request", lambda req: requests_seen.append(req.url))
    page.goto(f"{replay.base}/web/{T1}/{SITE}", wait_until="load")
    assert page.eval_on_selector("h1", "e => getComputedStyle(e).color") == "rgb(1, 2, 3)"
    assert page.eval_on_selector("img[alt='']", "e => e.naturalWidth") == 3
    assert page.is_visible("#refuge-banner")
    assert "2026-11-27 23:41 UTC" in page.inner_text("#refuge-banner")
    outside = [u for u in requests_seen if not u.startswith(replay.base) and not u.startswith("data:")]
    assert outside == [], outside
    assert page.evaluate("() => { try { return document.cookie, 'readable' } catch (e) { return 'opaque' } }") == "opaque"


def test_big_responses_one_after_another_are_all_served(replay):
    """The bound on big responses made at once (STREAMS) is given back as each one ends:
    readers fetching a big file in turn never see 'busy'."""
    from refuge.mirror.replay.app import STREAMS

    for _ in range(STREAMS + 2):
        with get(replay, f"/web/{T1}id_/{SITE}big.bin", stream=True) as r:
            assert r.status_code == 200
            assert sum(len(chunk) for chunk in r.iter_content(1 << 20)) == BIG_SIZE


def test_a_response_over_its_work_budget_is_cut_with_a_logged_reason(replay, monkeypatch, caplog):
    from refuge.mirror.replay import serve_record

    monkeypatch.setattr(serve_record, "WORK_BUDGET", 0.0)  # the server runs in this process
    with get(replay, f"/web/{T1}id_/{SITE}big.bin", stream=True) as r:
        assert r.status_code == 200
        got = 0
        try:
            for chunk in r.iter_content(1 << 16):
                got += len(chunk)
        except requests.RequestException:
            pass  # a body cut short of its Content-Length: the point
    assert got < BIG_SIZE
    assert f"{SITE}big.bin at {T1}: response cut after" in caplog.text


def test_empty_and_failing_big_bodies_never_use_up_the_bound(replay, monkeypatch):
    """A big body whose closing fails still gives its place back: readers never meet a
    'busy' that nothing is using."""
    from refuge.mirror.replay import serve_record
    from refuge.mirror.replay.app import STREAMS

    def failing_close(self):
        raise OSError("closing failed")

    monkeypatch.setattr(serve_record._Body, "close", failing_close)  # the server runs in this process
    for _ in range(STREAMS + 2):
        with get(replay, f"/web/{T1}id_/{SITE}big.bin", stream=True) as r:
            assert r.status_code == 200
            for _ in r.iter_content(1 << 20):
                pass
