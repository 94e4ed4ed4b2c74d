"""Running the replay app under waitress: several processes for the CLI, or one background
thread on a free port for tests and the demo.

`serve` binds the listening socket once and starts `processes` children (spawned, so a
parent running the scheduler's threads never forks them), each a waitress server on that
socket: the kernel spreads connections over them and the replay uses every core. The
parent only supervises: a child that dies is replaced, and stopping the parent stops them.

Why waitress (measured, see docs/replay.md): its event loop reads request headers and
writes buffered responses without a worker thread, so clients that send headers slowly,
and readers of what fits its buffers, hold no thread. gunicorn's gthread and granian, tried
side by side, held a thread per client that does not read a streamed response as well;
granian also copies the process environment (secrets included) into every request.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from refuge.config.errors import Failure
from refuge.config.logs import setup_logging

log = logging.getLogger(__name__)

_ADJUSTMENTS: dict[str, Any] = {
    "ident": "Refuge",
    # Archived responses can be big. Waitress spills what a slow client has not read yet
    # to a temporary file beyond outbuf_overflow, and a worker thread waits for the client
    # once outbuf_high_watermark is buffered: that keeps a 200 MB download at a few MB of
    # memory. Readers that never read can so hold threads, but only the app's STREAMS per
    # process (app.py) for big responses, and for small ones (many pipelined requests) only
    # until the kernel drops the connection after TIMEOUT without progress (_listen).
    "outbuf_overflow": 1024 * 1024,
    "outbuf_high_watermark": 2 * 1024 * 1024,
    "connection_limit": 1000,  # per process
    "backlog": 2048,
    # The replay server is read-only: a request with a body is refused (413) as soon as its
    # headers are read, before a byte of the body is read or spooled to disk.
    "max_request_body_size": 1,
    "max_request_header_size": 64 * 1024,
}
TIMEOUT = 60.0  # seconds a connection may stay idle, stall its headers or read nothing
RESTARTS_PER_MINUTE = 10  # a child dying faster than this is a fault to report, not to retry


def serve(make_app: Callable[..., Any], args: tuple[Any, ...], host: str, port: int, processes: int = 1,
          threads: int = 8, timeout: float = TIMEOUT) -> None:
    """Serve make_app(*args) on HOST:PORT in PROCESSES processes until interrupted (Ctrl-C
    or SIGTERM). MAKE_APP is called in each process (a module-level function: it is
    passed to spawned children), so no database connection crosses a process. A connection
    idle, or stalled in its headers, for TIMEOUT seconds is closed, and so is one that has
    taken nothing of its responses for that long."""
    sock = _listen(host, port, timeout)
    h, p = sock.getsockname()[:2]
    log.info("replay server listening on http://%s:%s/ (%d process%s)", f"[{h}]" if ":" in h else h, p,
             processes, "" if processes == 1 else "es")
    try:
        if processes <= 1:
            _serve_socket(make_app, args, sock, threads, timeout)
        else:
            _supervise(make_app, args, sock, processes, threads, timeout)
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: a normal stop, as waitress itself treats it
    finally:
        sock.close()


def _listen(host: str, port: int, timeout: float) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host.strip("[]"), port), family=family, backlog=_ADJUSTMENTS["backlog"])
    except OSError as exc:
        raise Failure(f"replay server: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        # Inherited by every accepted connection: the kernel drops one whose client has
        # acknowledged nothing, or kept its receive window shut, for TIMEOUT. That is what
        # frees a worker thread waiting for a client that pipelined many requests and reads
        # none of the answers -- waitress's own timeout spares a connection with requests
        # in progress, and nothing else can reach that thread. (Linux 5.11 and later count
        # a shut window; elsewhere such a client holds its thread until it goes away.)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(timeout * 1000))
    return sock


def _serve_socket(make_app: Callable[..., Any], args: tuple[Any, ...], sock: socket.socket, threads: int,
                  timeout: float) -> None:
    server = create_server(make_app(*args), sockets=[sock], threads=threads, **_timeouts(timeout), **_ADJUSTMENTS)
    try:
        server.run()
    finally:
        server.close()


def _timeouts(timeout: float) -> dict[str, Any]:
    """Waitress's own: idle connections and stalled headers closed after TIMEOUT, looked
    for often enough to be near it."""
    return {"channel_timeout": timeout, "cleanup_interval": max(1, min(10, int(timeout / 3)))}


def _child(make_app: Callable[..., Any], args: tuple[Any, ...], sock: socket.socket, threads: int,
           timeout: float, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent decides
    setup_logging(logging.WARNING)

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)  # the parent was killed: nothing supervises this process any more

    threading.Thread(target=orphaned, daemon=True, name="orphan-watch").start()
    _serve_socket(make_app, args, sock, threads, timeout)


def _supervise(make_app: Callable[..., Any], args: tuple[Any, ...], sock: socket.socket, processes: int,
               threads: int, timeout: float) -> None:
    ctx = multiprocessing.get_context("spawn")

    def start(n: int) -> multiprocessing.process.BaseProcess:
        child = ctx.Process(target=_child, args=(make_app, args, sock, threads, timeout, os.getpid()),
                            name=f"refuge-replay-{n}", daemon=True)  # never outlive the parent
        child.start()
        return child

    children: list[multiprocessing.process.BaseProcess] = []
    restarts: list[float] = []
    try:
        for n in range(processes):
            children.append(start(n))
        while True:
            for ended in wait([c.sentinel for c in children], timeout=5):
                n = next(i for i, c in enumerate(children) if c.sentinel == ended)
                code = children[n].exitcode
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > RESTARTS_PER_MINUTE:
                    raise Failure(f"replay server: its processes keep dying (the last with exit code {code})")
                log.error("replay process %s ended with exit code %s; starting another", children[n].name, code)
                children[n] = start(n)
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()


def default_processes() -> int:
    return os.cpu_count() or 1


@contextmanager
def running_server(app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 8,
                   max_body: int = 1, name: str = "replay") -> Iterator[str]:
    """Start APP under waitress in a background thread; yields its base URL
    ('http://127.0.0.1:PORT') and stops it (listening socket, connections, worker
    threads) on exit. MAX_BODY: the largest request body taken (the replay server's
    requests have none; the admin server's forms do)."""
    socket_map: dict[int, Any] = {}
    try:
        server = create_server(app, map=socket_map, host=host, port=port, threads=threads, asyncore_loop_timeout=0.2,
                               **_timeouts(TIMEOUT), **{**_ADJUSTMENTS, "max_request_body_size": max_body})
    except OSError as exc:
        raise Failure(f"{name} server: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    h, p = _address(server, host)
    thread = threading.Thread(target=server.run, name=f"refuge-{name}-{p}", daemon=True)
    thread.start()
    try:
        yield f"http://{h}:{p}"
    finally:
        # Let requests being served finish first (they wake the event loop through its
        # trigger when done), then close every socket from inside the event loop thread,
        # never under its feet.
        server.task_dispatcher.shutdown(timeout=5)
        done = threading.Event()

        def _close_all() -> None:
            try:
                wasyncore.close_all(socket_map)
            finally:
                done.set()

        try:
            server.trigger.pull_trigger(_close_all)
        except OSError:
            wasyncore.close_all(socket_map)
        done.wait(5)
        thread.join(5)


def _address(server: Any, host: str) -> tuple[str, int]:
    h = getattr(server, "effective_host", host) or host
    p = getattr(server, "effective_port", 0)
    if ":" in str(h) and not str(h).startswith("["):
        h = f"[{h}]"
    return str(h), int(p)
