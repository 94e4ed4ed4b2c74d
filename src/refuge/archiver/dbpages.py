"""What a worker reads from a database target's pages as it records them: the record
links, next page and stated total of a listing or API page, and a record page's
attachments. The coordinator (dbcrawl.py) decides what to fetch from that."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from refuge.archiver.links import MAX_PARSE_BYTES, decode_content
from refuge.formats import dbextract

if TYPE_CHECKING:  # worker.py imports this module
    from refuge.archiver.fetch import Exchange
    from refuge.archiver.worker import Task

DATABASE_ROLES = frozenset({"listing", "api", "record"})


def read_database_page(spec: Any, task: Task, ex: Exchange) -> Any:
    """The listing's, API page's or record page's findings; {"error": ...} when unreadable."""
    ex.body.seek(0)
    data = decode_content(ex.body.read(MAX_PARSE_BYTES), ex.header("Content-Encoding"))
    if data is None:
        return {"error": f"cannot decode Content-Encoding {ex.header('Content-Encoding')!r}"}
    content_type = ex.header("Content-Type")
    try:
        if task.role == "listing":
            return dbextract.listing_page(spec.listing, task.url, data, content_type)
        if task.role == "api":
            page = dbextract.api_page(spec.api, task.url, data)
            # The coordinator needs the ids only; the items are read from the WARC later.
            return page._replace(items=[(item_id, None) for item_id, _ in page.items])
        return dbextract.record_attachments(spec.record, task.url, data, content_type)
    except ValueError as exc:
        return {"error": str(exc)}
