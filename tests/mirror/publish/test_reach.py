"""Mirror reachability checks (refuge.mirror.publish.reach) against servers on 127.0.0.1.

Every server here is started by the test itself: static mirrors (http.server), a
server that accepts and never answers, servers that trickle a byte at a time, an HTTP
forward proxy and a SOCKS5 proxy that record what they relayed.
"""

from __future__ import annotations

import dataclasses

import hashlib
import http.client
import http.server
import socket
import socketserver
import threading
import time
from functools import partial
from pathlib import Path
from urllib.parse import unquote

import pytest
from proxy_servers import ForwardProxy, socks5
from servers import free_port

from refuge.mirror.publish.reach import GRACE, Probe, Vantage, check, sample_paths

TIMEOUT = 2.0
KHMER = "ព័ត៌មាន/អត្ថបទ ១.html"  # a Khmer directory and file name, with a space
ODD = "100% sure #1 + more?.html"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_site(root: Path, files: dict[str, bytes]) -> dict[str, str]:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return {rel: sha(data) for rel, data in files.items()}


SITE = {"index.html": "<h1>កម្ពុជា</h1>".encode(), "a.html": b"<p>a</p>", "b/c.html": b"<p>c</p>",
        "d.css": b"p{}", "e.html": b"<p>e</p>", KHMER: "<p>អត្ថបទ</p>".encode(), ODD: b"odd"}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/loop/"):
            self.send_response(302)
            self.send_header("Location", "/loop/" + self.path)
            self.end_headers()
        elif self.path.startswith("/away/"):  # /away/PORT/rest -> http://127.0.0.2:PORT/site/rest
            port, rest = self.path[len("/away/"):].split("/", 1)
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.2:{port}/site/{rest}")
            self.end_headers()
        elif self.path.startswith("/moved/"):  # a gateway moving a path to its canonical place
            self.send_response(301)
            self.send_header("Location", "/site/" + self.path[len("/moved/"):])
            self.end_headers()
        else:
            super().do_GET()


def serve(server: socketserver.BaseServer) -> socketserver.BaseServer:
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture()
def static(tmp_path):
    """An http.server on the temp dir; .base(sub) is the URL of a mirror in tmp_path/sub."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(tmp_path)))
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    server.base = lambda sub: f"http://127.0.0.1:{server.server_address[1]}/{sub}/"  # type: ignore[attr-defined]
    yield serve(server)
    server.shutdown()
    server.server_close()


@pytest.fixture()
def site(tmp_path, static):
    return Probe(1, static.base("site"), make_site(tmp_path / "site", SITE))


class RawServer:
    """Accepts connections and hands each to `behave(conn, stop)` in a thread."""

    def __init__(self, behave) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.behave = behave
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.behave, args=(conn, self.stop), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for c in self.conns:
            c.close()


def hang(conn, stop) -> None:
    stop.wait()


def trickle(head: bytes):
    """Reads the request, sends `head`, then one byte every 0.2 s until the client goes."""
    def behave(conn, stop) -> None:
        conn.recv(65536)
        try:
            conn.sendall(head)
            while not stop.wait(0.2):
                conn.sendall(b"x")
        except OSError:
            return
    return behave


@pytest.fixture()
def raw_servers():
    made: list[RawServer] = []
    yield lambda behave: made.append(RawServer(behave)) or made[-1]
    for s in made:
        s.close()


def check_threads_gone() -> bool:
    """The worker threads of finished checks end (none is left stuck on a socket)."""
    deadline = time.monotonic() + 2
    while any(t.name.startswith("refuge-check") for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- a static mirror --------------------------------------------------------------------------

def test_a_healthy_mirror_is_up(site, static) -> None:
    [r] = check([site], timeout=TIMEOUT, sample=3)
    assert (r.mirror_id, r.vantage, r.status) == (1, "direct", "up")
    assert r.detail == "ok: 4 files match"
    assert r.checked_at.endswith("Z") and len(r.checked_at) == 20 and 0 <= r.seconds < TIMEOUT
    assert all(s.startswith("/site/") for s in static.seen) and len(static.seen) == 4


def test_the_sample_is_the_same_every_time(site, static) -> None:
    check([site], timeout=TIMEOUT, sample=2)
    first = list(static.seen)
    static.seen.clear()
    check([site], timeout=TIMEOUT, sample=2)
    assert static.seen == first and first[0] == "/site/index.html" and len(first) == 3
    assert sample_paths(site.expected, 2) == sample_paths(dict(reversed(site.expected.items())), 2)


def test_khmer_and_odd_file_names_are_percent_encoded(tmp_path, static) -> None:
    expected = make_site(tmp_path / "km", {"index.html": b"i", KHMER: SITE[KHMER], ODD: b"odd"})
    [r] = check([Probe(2, static.base("km"), expected)], timeout=TIMEOUT, sample=5)
    assert r.status == "up", r.detail
    assert {unquote(s) for s in static.seen} == {f"/km/{p}" for p in expected}
    assert all(s.isascii() and " " not in s and "#" not in s and "?" not in s for s in static.seen)


def test_a_changed_file_is_named(tmp_path, site) -> None:
    (tmp_path / "site" / KHMER).write_bytes("<p>ការកែប្រែ</p>".encode())  # not the published bytes
    [r] = check([site], timeout=TIMEOUT, sample=10)
    assert r.status == "down"
    assert r.detail.startswith(f"{KHMER}: content differs (sha256 ")


def test_missing_files_are_http_errors(tmp_path, site) -> None:
    (tmp_path / "site" / "b" / "c.html").unlink()
    [r] = check([site], timeout=TIMEOUT, sample=10)
    assert (r.status, r.detail) == ("down", "b/c.html: HTTP 404")
    gone = Probe(3, site.url.replace("/site/", "/nowhere/"), site.expected)
    [r] = check([gone], timeout=TIMEOUT)
    assert (r.status, r.detail) == ("down", "index.html: HTTP 404")


def test_redirects_are_followed_up_to_five(site, static) -> None:
    moved = Probe(4, site.url.replace("/site/", "/moved/"), site.expected)
    looping = Probe(5, site.url.replace("/site/", "/loop/"), site.expected)
    up, loop = check([moved, looping], timeout=TIMEOUT)
    assert up.status == "up", up.detail
    assert (loop.status, loop.detail) == ("down", "index.html: too many redirects (more than 5)")
    assert sum(s.startswith("/loop/") for s in static.seen) == 6


def test_a_public_mirror_cannot_send_the_check_to_a_private_address(tmp_path, site, static, monkeypatch) -> None:
    # 127.0.0.2 stands for the local network or a metadata service, holding a copy of the
    # site; the mirror on 127.0.0.1 redirects every request there.
    inside = http.server.ThreadingHTTPServer(("127.0.0.2", 0), partial(_Quiet, directory=str(tmp_path)))
    inside.daemon_threads, inside.seen = True, []  # type: ignore[attr-defined]
    serve(inside)
    try:
        away = Probe(6, site.url.replace("/site/", f"/away/{inside.server_address[1]}/"), site.expected)
        [r] = check([away], timeout=TIMEOUT)  # both private, as they really are: the operator's own network
        assert r.status == "up", r.detail
        followed = len(inside.seen)  # type: ignore[attr-defined]
        assert followed == 4
        # Now 127.0.0.1 plays a public address (a gateway on the internet), 127.0.0.2 stays private.
        monkeypatch.setattr("refuge.mirror.publish.reach_watch.is_public", lambda address: address != "127.0.0.2")
        [r] = check([away], timeout=TIMEOUT)
        assert (r.status, r.detail) == ("down", "index.html: sent to 127.0.0.2, a loopback, private, link-local "
                                                "or reserved address, from a mirror on a public one: not followed")
        assert len(inside.seen) == followed  # type: ignore[attr-defined]  # no request reached it
        [r] = check([site], timeout=TIMEOUT)  # a public mirror that stays public is still up
        assert r.status == "up", r.detail
    finally:
        inside.shutdown()
        inside.server_close()


def test_an_oversized_file_is_down(tmp_path, static) -> None:
    expected = make_site(tmp_path / "big", {"index.html": b"x" * 5000})
    [r] = check([Probe(6, static.base("big"), expected)], timeout=TIMEOUT, max_bytes=1000)
    assert (r.status, r.detail) == ("down", "index.html: too large (5000 bytes, limit 1000)")


def test_nothing_listening_is_down_not_raised() -> None:
    probe = Probe(7, f"http://127.0.0.1:{free_port()}/m/", {"index.html": sha(b"")})
    [r] = check([probe], timeout=TIMEOUT)
    assert (r.status, r.detail) == ("down", "index.html: connection refused")


def test_malformed_probes_are_programming_errors(site) -> None:
    with pytest.raises(ValueError, match="index.html"):
        check([Probe(8, site.url, {"a.html": sha(b"")})])
    with pytest.raises(ValueError, match="ending in '/'"):
        check([Probe(8, site.url.rstrip("/"), site.expected)])
    with pytest.raises(ValueError, match="proxy"):
        check([site], [Vantage("kh", "ftp://127.0.0.1:21")])


# -- deadlines ----------------------------------------------------------------------------------

def test_a_hanging_mirror_does_not_hold_up_the_others(tmp_path, static, raw_servers) -> None:
    hanging = raw_servers(hang)
    probes = [Probe(i, static.base(f"m{i}"), make_site(tmp_path / f"m{i}", {"index.html": b"%d" % i}))
              for i in range(1, 6)]
    probes.insert(2, Probe(99, f"http://127.0.0.1:{hanging.port}/m/", {"index.html": sha(b"")}))
    started = time.monotonic()
    results = check(probes, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + 2
    assert [r.mirror_id for r in results] == [1, 2, 99, 3, 4, 5]
    assert {r.mirror_id: r.status for r in results} == {1: "up", 2: "up", 99: "down", 3: "up", 4: "up", 5: "up"}
    assert results[2].detail == "index.html: timeout after 2 s"
    assert all(r.seconds < 1 for r in results if r.mirror_id != 99)


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",  # the body trickles
    b"HTTP/1.1 200 OK\r\nX-Slow: ",  # the headers never end
], ids=["body", "headers"])
def test_a_trickling_mirror_is_abandoned_at_the_deadline(raw_servers, head) -> None:
    slow = raw_servers(trickle(head))
    started = time.monotonic()
    [r] = check([Probe(10, f"http://127.0.0.1:{slow.port}/m/", {"index.html": sha(b"")})], timeout=TIMEOUT)
    assert time.monotonic() - started < TIMEOUT + 1
    assert (r.status, r.detail) == ("down", "index.html: timeout after 2 s")
    assert check_threads_gone()  # the socket was shut, not just given up on


def test_a_pair_stuck_where_no_socket_is_watched_is_abandoned(monkeypatch) -> None:
    """A DNS lookup cannot be interrupted: the pair is reported at deadline + GRACE and left behind."""
    release, real = threading.Event(), socket.getaddrinfo

    def slow_dns(host, *args, **kwargs):
        if host == "slow-dns.test":
            release.wait(10)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    try:
        started = time.monotonic()
        [r] = check([Probe(11, "http://slow-dns.test/m/", {"index.html": sha(b"")})], timeout=1.0)
        assert time.monotonic() - started < 1.0 + GRACE + 0.5
        assert (r.status, r.detail) == ("down", "index.html: timeout after 1 s")
    finally:
        release.set()
    assert check_threads_gone()


# -- vantages through proxies ----------------------------------------------------------------------

def test_an_http_proxy_vantage_goes_through_the_proxy(site, static) -> None:
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxy)
    proxy.relayed = []  # type: ignore[attr-defined]
    serve(proxy)
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        direct, via = check([site], [Vantage("direct", None), Vantage("kh-mobile", url)], timeout=TIMEOUT)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert (direct.vantage, direct.status, via.vantage, via.status) == ("direct", "up", "kh-mobile", "up")
    assert len(proxy.relayed) == 4
    assert all(path.startswith(site.url) and ua == "Refuge-check/0.1" for path, ua in proxy.relayed)


def test_a_socks5h_vantage_goes_through_the_proxy_which_resolves_the_name(site, raw_servers) -> None:
    """socks5h hands the proxy the name: a mirror host that only the proxy can resolve is
    up through it. (No direct check of that name: it would ask this machine's resolver,
    which is not loopback.)"""
    seen: list = []
    proxy = raw_servers(lambda conn, stop: socks5(conn, stop, seen, {"mirror.kh.invalid": "127.0.0.1"}))
    named = dataclasses.replace(site, url=site.url.replace("127.0.0.1", "mirror.kh.invalid"))
    [via] = check([named], [Vantage("tor", f"socks5h://127.0.0.1:{proxy.port}")], timeout=TIMEOUT)
    assert (via.vantage, via.status) == ("tor", "up"), via.detail
    assert seen and all(host == "mirror.kh.invalid" for host, _ in seen)


@pytest.mark.parametrize("scheme", ["http", "socks5h"])
def test_an_unreachable_proxy_names_the_vantage(site, scheme) -> None:
    proxy = f"{scheme}://user:secret@127.0.0.1:{free_port()}"
    direct, via = check([site], [Vantage("direct", None), Vantage("kh-metfone", proxy)], timeout=TIMEOUT)
    assert direct.status == "up" and via.status == "down"
    assert via.detail == f"vantage 'kh-metfone': proxy {scheme}://user:***@127.0.0.1:{proxy.rsplit(':', 1)[1]} " \
                         "failed: connection refused"


def test_proxy_settings_in_the_environment_are_ignored(site, monkeypatch) -> None:
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    [r] = check([site], timeout=TIMEOUT)
    assert r.status == "up", r.detail
