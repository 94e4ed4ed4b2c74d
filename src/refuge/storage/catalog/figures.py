"""Figures about the whole archive read in a few aggregate queries: what `/metrics` shows
and what alerts are evaluated from.

Contract: each function is one or two grouped queries over targets, captures, replicas
and mirrors (never a scan of the cdx index), covers targets that are not removed, and
returns plain values keyed by target name or store name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, select

from refuge.storage.catalog.db import iso, parse_iso
from refuge.storage.catalog.replicas import retry_delay
from refuge.storage.catalog.schema import captures, mirror_checks, mirrors, replicas, targets

_ACTIVE = targets.c.removed_at.is_(None)


def capture_counts(engine: Engine) -> list[dict[str, Any]]:
    """Per target and capture status: how many captures, and their pages and bytes."""
    query = (select(targets.c.name.label("target"), captures.c.status, func.count().label("captures"),
                    func.coalesce(func.sum(captures.c.pages), 0).label("pages"),
                    func.coalesce(func.sum(captures.c.bytes), 0).label("bytes"))
             .join(targets, targets.c.id == captures.c.target_id).where(_ACTIVE)
             .group_by(targets.c.name, captures.c.status))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def last_complete(engine: Engine) -> dict[str, dict[str, Any]]:
    """Per target, its newest complete capture: id, finished (ISO time), pages, bytes."""
    # Capture ids sort in start order, so the newest complete one has the greatest id.
    newest = (select(func.max(captures.c.id).label("id")).where(captures.c.status == "complete")
              .group_by(captures.c.target_id).subquery())
    query = (select(targets.c.name, captures.c.id, captures.c.finished_at, captures.c.pages, captures.c.bytes)
             .join(newest, newest.c.id == captures.c.id).join(targets, targets.c.id == captures.c.target_id)
             .where(_ACTIVE))
    with engine.connect() as conn:
        return {r.name: {"id": r.id, "finished": r.finished_at, "pages": r.pages, "bytes": r.bytes}
                for r in conn.execute(query)}


def capture_streaks(engine: Engine, depth: int) -> dict[str, list[dict[str, Any]]]:
    """Per target, its DEPTH newest finished captures (complete or failed), newest first:
    id, status, error. Interrupted captures are left out: they are resumed, not failed."""
    ranked = (select(captures.c.target_id, captures.c.id, captures.c.status, captures.c.error,
                     func.row_number().over(partition_by=captures.c.target_id,
                                            order_by=captures.c.id.desc()).label("n"))
              .where(captures.c.status.in_(("complete", "failed"))).subquery())
    query = (select(targets.c.name, ranked.c.id, ranked.c.status, ranked.c.error)
             .join(targets, targets.c.id == ranked.c.target_id)
             .where(_ACTIVE, ranked.c.n <= max(depth, 1)).order_by(targets.c.name, ranked.c.n))
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for r in conn.execute(query):
            found.setdefault(r.name, []).append({"id": r.id, "status": r.status, "error": r.error})
    return found


def replication_queue(engine: Engine, stores: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per store: copies pending, how many of them failed their last try, when the last try
    failed and the last copy was made (ISO times or None), and the newest error."""
    stores = list(stores)
    doc = {s: {"pending": 0, "failing": 0, "last_failure": None, "last_copy": None, "error": None} for s in stores}
    if not stores:
        return doc
    pending = (select(replicas.c.store, replicas.c.attempts, (replicas.c.last_error.is_not(None)).label("failed"),
                      func.count().label("n"), func.max(replicas.c.next_attempt_at).label("next"))
               .where(replicas.c.state == "pending", replicas.c.store.in_(stores))
               .group_by(replicas.c.store, replicas.c.attempts, replicas.c.last_error.is_not(None)))
    copied = (select(replicas.c.store, func.max(replicas.c.copied_at).label("at"))
              .where(replicas.c.store.in_(stores)).group_by(replicas.c.store))
    with engine.connect() as conn:
        for r in conn.execute(pending):
            entry = doc[r.store]
            entry["pending"] += r.n
            if r.failed:
                entry["failing"] += r.n
                # A failed try sets the next one retry_delay(attempts) later: so it was then.
                tried = _tried_at(r.next, r.attempts)
                entry["last_failure"] = max(filter(None, [entry["last_failure"], tried]), default=None)
        for r in conn.execute(copied):
            doc[r.store]["last_copy"] = r.at
        for store, entry in doc.items():
            if entry["failing"]:
                entry["error"] = conn.execute(
                    select(replicas.c.last_error).where(replicas.c.store == store, replicas.c.state == "pending",
                                                        replicas.c.last_error.is_not(None))
                    .order_by(replicas.c.next_attempt_at.desc()).limit(1)).scalar()
    return doc


def _tried_at(next_attempt: str | None, attempts: int) -> str | None:
    if not next_attempt:
        return None
    when = parse_iso(next_attempt)
    return iso(when - timedelta(seconds=retry_delay(attempts)))


def current_checks(engine: Engine) -> list[dict[str, Any]]:
    """The newest check of each current mirror from each vantage point, made since the mirror
    last changed content: target, url, channel, style, vantage, status, detail, checked_at."""
    newest = (select(func.max(mirror_checks.c.id).label("id"))
              .join(mirrors, mirrors.c.id == mirror_checks.c.mirror_id)
              .where(mirrors.c.retired_at.is_(None), mirror_checks.c.checked_at >= mirrors.c.published_at)
              .group_by(mirror_checks.c.mirror_id, mirror_checks.c.vantage).subquery())
    query = (select(targets.c.name.label("target"), mirrors.c.url, mirrors.c.channel, mirrors.c.style,
                    mirror_checks.c.vantage, mirror_checks.c.status, mirror_checks.c.detail,
                    mirror_checks.c.checked_at)
             .join(newest, newest.c.id == mirror_checks.c.id)
             .join(mirrors, mirrors.c.id == mirror_checks.c.mirror_id)
             .join(targets, and_(targets.c.id == mirrors.c.target_id, _ACTIVE))
             .order_by(targets.c.name, mirrors.c.url, mirror_checks.c.vantage))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
