"""A capture's page list for its WACZ package (pages/pages.jsonl): every HTML page with its
URL, time, title and text, so ReplayWeb.page lists the pages and searches their words.

The first line is the header `{"format": "json-pages-1.0", "id": "pages", "title": "All
Pages", "hasText": true}`; then one page per line: `id`, `url`, `ts` (RFC 3339 UTC),
`title` and `text` when the page has them. A page is a response or revisit of the capture
with a 2xx status and an HTML media type, in the order it was captured. Its title and text
are read from the record as stored (a revisit's from the record it stands for), at most
PAGE_READ bytes of HTML and TEXT_CHARS characters of text per page, so memory is bounded
whatever a page weighs; the markup is cut as search's is (formats.html.text.bounded), so
that no page nested too deep can hold the packaging for long. A page under an active
takedown (`refuge hide`) is left out of the list: its record stays in the WARC files, which
are evidence and are not altered, but its title and words are not repeated in plain text
beside them.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
from collections.abc import Iterator

from sqlalchemy import Engine

from refuge.formats.charset import html_charset
from refuge.formats.html.text import page_text
from refuge.storage.catalog.cdxj import LINE_ENDS
from refuge.storage.catalog.hidden import Takedowns
from refuge.storage.catalog.index import Hit, capture_query, to_hit, url_key
from refuge.storage.warc.files import WarcFiles
from refuge.storage.warc.payloads import payload

log = logging.getLogger(__name__)

HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages", "hasText": True}
HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_READ = 2 * 1024 * 1024
TEXT_CHARS = 100_000


def iso_ts(timestamp: str) -> str:
    """'20261127234147' -> '2026-11-27T23:41:47Z'."""
    t = timestamp.ljust(14, "0")
    return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"


class PageList:
    """The page list of one capture, written once by iterating lines(); afterwards `pages`,
    `withheld` and `main` (the (url, ts) of the seed's page, else of the first page) say what
    it held."""

    def __init__(self, engine: Engine, files: WarcFiles, capture_id: str, seed_url: str,
                 takedowns: Takedowns) -> None:
        self.engine, self.files, self.capture_id = engine, files, capture_id
        self.seed_key = url_key(seed_url)
        self.takedowns = takedowns
        self.pages = 0
        self.withheld = 0
        self.main: tuple[str, str] | None = None
        self._seed_found = False

    def lines(self) -> Iterator[bytes]:
        yield _line(HEADER)
        for hit in self._pages():
            if self.takedowns.for_key(hit.urlkey or url_key(hit.url)) is not None:
                self.withheld += 1
                continue
            entry: dict[str, str] = {"id": _page_id(hit), "url": hit.url, "ts": iso_ts(hit.timestamp)}
            title, text = self._read(hit)
            if title:
                entry["title"] = title
            if text:
                entry["text"] = text
            self.pages += 1
            if not self._seed_found and (self.main is None or hit.urlkey == self.seed_key):
                self.main = (hit.url, entry["ts"])
                self._seed_found = hit.urlkey == self.seed_key
            yield _line(entry)

    def _pages(self) -> Iterator[Hit]:
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(capture_query(self.capture_id)):
                hit = to_hit(row)
                if hit.rectype in ("response", "revisit") and hit.status is not None and 200 <= hit.status < 300 \
                        and hit.mime.split(";")[0].strip().lower() in HTML_TYPES:
                    yield hit

    def _read(self, hit: Hit) -> tuple[str, str]:
        try:
            data, content_type = payload(self.engine, self.files, hit, PAGE_READ)
            try:
                html = codecs.decode(data, html_charset(content_type, data[:1024]), "replace")
            except LookupError:
                html = data.decode("utf-8", "replace")
            page = page_text(html, TEXT_CHARS, drop=())  # bounded: a page may be hostile
            return page.title, page.text
        except Exception as exc:  # noqa: BLE001 - a page's text only helps search: an unreadable
            # record (damaged, or a revisit whose original is gone) is listed without it, and the
            # package's hashes still say whether its bytes are the ones sealed.
            log.warning("%s at %s: no text for the page list (%s)", hit.url, hit.timestamp, exc)
            return "", ""


def _page_id(hit: Hit) -> str:
    return hashlib.sha256(f"{hit.timestamp} {hit.url}".encode("utf-8")).hexdigest()[:24]


def _line(doc: dict[str, object]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False).translate(LINE_ENDS) + "\n").encode("utf-8")
