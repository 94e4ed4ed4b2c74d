"""Takedowns: a URL, or every URL under a prefix, that readers are no longer shown.

    hide(engine, url, reason, actor, *, prefix=False) -> dict   a new takedown, and its audit event
    unhide(engine, hidden_id, actor) -> dict                     end one, and its audit event
    list_hidden(engine, include_removed=False) -> list[dict]     newest first
    hidden_for(engine_or_conn, url) -> dict | None               the active takedown covering URL
    active(engine_or_conn) -> Takedowns                          every active takedown, to filter lists

A takedown is a dict: id, url (as the admin wrote it), match ("exact" | "prefix"), reason,
created_at, created_by, removed_at, removed_by (None while it is active).

Matching is by SURT key (index.url_key), the way the CDX index finds captures, so the
scheme, a leading "www.", letter case and the order of query arguments do not matter.
An exact takedown covers the URLs with its key. A prefix takedown (``prefix=True``, or a
URL ending in ``*``, pywb's convention) covers every key that starts with its own:
``https://x.org/news*`` covers /news, /news/a and /newsletter; written with a slash,
``https://x.org/news/*`` covers the folder (/news/, with or without a query) and what is
under it, not /newsletter; ``https://x.org/*`` covers the whole host.

What a takedown changes is what readers are shown (replay answers 451, exports and
publishes leave the URL out). The WARC files, the CDX index and the catalog's records
stay as they were: the evidence is kept, ``refuge verify`` still passes, and unhiding
brings the pages back as they were. Unhiding keeps the row (removed_at), so the history
of what was hidden, by whom and why survives. Every hide and unhide writes its audit
event (events.record) in the transaction that makes the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, and_, insert, select, update

from refuge.config.errors import BadInput
from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.events import Actor, record
from refuge.storage.catalog.index import url_key
from refuge.storage.catalog.schema import hidden

MAX_REASON = 2000
MAX_URL = 4000
# A prefix's key is at most this long. hidden_for looks a URL up by every prefix of its key
# (an indexed IN), so the number of those is bounded whatever the URL.
MAX_PREFIX_KEY = 500
PUBLIC = ("id", "url", "match", "reason", "created_at", "created_by", "removed_at", "removed_by")

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


# -- matching (pure) -----------------------------------------------------------------------------

class Takedowns:
    """A set of active takedowns, matched without I/O: for filtering a list of captures or
    records once the set is loaded (active()), and for picking among hidden_for's candidates."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self._exact: dict[str, dict[str, Any]] = {}
        self._prefixes: dict[str, dict[str, Any]] = {}
        for row in sorted(rows, key=lambda r: r["id"]):  # the oldest of equal keys speaks for them
            table = self._prefixes if row["match"] == "prefix" else self._exact
            table.setdefault(row["urlkey"], public(row))
        self._lengths = sorted({len(k) for k in self._prefixes}, reverse=True)

    def __len__(self) -> int:
        return len(self._exact) + len(self._prefixes)

    def for_key(self, key: str | None) -> dict[str, Any] | None:
        """The takedown covering the SURT key KEY: an exact one first, else the longest prefix."""
        if not key:
            return None
        if key in self._exact:
            return self._exact[key]
        longest = next((n for n in self._lengths if n <= len(key) and key[:n] in self._prefixes), 0)
        folder = folder_of(key)  # never also a prefix of KEY: it ends in '/' where KEY has none
        if folder in self._prefixes and len(folder) > longest:
            return self._prefixes[folder]
        return self._prefixes[key[:longest]] if longest else None

    def for_url(self, url: str) -> dict[str, Any] | None:
        """The takedown covering URL (absolute, or a host and path), or None."""
        return self.for_key(url_key(_absolute(url)))


def folder_of(key: str) -> str:
    """The key a folder prefix ('https://x.org/news/*') is stored under, for KEY: SURT keys
    drop a path's last slash, so the folder's own URL ('org,x)/news', 'org,x)/news?p=2')
    starts with its path and not with the stored 'org,x)/news/'."""
    return key.partition("?")[0] + "/"


def candidate_keys(key: str) -> list[str]:
    """Every stored key that could cover KEY: its prefixes up to MAX_PREFIX_KEY, itself, its folder."""
    found = {key[:n] for n in range(1, min(len(key), MAX_PREFIX_KEY) + 1)}
    return sorted(found | {key, folder_of(key)})


# -- reading ---------------------------------------------------------------------------------------

def hidden_for(db: Engine | Connection, url: str) -> dict[str, Any] | None:
    """The active takedown covering URL, or None.

    Replay asks on every request, so this is one query, an indexed IN on urlkey over the
    few keys that could cover URL (candidate_keys); its answer is never cached, so a hide
    or an unhide is seen by every server process at once.
    """
    key = url_key(_absolute(url))
    if key is None:
        return None
    query = select(hidden).where(and_(hidden.c.removed_at.is_(None), hidden.c.urlkey.in_(candidate_keys(key))))
    return Takedowns(_fetch(db, query)).for_key(key)


def active(db: Engine | Connection) -> Takedowns:
    """Every active takedown (they are few: one query), to filter a list of URLs."""
    return Takedowns(_fetch(db, select(hidden).where(hidden.c.removed_at.is_(None))))


def list_hidden(engine: Engine, include_removed: bool = False) -> list[dict[str, Any]]:
    """Takedowns, newest first: the active ones, or all of them with INCLUDE_REMOVED."""
    query = select(hidden).order_by(hidden.c.id.desc())
    if not include_removed:
        query = query.where(hidden.c.removed_at.is_(None))
    return [public(r) for r in _fetch(engine, query)]


def public(row: Mapping[str, Any]) -> dict[str, Any]:
    """A takedown row as callers see it (PUBLIC's fields)."""
    return {k: row[k] for k in PUBLIC}


def _fetch(db: Engine | Connection, query: Any) -> list[dict[str, Any]]:
    if isinstance(db, Connection):
        return [dict(r) for r in db.execute(query).mappings()]
    with db.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


# -- changing ----------------------------------------------------------------------------------------

def hide(engine: Engine, url: str, reason: str, actor: Actor, *, prefix: bool = False) -> dict[str, Any]:
    """Hide URL (every URL under it with PREFIX, or when it ends in '*') for REASON, which
    readers are shown. BadInput naming the field for a bad URL or reason, or for a URL
    hidden already the same way."""
    written, match, key = check_url(url, prefix)
    reason = check_reason(reason)
    with engine.begin() as conn:
        same = conn.execute(select(hidden.c.id).where(and_(
            hidden.c.urlkey == key, hidden.c.match == match, hidden.c.removed_at.is_(None)))).scalar()
        if same is not None:
            raise BadInput(f"url: {written!r} is hidden already (takedown {same}); unhide it first to change it")
        values = {"url": written, "match": match, "urlkey": key, "reason": reason, "created_at": now_iso(),
                  "created_by": actor.name[:80]}
        new_id = int(conn.execute(insert(hidden).values(**values)).inserted_primary_key[0])
        record(conn, actor, "hide", written, {"id": new_id, "match": match, "reason": reason})
    return public({**values, "id": new_id, "removed_at": None, "removed_by": None})


def unhide(engine: Engine, hidden_id: int, actor: Actor) -> dict[str, Any]:
    """End the active takedown HIDDEN_ID (its row stays, marked removed); BadInput naming
    the id if no active takedown has it."""
    if isinstance(hidden_id, bool) or not isinstance(hidden_id, int):
        raise BadInput(f"id: {hidden_id!r} is not a takedown id (a whole number)")
    with engine.begin() as conn:
        done = conn.execute(update(hidden).where(and_(hidden.c.id == hidden_id, hidden.c.removed_at.is_(None)))
                            .values(removed_at=now_iso(), removed_by=actor.name[:80]))
        if done.rowcount != 1:
            raise BadInput(f"id: no active takedown has id {hidden_id}")
        row = conn.execute(select(hidden).where(hidden.c.id == hidden_id)).mappings().one()
        record(conn, actor, "unhide", row["url"], {"id": hidden_id, "match": row["match"]})
    return public(row)


# -- checking input --------------------------------------------------------------------------------------

def check_reason(reason: str) -> str:
    """REASON without surrounding white space; BadInput if empty or longer than MAX_REASON."""
    if not isinstance(reason, str) or not reason.strip():
        raise BadInput("reason: must not be empty (readers are shown it)")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise BadInput(f"reason: at most {MAX_REASON} characters (got {len(reason)})")
    return reason


def check_url(url: str, prefix: bool = False) -> tuple[str, str, str]:
    """(URL as written, "exact" | "prefix", its SURT key) for a takedown of URL: http(s), or
    a host and path without a scheme. BadInput naming the URL otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise BadInput("url: must not be empty")
    written = url.strip()
    if len(written) > MAX_URL:
        raise BadInput(f"url: at most {MAX_URL} characters (got {len(written)})")
    if _CONTROL.search(written):
        raise BadInput(f"url: {written[:200]!r}: white space or control characters inside")
    base = written
    if base.endswith("*"):
        prefix, base = True, base.rstrip("*")
    absolute = _absolute(base)
    parts = _parts(written, absolute)
    if "*" in (parts.hostname or "") or "*" in parts.path:
        raise BadInput(f"url: {written[:200]!r}: '*' may only end a prefix")
    key = url_key(absolute)
    if key is None:
        raise BadInput(f"url: {written[:200]!r}: not a URL that can be captured")
    if not prefix:
        return written, "exact", key
    if (parts.path.endswith("/") and not parts.query) and not key.endswith("/"):
        key += "/"  # the folder, not every path that starts with its name (see folder_of)
    if len(key) > MAX_PREFIX_KEY:
        raise BadInput(f"url: a prefix at most {MAX_PREFIX_KEY} characters long (got {len(key)})")
    return written, "prefix", key


def _parts(written: str, absolute: str) -> Any:
    m = _SCHEME.match(absolute)
    if m is None or m.group(1).lower() not in ("http", "https"):
        raise BadInput(f"url: {written[:200]!r}: only http and https URLs (or a host and path) can be hidden")
    try:
        parts = urlsplit(absolute)
        parts.port  # noqa: B018 - raises on a port that is no port
    except ValueError as exc:
        raise BadInput(f"url: {written[:200]!r}: {exc}") from None
    if not parts.hostname:
        raise BadInput(f"url: {written[:200]!r}: no host")
    return parts


def _absolute(url: str) -> str:
    """URL with a scheme: 'x.org/a' -> 'http://x.org/a' (SURT keys ignore the scheme)."""
    url = url.strip()
    return url if _SCHEME.match(url) else "http://" + url.lstrip("/")
