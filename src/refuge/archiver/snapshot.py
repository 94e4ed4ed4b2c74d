"""A database capture's snapshot: every record as data, read from the captured bytes.

After the crawl, each record page (and, in API mode, each API page) is read back from
the capture's WARC files: fields and attachment links are extracted with the target's
spec, attachments are looked up in the same capture, and the result is stored as one
row per record and language, with a summary that says whether the snapshot is
complete and, if not, what is missing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Engine, select

from refuge.archiver.dbcrawl import Enumeration
from refuge.config.errors import Failure
from refuge.formats import dbextract
from refuge.formats.urls import resolve
from refuge.storage.catalog import snapshots
from refuge.storage.catalog.index import Hit, capture_hits
from refuge.storage.catalog.schema import failures
from refuge.storage.warc.files import WarcFiles
from refuge.storage.warc.payloads import payload, redirect_target, stored_payload_digest

MAX_LISTED_MISSING = 200  # ids spelled out in the summary; the count is always exact


def build(engine: Engine, files: WarcFiles, capture_id: str, target_id: int, spec: Any,
          enumeration: Enumeration) -> dict[str, Any]:
    """Extract and store the snapshot of CAPTURE_ID; return its summary."""
    hits = _hits(engine, files, capture_id)
    failed = _failures(engine, capture_id)
    rows: list[dict[str, Any]] = []
    attachment_cache: dict[str, dict[str, Any]] = {}
    pages_missing: list[dict[str, str]] = []  # a record's page in one language that was not captured

    def page_row(record_id: str, lang: str, url: str) -> dict[str, Any] | None:
        row = _row_from_page(engine, files, spec, record_id, lang, url, hits, failed, attachment_cache)
        if row is None:
            final = hits.final(url)
            reason = failed.get(url) or (f"HTTP {final.status}" if final is not None else "not captured")
            pages_missing.append({"id": record_id, "lang": lang, "url": url, "reason": reason})
        return row

    if spec.api is not None:
        items = _api_items(engine, files, hits, spec, enumeration)
        for record_id, (item, api_hit) in items.items():
            pages = _record_pages_api(spec, record_id)
            if not pages:
                rows.append(_row_from_item(record_id, item, api_hit))
            for lang, url in pages.items():
                row = page_row(record_id, lang, url)
                if row is not None:
                    row["item"] = item
                    rows.append(row)
    else:
        for record_id, listed_url in enumeration.listed.items():
            languages = spec.record.languages
            variants = dbextract.language_variants(listed_url, languages) or {
                dbextract.url_language(listed_url, languages) or "": listed_url}
            for lang, url in variants.items():
                row = page_row(record_id, lang, url)
                if row is not None:
                    rows.append(row)
    summary = _summary(enumeration, rows, attachment_cache, pages_missing)
    snapshots.save(engine, capture_id, target_id, summary, rows)
    return summary


MAX_REDIRECTS = 10


class Hits(dict):
    """The capture's records by URL (the last one wins: a retried fetch), with redirects
    followed the way the crawler followed them: a record page that moved (http to https,
    a trailing slash, a language redirect) is read at its final address."""

    def __init__(self, files: WarcFiles, hits: list[Hit]) -> None:
        super().__init__((hit.url, hit) for hit in hits)
        self.files = files

    def final(self, url: str) -> Hit | None:
        hit = self.get(url)
        for _ in range(MAX_REDIRECTS):
            if hit is None or hit.status is None or not 300 <= hit.status < 400:
                return hit
            location = redirect_target(self.files, hit)
            hit = self.get(resolve(hit.url, location) or "") if location else None
        return hit


def _hits(engine: Engine, files: WarcFiles, capture_id: str) -> Hits:
    return Hits(files, capture_hits(engine, capture_id))


def _failures(engine: Engine, capture_id: str) -> dict[str, str]:
    with engine.connect() as conn:
        return {r.url: r.reason for r in conn.execute(
            select(failures.c.url, failures.c.reason).where(failures.c.capture_id == capture_id))}


def _api_items(engine: Engine, files: WarcFiles, hits: Hits, spec: Any,
               enumeration: Enumeration) -> dict[str, tuple[Any, Hit]]:
    """Each record's item, whole, and the API page record it was read from."""
    items: dict[str, tuple[Any, Hit]] = {}
    for url in enumeration.page_urls:
        hit = hits.final(url)
        if hit is None or not _ok(hit):
            continue
        try:
            page = dbextract.api_page(spec.api, url, payload(engine, files, hit)[0])
        except (ValueError, Failure):
            continue  # reported as a failure during the capture
        for record_id, item in page.items:
            items.setdefault(record_id, (item, hit))
    return items


def _record_pages_api(spec: Any, record_id: str) -> dict[str, str]:
    template = spec.api.record_url
    if not template:
        return {}
    return {lang: template.replace("{lang}", lang).replace("{id}", record_id)
            for lang in (spec.record.languages or ("",))}


def _row_from_item(record_id: str, item: Any, api_page: Hit) -> dict[str, Any]:
    """A record known only from the API: its item, hashed in a canonical form, found in
    the API page's record."""
    text = json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return {"id": record_id, "lang": "", "url": api_page.url, "captured_at": _iso(api_page.timestamp),
            "fields": {}, "item": item, "attachments": [], "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "warc_file": api_page.filename, "warc_offset": api_page.offset}


def _row_from_page(engine: Engine, files: WarcFiles, spec: Any, record_id: str, lang: str, url: str,
                   hits: Hits, failed: dict[str, str],
                   cache: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    hit = hits.final(url)
    if hit is None or not _ok(hit):
        return None
    body, content_type = payload(engine, files, hit)
    fields = dbextract.record_fields(spec.record, hit.url, body, content_type)
    attachments = []
    for link in dbextract.record_attachments(spec.record, hit.url, body, content_type):
        if link not in cache:
            cache[link] = _attachment(engine, files, link, hits, failed)
        attachments.append(cache[link])
    return {"id": record_id, "lang": lang, "url": hit.url, "captured_at": _iso(hit.timestamp), "fields": fields,
            "item": None, "attachments": attachments, "sha256": hit.digest.removeprefix("sha256:"),
            "warc_file": hit.filename, "warc_offset": hit.offset}


def _attachment(engine: Engine, files: WarcFiles, url: str, hits: Hits, failed: dict[str, str]) -> dict[str, Any]:
    hit = hits.final(url)
    if hit is None or not _ok(hit):
        reason = failed.get(url) or (f"HTTP {hit.status}" if hit is not None else "not captured")
        return {"url": url, "error": reason}
    sha, size = stored_payload_digest(engine, files, hit)
    return {"url": url, "sha256": sha, "size": size, "mime": hit.mime}


def _summary(e: Enumeration, rows: list[dict[str, Any]], attachments: dict[str, dict[str, Any]],
             pages_missing: list[dict[str, str]]) -> dict[str, Any]:
    captured = {r["id"] for r in rows}
    not_captured = [i for i in e.listed if i not in captured]
    bad = sorted(url for url, a in attachments.items() if "error" in a)
    # Completeness is proven, never assumed: a listing was read, it named records, each was
    # captured in every language, and their number is the one the source states.
    short = e.expected is not None and len(captured) != e.expected
    missing: dict[str, Any] = {}
    if short:
        missing["records"] = f"the source states {e.expected} records; {len(captured)} were captured"
    if e.stopped:
        missing["listing"] = e.stopped
    elif not e.pages:
        missing["listing"] = "no listing or API page was read"
    elif not e.listed:
        missing["listing"] = f"the listing ({e.page_urls[0]}) named no records the spec could read"
    if not_captured:
        missing["not_captured"] = not_captured[:MAX_LISTED_MISSING]
        missing["not_captured_count"] = len(not_captured)
    if e.unidentified:
        missing["unidentified_links"] = e.unidentified[:MAX_LISTED_MISSING]
    if pages_missing:
        missing["pages"] = pages_missing[:MAX_LISTED_MISSING]
        missing["pages_count"] = len(pages_missing)
    if bad:
        missing["attachments_failed"] = [attachments[u] for u in bad[:MAX_LISTED_MISSING]]
    # A record counts as captured when any of its languages was; the snapshot is complete
    # only when every record is there in every language.
    complete = not short and "listing" not in missing and not not_captured and not pages_missing
    return {"expected": e.expected, "records": len(captured), "rows": len(rows),
            "attachments": len(attachments) - len(bad), "attachments_failed": len(bad),
            "complete": complete, "missing": missing}


def _ok(hit: Hit) -> bool:
    return hit.status is not None and 200 <= hit.status < 300


def _iso(ts: str) -> str:
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"
