"""Fallback site server when nginx is not available: threaded, HTTP/1.1 keep-alive,
one access-log line per request (``METHOD PATH STATUS``) so fetches can be counted.

``python bench/static_server.py ROOT PORT ACCESS_LOG`` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    log_fh = None
    log_lock = threading.Lock()

    def log_request(self, code="-", size="-"):  # noqa: ARG002
        line = f'"{self.requestline}" {int(code) if str(code).isdigit() else code}\n'
        with self.log_lock:
            self.log_fh.write(line)
            self.log_fh.flush()

    def log_message(self, format, *args):  # noqa: A002 - errors go to stderr quietly
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main() -> None:
    root, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    Handler.log_fh = open(log, "a", encoding="utf-8")
    httpd = Server(("127.0.0.1", port), partial(Handler, directory=root))
    httpd.serve_forever()


if __name__ == "__main__":
    main()
