"""kiwix-serve (Debian's kiwix-tools) on loopback: what a reader with Kiwix sees of a ZIM.

    server = start_kiwix_serve([path.zim], root)   # a free port on 127.0.0.1
    server.book_url("zim Name") -> "http://127.0.0.1:PORT/BOOK/"   (from its own catalogue)
    server.search(book_url, pattern) -> the result paths inside the book, decoded
    server.stop()

A missing kiwix-serve fails the test under CI and skips it locally
(``servers.unavailable``); ``scripts/install-test-servers.sh`` installs kiwix-tools. The
server runs in its own process group, stopped with the group. Where a book's pages live
differs between versions (``/BOOK/PATH`` in kiwix-serve 3.3, ``/content/BOOK/PATH`` later),
so book_url asks the server's OPDS catalogue rather than assuming one.
"""

from __future__ import annotations

import atexit
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import requests
from server_procs import kill_group, listens, spawn, wait_until
from servers import INSTALL_HINT, free_port, unavailable

KIWIX_INSTALL = f"{INSTALL_HINT}; it does `apt-get install -y --no-install-recommends kiwix-tools`"
_HTML_LINK = re.compile(r'<link[^>]*type="text/html"[^>]*href="([^"]+)"')
_NAME = re.compile(r"<name>([^<]*)</name>")


@dataclass
class KiwixServer:
    zims: list[Path]
    port: int
    log: Path
    searchbar: bool = True
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [shutil.which("kiwix-serve") or "kiwix-serve", "--address=127.0.0.1", f"--port={self.port}",
               *([] if self.searchbar else ["--nosearchbar"]), *map(str, self.zims)]
        self._proc = spawn(cmd, self.log)
        try:
            wait_until(lambda: listens(self.base), {"kiwix-serve": self._proc}, [self.log], "kiwix-serve",
                       timeout=30, fatal="Unable to instantiate the HTTP daemon")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_group(proc)

    def book_url(self, name: str) -> str:
        """Where the pages of the book with zim Name NAME live, ending in '/'."""
        feed = requests.get(f"{self.base}/catalog/v2/entries", timeout=10)
        feed.raise_for_status()
        for entry in feed.text.split("<entry>")[1:]:
            if (m := _NAME.search(entry)) and m.group(1) == name and (link := _HTML_LINK.search(entry)):
                return urljoin(self.base, link.group(1).rstrip("/") + "/")
        raise AssertionError(f"kiwix-serve lists no book named {name!r}: {feed.text[:2000]}")

    def search(self, book_url: str, pattern: str) -> list[str]:
        """The paths (inside the book at BOOK_URL, decoded) of the first page of results of
        kiwix-serve's full-text search for PATTERN."""
        prefix = urlsplit(book_url).path
        book = prefix.rstrip("/").rsplit("/", 1)[-1]
        answer = requests.get(f"{self.base}/search", params={"content": book, "pattern": pattern}, timeout=30)
        answer.raise_for_status()
        return [unquote(m) for m in re.findall(f'href="{re.escape(prefix)}([^"#?]+)"', answer.text)]


def start_kiwix_serve(zims: list[Path], root: Path, *, searchbar: bool = True) -> KiwixServer:
    """kiwix-serve over ZIMS on a free port of 127.0.0.1, logging into ROOT."""
    if shutil.which("kiwix-serve") is None:
        unavailable("kiwix-serve", "not on PATH", KIWIX_INSTALL)
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # a free port may be taken before kiwix-serve binds it
        server = KiwixServer(list(zims), free_port(), root / "kiwix-serve.log", searchbar)
        try:
            server.start()
        except RuntimeError:
            if attempt == 2:
                raise
            continue
        atexit.register(server.stop)  # an interrupted run leaves no server behind
        return server
    raise AssertionError("unreachable")
