"""A page of a browser-mode target, captured: rendered in the worker's browser, its DOM and
screenshot written as resource records, its links read from the rendered DOM.

Contract: `BrowserCapture(settings, options, fetch, writers)`; `capture(url, document,
stop)` renders the page whose DOCUMENT (an HTML 2xx exchange) the worker fetched and
recorded, and returns a PageCapture (`stopped` if the capture's STOP came first): the links for the frontier (those the browser already
fetched for the page left out, pages kept), the failures to list, and counts. The DOM
(`urn:dom:<url>`, text/html; charset=utf-8) and screenshot (`urn:screenshot:<url>`,
image/png) are written dated as the document's response (docs/capture.md, "Browser mode").
A page that cannot be rendered (after its one retry) is listed as failed, and its links are
read from the HTML as sent, as in a plain capture. Playwright is imported only when the
first page comes (archiver/browser.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from refuge.archiver.fetch import Exchange
from refuge.archiver.links import outlinks
from refuge.archiver.rendered import BrowserOptions, Rendered, RenderFailed, RenderStopped
from refuge.archiver.warcwriter import RollingWarcWriter, warc_date
from refuge.config.settings import Settings
from refuge.formats.urls import canonical

DOM_TYPE = "text/html; charset=utf-8"
SCREENSHOT_TYPE = "image/png"


@dataclass
class PageCapture:
    links: list[tuple[str, str]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    caused: int = 0  # records the page's requests were written as
    caused_revisits: int = 0  # of which revisits
    length: int = 0  # payload bytes the page's requests fetched
    stopped: bool = False  # the capture is stopping: the page is left for its next run


class BrowserCapture:
    """Captures one worker's browser-mode pages; safe to call from its threads."""

    def __init__(self, settings: Settings, options: BrowserOptions, fetch: Callable[[str, float], tuple[Exchange, str]],
                 writers: RollingWarcWriter) -> None:
        self.settings = settings
        self.options = options
        self.fetch = fetch
        self.writers = writers
        self._host: Any = None  # browser.BrowserHost, started by the first page
        self._lock = threading.Lock()

    def capture(self, url: str, document: Exchange, stop: threading.Event) -> PageCapture:
        """Render URL (see the module doc)."""
        try:
            rendered = self._browser().render(url, document, self.options, stop)
        except RenderStopped:
            return PageCapture(stopped=True)
        except RenderFailed as exc:
            # Listed, not made the page's own error: its response is recorded (a seed that
            # will not render still makes a capture).
            return PageCapture(
                links=outlinks(url, document.media_type, document.header("Content-Type"),
                               document.header("Content-Encoding"), document.body),
                failures=[{"url": url, "status": None, "reason": f"browser: {exc}"}])
        page = PageCapture(failures=list(rendered.failures), caused=len(rendered.records), length=rendered.length,
                           caused_revisits=sum(1 for _, how in rendered.records if how == "revisit"))
        self._write(url, warc_date(document), rendered, page)
        if rendered.dom is None:  # too large to keep (listed): its links are read from the HTML as sent
            page.links = outlinks(url, document.media_type, document.header("Content-Type"),
                                  document.header("Content-Encoding"), document.body)
            return page
        found = outlinks(url, "text/html", DOM_TYPE, None, BytesIO(rendered.dom))
        # What the browser fetched for the page is recorded already: not queued again.
        page.links = [(link, kind) for link, kind in found if kind == "page" or canonical(link) not in rendered.fetched]
        return page

    def close(self) -> None:
        if self._host is not None:
            self._host.close()

    def _write(self, url: str, date: str, rendered: Rendered, page: PageCapture) -> None:
        limit = self.settings.max_response_bytes
        for uri, kind, data in ((f"urn:dom:{url}", DOM_TYPE, rendered.dom),
                                (f"urn:screenshot:{url}", SCREENSHOT_TYPE, rendered.screenshot)):
            if data is None:
                continue
            if len(data) > limit:
                page.failures.append({"url": uri, "status": None,
                                      "reason": f"{len(data)} bytes exceed max_response_bytes ({limit}): not stored"})
                continue
            self.writers.write_resource(uri, date, kind, data)

    def _browser(self) -> Any:
        with self._lock:
            if self._host is None:
                from refuge.archiver.browser import BrowserHost  # Playwright: only for browser-mode targets

                self._host = BrowserHost(self.settings, self.fetch)
            return self._host
