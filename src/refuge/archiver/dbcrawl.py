"""The coordinator of a database target's capture: enumerate every record, fetch each.

The seed page is captured as the entry point (or read as the first listing page, when it
is one), then the records are enumerated from
HTML listing pages (a `{page}` template counted from `first` until a page lists no
records, or `next` links) or from a JSON API (items per page, `next` or the template).
Each record's page is fetched in every language, then its attachments. Everything
goes through the same workers, politeness, robots.txt, retries, limits and dedup as
any capture; only what to fetch next differs. Field values are read later from the
WARC files (archiver/snapshot.py), never from a second fetch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from refuge.archiver.crawl import Crawl
from refuge.archiver.worker import Outcome, Task
from refuge.formats import dbextract
from refuge.formats.urls import canonical


@dataclass
class Enumeration:
    """What the capture learnt about the source's records, for the snapshot manifest."""

    expected: int | None = None  # the total the source states
    listed: dict[str, str] = field(default_factory=dict)  # record id -> the URL it was listed with
    pages: int = 0  # listing or API pages read
    page_urls: list[str] = field(default_factory=list)  # those pages, in order
    stopped: str | None = None  # why the listing ended early, if it did
    unidentified: list[str] = field(default_factory=list)  # record links the id pattern did not match


class DatabaseCrawl(Crawl):
    def __init__(self, *args: Any, database: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.db = database
        self.max_depth = 0  # links between pages are not followed: the spec says what to fetch
        self.enumeration = Enumeration()

    def _start(self) -> None:
        source = self.db.listing or self.db.api
        role = "listing" if self.db.listing else "api"
        url = source.url.replace("{page}", str(source.first)) if "{page}" in source.url else source.url
        first = Task(url, role, 0, page=source.first)
        if canonical(url) == canonical(self.spec.url):
            # The target's URL is its own first listing (or API) page, as an admin naturally
            # types it: it is the seed, and it is read as a listing, not fetched as a page.
            self._enqueue(dataclasses.replace(first, seed=True))
            self._pages_queued = 1
            return
        super()._start()
        self._enqueue(first)

    def _handle(self, out: Outcome) -> None:
        role = out.task.role
        if role in ("listing", "api"):
            self._listing_done(out)
        elif role == "record" and isinstance(out.found, list):
            for url in out.found:
                self._enqueue(Task(url, "attachment", 0, record=out.task.record, lang=out.task.lang))
        super()._handle(out)

    def _listing_done(self, out: Outcome) -> None:
        task, found, e = out.task, out.found, self.enumeration
        if out.redirect:
            return  # the hop is followed by Crawl as the same role and page
        if found is None or isinstance(found, dict):
            why = (found or {}).get("error") or out.error or f"HTTP {out.status}"
            e.stopped = f"listing page {task.page} ({task.url}) could not be read: {why}"
            if found and found.get("error"):
                self._failed(task, out.status, found["error"])
            return
        e.pages += 1
        e.page_urls.append(task.url)
        if found.total is not None and e.expected is None:
            e.expected = found.total
        before = len(e.listed)
        if task.role == "listing":
            self._listed_records(found.records)
        else:
            self._api_records([item_id for item_id, _ in found.items])
        if len(e.listed) == before:
            # The first page with no records ends the listing, and so does a page that
            # lists only records seen already: many sites answer any page number past
            # the end with the last page, or ignore a page parameter they do not know.
            return
        if e.pages >= self.max_pages or self._pages_queued >= self.max_pages:
            e.stopped = f"stopped after {e.pages} listing pages and {self._pages_queued} record pages (max_pages)"
            return
        source = self.db.listing or self.db.api
        if found.next:
            self._enqueue(Task(found.next, task.role, 0, page=task.page + 1))
        elif not source.next and "{page}" in source.url:
            self._enqueue(Task(source.url.replace("{page}", str(task.page + 1)), task.role, 0, page=task.page + 1))

    def _listed_records(self, urls: list[str]) -> None:
        languages = self.db.record.languages
        for url in urls:
            record = dbextract.record_id(self.db.record, url)
            if record is None:
                self.enumeration.unidentified.append(url)
                continue
            if record in self.enumeration.listed:
                continue
            self.enumeration.listed[record] = url
            variants = dbextract.language_variants(url, languages) or {dbextract.url_language(url, languages) or "": url}
            for lang, variant in variants.items():
                self._add_record(variant, record, lang)

    def _api_records(self, ids: list[str]) -> None:
        template = self.db.api.record_url
        for record in ids:
            if record in self.enumeration.listed:
                continue
            self.enumeration.listed[record] = ""
            if template:
                for lang in self.db.record.languages or ("",):
                    self._add_record(template.replace("{lang}", lang).replace("{id}", record), record, lang)

    def _add_record(self, url: str, record: str, lang: str) -> None:
        if self._pages_queued < self.max_pages and self._enqueue(Task(url, "record", 0, record=record, lang=lang)):
            self._pages_queued += 1
