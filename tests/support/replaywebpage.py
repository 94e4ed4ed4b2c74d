"""ReplayWeb.page, the viewer archivists open WACZ packages in, on loopback.

    serve_viewer(wacz) -> context manager yielding the URL of a page that embeds the
                          viewer (`<replay-web-page>`) over that one package
    open_viewer(page, url) -> opens that page in a Playwright page once the viewer's
                          service worker is active

The viewer is two built files from its npm package, ``ui.js`` (the page's element) and
``sw.js`` (the service worker that reads the WACZ and answers the replayed page's
requests), which scripts/install-test-servers.sh puts in .test-servers/replaywebpage.
They are served with the package from one small HTTP server on 127.0.0.1 that honours
Range requests, as the S3 bucket or web server an archive would publish a WACZ from does,
so the viewer reads the package the way it reads a remote one: the zip's directory
first, then each member by its byte range. Nothing of the viewer reaches outside that
server (a service worker needs a secure context, and http://127.0.0.1 is one).
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import Any

from server_procs import REPO_ROOT
from servers import unavailable

VIEWER = REPO_ROOT / ".test-servers" / "replaywebpage"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>viewer</title><script src="/ui.js"></script>
<style>replay-web-page {{ display: block; height: 90vh; }}</style></head>
<body><replay-web-page source="/{name}" url="{url}" replayBase="/replay/" embed="replayonly">
</replay-web-page></body></html>
"""


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte ranges (RFC 9110 `bytes=a-b`, `bytes=a-`, `bytes=-n`);
    the ranges asked for are kept on the server so a test can see how the package was read."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass

    def send_head(self):  # the base class's hook for GET and HEAD
        wanted = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not wanted or not path.is_file():
            return super().send_head()
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted.strip())
        total = path.stat().st_size
        if not match or match.groups() == ("", ""):
            self.send_error(416)
            return None
        first, last = match.groups()
        start = total - int(last) if first == "" else int(first)
        end = total - 1 if first == "" or last == "" else min(int(last), total - 1)
        if start < 0 or start > end:
            self.send_error(416)
            return None
        self.server.ranges.append((self.path, start, end))
        fh = open(path, "rb")
        fh.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.range_left = end - start + 1
        return fh

    def copyfile(self, source, outputfile) -> None:
        left = getattr(self, "range_left", None)
        if left is None:
            return super().copyfile(source, outputfile)
        while left > 0:
            chunk = source.read(min(left, 64 * 1024))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)


class _QuietServer(http.server.ThreadingHTTPServer):
    # The viewer's service worker opens many connections at once (a range per member); the
    # default backlog of 5 makes a loaded machine reset some of them.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        pass  # the browser drops connections it no longer needs; that is not a failure


def viewer_missing() -> str | None:
    """Why the viewer cannot run here, or None."""
    missing = [name for name in ("ui.js", "sw.js") if not (VIEWER / name).is_file()]
    return f"{', '.join(missing)} missing in {VIEWER}" if missing else None


def open_viewer(page: Any, url: str, timeout_ms: int = 60_000) -> None:
    """Open the viewer's page at URL in PAGE, ready to replay.

    On a browser's first visit the viewer races its own service worker: it creates its
    frame as soon as the worker is registered, and if the frame loaded before the worker
    was active it reloads the frame only three times, 100 ms apart, then gives up, leaving
    the frame on what the server itself has at /replay/. On a slow machine that is lost
    (seen under CI); a reader would reload, and so does this, once the worker is active,
    so that what is tested is the package, not that race."""
    page.goto(url)
    active = page.evaluate("""async (ms) => {  // wait_for_function would take a promise as true
        const until = Date.now() + ms;
        while (Date.now() < until) {
            const r = await navigator.serviceWorker.getRegistration("/replay/");
            if (r && r.active && r.active.state === "activated") return true;
            await new Promise(done => setTimeout(done, 250));
        }
        return false;
    }""", timeout_ms)
    assert active, f"the viewer's service worker was not active within {timeout_ms} ms"
    page.reload()


@contextmanager
def serve_viewer(wacz: Path, url: str, root: Path) -> Iterator[tuple[str, list]]:
    """(page URL, ranges served) for the viewer opening URL in WACZ; files staged under ROOT.

    The service worker and the frame it replays into live under /replay/ (the viewer's
    replayBase), and that frame loads ui.js from there too, so both files are served at
    both places."""
    why = viewer_missing()
    if why:
        unavailable("ReplayWeb.page", why, "run `make test` or `bash scripts/install-test-servers.sh`")
    (root / "replay").mkdir(parents=True, exist_ok=True)
    for name in ("ui.js", "sw.js"):
        shutil.copyfile(VIEWER / name, root / name)
        shutil.copyfile(VIEWER / name, root / "replay" / name)
    shutil.copyfile(wacz, root / wacz.name)
    (root / "index.html").write_text(PAGE.format(name=escape(wacz.name), url=escape(url)), encoding="utf-8")
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(root)))
    server.ranges = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html", server.ranges
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
