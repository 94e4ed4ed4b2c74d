"""`refuge serve` as admins run it: several processes, and clients that misbehave cannot
starve it. Each check asks what a reader would notice: does /healthz, and an archived
page, still answer while the server is being held?"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from refuge.config.settings import Settings
from refuge.storage import catalog
from replay_helpers import ArchiveWriter, Repeated
from servers import free_port

REFUGE = str(Path(sys.executable).with_name("refuge"))
SITE = "https://news.example/"
T = "20261127234147"
BIG = 48 * 1024 * 1024  # larger than what the kernel's socket buffers absorb for a client that does not read
PAGE = 512 * 1024  # an ordinary response: not big enough to count as a big stream


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("held") / "data"
    data.mkdir()
    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    with ArchiveWriter(settings, engine, seed=SITE) as w:
        w.response(SITE, "<html><title>ទំព័រដើម</title><p>front</p></html>".encode(), ts=T)
        w.response(SITE + "video.bin", Repeated(b"0123456789abcdef", BIG), ts=T,
                   headers=(("Content-Type", "application/octet-stream"),))
        w.response(SITE + "notes.txt", b"notes " * (PAGE // 6), ts=T, headers=(("Content-Type", "text/plain"),))
    engine.dispose()
    return data


@pytest.fixture(scope="module")
def server(data) -> Iterator[tuple[str, subprocess.Popen]]:
    with _serving(data, processes=2) as started:
        yield started


@contextmanager
def _serving(data: Path, processes: int, **settings: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`refuge serve` on DATA in PROCESSES processes, with REFUGE_* SETTINGS, until the block ends."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")} | {"REFUGE_DATA": str(data)}
    env |= {f"REFUGE_{name.upper()}": value for name, value in settings.items()}
    proc = subprocess.Popen([REFUGE, "serve", "--port", str(port), "--processes", str(processes)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    children = processes if processes > 1 else 0  # one process serves in the parent itself
    while len(_children(proc.pid)) < children or not _answers(base):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "the server did not start within a minute"
        time.sleep(0.1)
    try:
        yield base, proc
    finally:
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        proc.stderr.close()
    deadline = time.time() + 10
    while any(Path(f"/proc/{c}").exists() for c in children) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{c}").exists() for c in children), "SIGTERM stops every server process"


def _children(pid: int) -> list[int]:
    """The server processes under PID (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except OSError:
                pass  # it just ended
    return found


def _answers(base: str) -> bool:
    try:
        return requests.get(base + "/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _page_answers(base: str) -> bool:
    try:
        page = requests.get(f"{base}/web/{T}id_/{SITE}", timeout=5)
    except requests.RequestException:
        return False
    return page.status_code == 200 and "ទំព័រដើម".encode() in page.content


@contextmanager
def _held(base: str, count: int, request: bytes) -> Iterator[list[socket.socket]]:
    """COUNT connections to the server at BASE that send REQUEST and then read nothing,
    held open inside the block."""
    port = int(base.rsplit(":", 1)[1])
    held = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(request)
        yield held
    finally:
        for sock in held:
            sock.close()


def test_clients_that_never_read_a_big_response_do_not_hold_the_server(server) -> None:
    base, _ = server
    # More than all the worker threads of both processes (2 x 8).
    with _held(base, 24, f"GET /web/{T}id_/{SITE}video.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode()):
        for _ in range(8):  # while their responses are being buffered, and after
            time.sleep(0.5)
            assert _answers(base) and _page_answers(base)
        # One more reader of the big file is served, or told in one page to come back: never left hanging.
        video = requests.get(f"{base}/web/{T}id_/{SITE}video.bin", timeout=10, stream=True)
        assert video.status_code in (200, 503)
        if video.status_code == 503:
            assert video.headers["Retry-After"] and "Please try again" in video.text


def test_clients_that_pipeline_many_requests_and_never_read_are_dropped(data) -> None:
    # Every ordinary response is buffered whole without a thread's help, but one connection
    # pipelining dozens of requests keeps its thread writing until the reader takes some:
    # more such connections than the server has threads, none reading. The server drops
    # each once it has taken nothing for serve_timeout (3 s here), freeing its thread.
    pipelined = f"GET /web/{T}id_/{SITE}notes.txt HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 60
    with _serving(data, processes=1, serve_timeout="3") as (base, _), _held(base, 12, pipelined):
        time.sleep(1)  # the threads take the pipelined requests, and are held by them
        deadline = time.time() + 20
        while not _answers(base):
            assert time.time() < deadline, "the server is still held by clients that read nothing"
        for _ in range(10):  # and stays free while the rest of them are dropped in turn
            assert _answers(base) and _page_answers(base)
            time.sleep(0.5)


def test_a_player_resuming_a_big_file_gets_the_range_it_asks_for(server) -> None:
    # A phone's player paused long enough is dropped (serve_timeout) and asks again from
    # where it was: the rest of the file, not the whole of it again.
    base, _ = server
    tail = requests.get(f"{base}/web/{T}id_/{SITE}video.bin", headers={"Range": f"bytes={BIG - 20}-"}, timeout=30)
    assert tail.status_code == 206 and tail.headers["Content-Range"] == f"bytes {BIG - 20}-{BIG - 1}/{BIG}"
    assert tail.content == (b"0123456789abcdef" * 2)[-20:]  # BIG is a multiple of the pattern


def test_connections_that_never_finish_their_headers_do_not_hold_the_server(server) -> None:
    base, _ = server
    with _held(base, 600, b"GET / HTTP/1.1\r\nHost: x\r\n"):
        time.sleep(0.5)
        assert _answers(base) and _page_answers(base)


def test_a_body_is_refused_before_it_is_read(server) -> None:
    base, _ = server
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 524288000\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_server_process_that_dies_is_replaced(server) -> None:
    base, proc = server
    before = _children(proc.pid)
    os.kill(before[0], signal.SIGKILL)
    deadline = time.time() + 30
    # One reading of the process list decides: two readings can straddle the moment a new
    # process is between fork and exec, when it is not yet a server process.
    while not (len(after := _children(proc.pid)) == 2 and before[0] not in after and before[1] in after):
        assert time.time() < deadline, f"not replaced within 30 s: {before} became {after}"
        assert _answers(base), "the other process answers meanwhile"
        time.sleep(0.1)
    assert _answers(base) and _page_answers(base)
