"""Filling the search index (storage.catalog.search reads it): the captured HTML pages of a
capture, read back from its sealed WARC files.

    index_capture(engine, settings, capture_id) -> int            that capture's pages
    reindex(engine, settings, target=None) -> Reindexed            rebuild a target's (or all)

What is a page: a response or revisit record of the capture with status 200 and an HTML media
type (text/html, application/xhtml+xml); for a page a browser-mode capture rendered, the
rendered DOM it stored beside it (a resource record urn:dom:<page URL>, formats.rendered),
indexed under the page's URL instead of the page as sent (a script-rendered page's shell
holds little of its text). Its text is formats.html.text.page_text of the
payload's first PAGE_READ bytes, decoded in the charset it was served or declared with
(unknown or broken charsets: UTF-8 with replacement characters), without the site's navigation,
headers, footers and side bars; at most TEXT_CHARS characters of text and TITLE_CHARS of title.
page_text bounds the markup before parsing, so a hostile page (huge, nested a million deep,
in a charset that does not decode) costs a bounded time and memory; a page that cannot be read
at all (a damaged record, a revisit whose original is gone) is logged and left out, and the
rest of the capture is indexed.

Normalised for the index only: NFC, NUL and ZERO WIDTH SPACE removed (Khmer writers put the
latter between words, invisibly; a query typed without it must match). Nothing that is hashed
changes: the WARC records, their digests and the CDX index stay as they are.

One row per target, URL (SURT key) and payload digest. A later capture of the same payload
(a revisit, or an unchanged response) reads nothing: its row's span (first_ts..last_ts) and
capture_id are moved to include it, so search links the newest capture of that text and a
date filter finds every time it was seen. A changed page gets a row of its own. Indexing is
idempotent (a capture indexed twice, or by two processes at once, leaves the same rows), runs
in short transactions of BATCH pages (a capture writing beside it is never held up for long),
and a taken-down page is indexed like any other: search leaves it out while the takedown
lasts (storage.catalog.hidden), and unhiding brings it back without indexing again.
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, func, or_, select, text, update

from refuge.config.settings import Settings
from refuge.formats.charset import html_charset
from refuge.formats.html.text import PageText, page_text
from refuge.formats.rendered import DOM, page_of
from refuge.storage.catalog.index import Hit, hits_query, to_hit, url_key
from refuge.storage.catalog.schema import captures, cdx, search_pages, targets
from refuge.storage.warc.files import WarcFiles, warc_files
from refuge.storage.warc.payloads import payload

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_READ = 2 * 1024 * 1024  # bytes of a page's payload read: the text cap is reached long before
TEXT_CHARS = 20_000  # a word past this in a page is not found
BATCH = 200  # pages per transaction


@dataclass(frozen=True)
class Reindexed:
    targets: int
    captures: int
    pages: int  # captured pages indexed, summed over the captures
    rows: int  # rows the index holds for those targets afterwards (one per page and payload)
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"targets": self.targets, "captures": self.captures, "pages": self.pages, "rows": self.rows,
                "seconds": round(self.seconds, 3)}


def for_index(text: str) -> str:
    """TEXT as the index holds it (and as a query is matched): NFC, without NUL and ZERO WIDTH SPACE."""
    return unicodedata.normalize("NFC", text.replace("\x00", "").replace("\u200b", ""))


def index_capture(engine: Engine, settings: Settings, capture_id: str) -> int:
    """Index the HTML pages of capture CAPTURE_ID (see the module's docstring); how many of
    its pages the index holds afterwards (a page that could not be read is not counted)."""
    with engine.connect() as conn:
        target_id = conn.execute(select(captures.c.target_id).where(captures.c.id == capture_id)).scalar()
    if target_id is None:
        return 0
    files = warc_files(settings, engine)
    held = 0
    batch: list[Hit] = []
    for hit in _pages(engine, capture_id):
        batch.append(hit)
        if len(batch) == BATCH:
            held += _index_batch(engine, files, target_id, capture_id, batch)
            batch = []
    if batch:
        held += _index_batch(engine, files, target_id, capture_id, batch)
    return held


def reindex(engine: Engine, settings: Settings, target: str | None = None) -> Reindexed:
    """Rebuild the index of target TARGET (every target's if None, removed ones included): its
    rows are deleted (BATCH a transaction), then every capture that is not running is indexed
    again, oldest first.
    For captures made before search existed, and after the text extraction changed. Until it
    ends, searches find only what it has indexed so far. Raises LookupError for an unknown name."""
    began = time.monotonic()
    with engine.connect() as conn:
        query = select(targets.c.id)
        if target is not None:
            query = query.where(targets.c.name == target)
        ids = list(conn.execute(query).scalars())
        if target is not None and not ids:
            raise LookupError(target)
        work = list(conn.execute(select(captures.c.id).where(and_(captures.c.target_id.in_(ids),
                                                                   captures.c.status != "running"))
                                 .order_by(captures.c.started_at, captures.c.id)).scalars())
    _delete_rows(engine, ids)
    pages = sum(index_capture(engine, settings, capture_id) for capture_id in work)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:  # FTS5 keeps what was deleted until its segments are merged
            conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
    with engine.connect() as conn:
        rows = int(conn.execute(select(func.count()).select_from(search_pages)
                                .where(search_pages.c.target_id.in_(ids))).scalar())
    return Reindexed(len(ids), len(work), pages, rows, time.monotonic() - began)


def _delete_rows(engine: Engine, target_ids: list[int]) -> None:
    """Delete the index rows of TARGET_IDS, BATCH rows a transaction: SQLite's FTS5 delete
    trigger reads each row's text again, and one transaction for all of a big target's rows
    would hold the database's write lock past a capture's busy timeout."""
    while True:
        with engine.begin() as conn:
            batch = list(conn.execute(select(search_pages.c.id).where(search_pages.c.target_id.in_(target_ids))
                                      .order_by(search_pages.c.id).limit(BATCH)).scalars())
            if not batch:
                return
            conn.execute(delete(search_pages).where(search_pages.c.id.in_(batch)))


# -- reading --------------------------------------------------------------------------------------

_DOM_RECORD = and_(cdx.c.rectype == "resource", cdx.c.url.startswith(DOM, autoescape=True))
_DOM_TYPE = "text/html; charset=utf-8"  # a rendered DOM's, as browser mode stores it


def _pages(engine: Engine, capture_id: str) -> Iterator[Hit]:
    """The capture's pages in the order they were indexed, read a thousand index rows at a
    time (no cursor stays open while the index is written); a rendered DOM as its page (its
    URL and key), and a page that has one in the capture only as that."""
    with engine.connect() as conn:
        rendered = {url_key(page_of(u) or "") for u in conn.execute(
            select(cdx.c.url).where(and_(cdx.c.capture_id == capture_id, _DOM_RECORD))).scalars()}
    last = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(hits_query().add_columns(cdx.c.id.label("row_id"))
                                .where(and_(cdx.c.capture_id == capture_id, cdx.c.id > last,
                                            or_(and_(cdx.c.status == 200, cdx.c.rectype.in_(("response", "revisit"))),
                                                _DOM_RECORD)))
                                .order_by(cdx.c.id).limit(1000)).all()
        if not rows:
            return
        last = rows[-1].row_id
        for row in rows:
            hit = to_hit(row[:-1])
            if hit.rectype == "resource":
                page = page_of(hit.url)
                if page is not None and url_key(page) is not None:
                    yield dataclasses.replace(hit, url=page, urlkey=url_key(page))
            elif hit.urlkey not in rendered and hit.mime.split(";")[0].strip().lower() in HTML_TYPES:
                yield hit


def _read(engine: Engine, files: WarcFiles, hit: Hit) -> PageText | None:
    try:
        data, content_type = payload(engine, files, hit, PAGE_READ)
        if hit.rectype == "resource":  # a rendered DOM: no HTTP head to say its charset
            content_type = _DOM_TYPE
        try:
            html = codecs.decode(data, html_charset(content_type, data[:1024]), "replace")
        except LookupError:
            html = data.decode("utf-8", "replace")
        return page_text(html, TEXT_CHARS)
    except Exception as exc:  # noqa: BLE001 - one unreadable record (damaged, or a revisit whose
        # original is gone) leaves that page out of search, not the rest of the capture.
        log.warning("%s at %s: not indexed for search (%s)", hit.url, hit.timestamp, exc)
        return None


# -- writing --------------------------------------------------------------------------------------

_WIDEN_LAST = (update(search_pages)
               .where(and_(search_pages.c.target_id == bindparam("b_target"), search_pages.c.urlkey == bindparam("b_key"),
                           search_pages.c.digest == bindparam("b_digest"), search_pages.c.last_ts < bindparam("b_last")))
               .values(last_ts=bindparam("b_last"), capture_id=bindparam("b_capture"), url=bindparam("b_url")))
_WIDEN_FIRST = (update(search_pages)
                .where(and_(search_pages.c.target_id == bindparam("b_target"), search_pages.c.urlkey == bindparam("b_key"),
                            search_pages.c.digest == bindparam("b_digest"), search_pages.c.first_ts > bindparam("b_first")))
                .values(first_ts=bindparam("b_first")))


def _index_batch(engine: Engine, files: WarcFiles, target_id: int, capture_id: str, hits: list[Hit]) -> int:
    spans: dict[tuple[str, str], dict[str, Any]] = {}
    counts: dict[tuple[str, str], int] = {}
    for hit in hits:
        key = (hit.urlkey, hit.digest)
        counts[key] = counts.get(key, 0) + 1
        span = spans.setdefault(key, {"b_target": target_id, "b_key": hit.urlkey, "b_digest": hit.digest,
                                      "b_first": hit.timestamp, "b_last": hit.timestamp, "b_url": hit.url,
                                      "b_capture": capture_id, "hit": hit})
        span["b_first"] = min(span["b_first"], hit.timestamp)
        if hit.timestamp >= span["b_last"]:
            span["b_last"], span["b_url"] = hit.timestamp, hit.url
    with engine.connect() as conn:
        known = {(r.urlkey, r.digest) for r in conn.execute(select(search_pages.c.urlkey, search_pages.c.digest).where(
            and_(search_pages.c.target_id == target_id, search_pages.c.digest.in_({d for _, d in spans}))))}
    new = []
    for key, span in list(spans.items()):
        if key in known:
            continue
        page = _read(engine, files, span["hit"])
        if page is None:
            del spans[key]
            continue
        new.append({"target_id": target_id, "urlkey": key[0], "url": span["b_url"], "digest": key[1],
                    "first_ts": span["b_first"], "last_ts": span["b_last"], "capture_id": capture_id,
                    "lang": page.lang, "title": for_index(page.title), "text": for_index(page.text)[:TEXT_CHARS]})
    kept = [{k: v for k, v in span.items() if k != "hit"} for span in spans.values()]
    with engine.begin() as conn:
        if new:
            conn.execute(_insert_new(engine), new)
        if kept:
            conn.execute(_WIDEN_LAST, kept)
            conn.execute(_WIDEN_FIRST, kept)
    return sum(counts[key] for key in spans)


def _insert_new(engine: Engine) -> Any:
    """INSERT of new rows that leaves a row another process added meanwhile as it is."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(search_pages).on_conflict_do_nothing(index_elements=["target_id", "urlkey", "digest"])
