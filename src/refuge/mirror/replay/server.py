"""Running the replay app under waitress: blocking for the CLI, or in a background
thread on a free port for tests and the demo."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from waitress.server import create_server
from waitress import wasyncore

log = logging.getLogger(__name__)

_ADJUSTMENTS: dict[str, Any] = {
    "ident": "Refuge",
    # Archived responses can be big. Waitress spills what a slow client has not read yet
    # to a temporary file beyond outbuf_overflow, but its in-memory buffer also keeps
    # what was already sent until it drains completely, up to outbuf_high_watermark
    # (16 MB by default) per connection. 2 MB keeps a 200 MB download at a few MB of
    # memory; the price is that a worker thread waits for a slow client during the last
    # 2 MB of a response instead of handing all of it to the event loop.
    "outbuf_overflow": 1024 * 1024,
    "outbuf_high_watermark": 2 * 1024 * 1024,
    "channel_timeout": 120,
    "connection_limit": 1000,
    # The replay server is read-only: a request with a body is refused (413) as soon as its
    # headers are read, before a byte of the body is read or spooled to disk.
    "max_request_body_size": 1,
    "max_request_header_size": 64 * 1024,
}


def serve(app: Any, host: str, port: int, threads: int = 8) -> None:
    """Serve APP on HOST:PORT until interrupted (Ctrl-C or SIGTERM)."""
    server = create_server(app, host=host, port=port, threads=threads, **_ADJUSTMENTS)
    log.info("replay server listening on http://%s:%s/", *_address(server, host))
    try:
        server.run()
    finally:
        server.close()


@contextmanager
def running_server(app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> Iterator[str]:
    """Start APP under waitress in a background thread; yields its base URL
    ('http://127.0.0.1:PORT') and stops it (listening socket, connections, worker
    threads) on exit."""
    socket_map: dict[int, Any] = {}
    server = create_server(app, map=socket_map, host=host, port=port, threads=threads,
                           asyncore_loop_timeout=0.2, **_ADJUSTMENTS)
    h, p = _address(server, host)
    thread = threading.Thread(target=server.run, name=f"refuge-replay-{p}", daemon=True)
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
