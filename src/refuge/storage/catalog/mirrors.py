"""The catalog's record of published mirrors and of every check of them.

A mirror is one URL (an S3 public URL, an IPFS gateway path or subdomain) that serves
a target's static export. Publishing records or refreshes its row; a URL that stops
being current (the old CID after a new capture) is retired, not deleted, so its
history stays. Checks append to ``mirror_checks`` and set the mirror's status: down
when any vantage point failed in the latest round, up when all succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select, update

from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.schema import mirror_checks, mirrors, targets

STATUS_ORDER = {"up": 0, "unknown": 1, "down": 2}


@dataclass(frozen=True)
class Published:
    """One URL a publish made available."""

    channel: str  # s3 | ipfs
    style: str  # bucket | path | subdomain
    url: str
    content: str  # the IPFS directory CID, or sha256:<export digest>


def record_publish(engine: Engine, target_id: int, capture_id: str, digest: str, channel: str,
                   urls: Iterable[Published], expected: Mapping[str, str]) -> list[int]:
    """Record the URLs CHANNEL now serves for the target; retire the channel's other URLs.

    A URL whose content did not change keeps its publish time and check status; one
    whose content changed is 'unknown' until checked again."""
    now = now_iso()
    ids: list[int] = []
    expected_json = json.dumps(dict(sorted(expected.items())), ensure_ascii=False)
    with engine.begin() as conn:
        for p in urls:
            row = conn.execute(select(mirrors).where(and_(mirrors.c.target_id == target_id,
                                                          mirrors.c.url == p.url))).first()
            values = {"channel": channel, "style": p.style, "content": p.content, "digest": digest,
                      "capture_id": capture_id, "expected": expected_json, "retired_at": None}
            if row is None:
                result = conn.execute(mirrors.insert().values(target_id=target_id, url=p.url, published_at=now,
                                                              status="unknown", **values))
                ids.append(int(result.inserted_primary_key[0]))
                continue
            if row.digest != digest or row.content != p.content or row.retired_at is not None:
                values.update(published_at=now, status="unknown", checked_at=None, detail=None)
            conn.execute(update(mirrors).where(mirrors.c.id == row.id).values(**values))
            ids.append(int(row.id))
        conn.execute(update(mirrors).where(and_(
            mirrors.c.target_id == target_id, mirrors.c.channel == channel, mirrors.c.retired_at.is_(None),
            mirrors.c.id.notin_(ids) if ids else mirrors.c.id.isnot(None))).values(retired_at=now))
    return ids


def last_publish(engine: Engine, target_id: int, channel: str) -> dict[str, Any] | None:
    """The channel's current publish of the target: content, digest, capture; None if never."""
    with engine.connect() as conn:
        row = conn.execute(select(mirrors.c.content, mirrors.c.digest, mirrors.c.capture_id,
                                  mirrors.c.published_at)
                           .where(and_(mirrors.c.target_id == target_id, mirrors.c.channel == channel,
                                       mirrors.c.retired_at.is_(None)))
                           .order_by(mirrors.c.published_at.desc(), mirrors.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def capture_publish(engine: Engine, target_id: int, channel: str, capture_id: str) -> dict[str, Any] | None:
    """The newest publish of the target's capture CAPTURE_ID on CHANNEL, current or retired:
    content, digest, capture, published_at, retired_at; None if that capture never went there."""
    with engine.connect() as conn:
        row = conn.execute(select(mirrors.c.content, mirrors.c.digest, mirrors.c.capture_id,
                                  mirrors.c.published_at, mirrors.c.retired_at)
                           .where(and_(mirrors.c.target_id == target_id, mirrors.c.channel == channel,
                                       mirrors.c.capture_id == capture_id))
                           .order_by(mirrors.c.retired_at.isnot(None), mirrors.c.published_at.desc(),
                                     mirrors.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def active(engine: Engine, target_name: str | None = None) -> list[dict[str, Any]]:
    """Every current mirror (of one target), working ones first."""
    query = (select(mirrors, targets.c.name.label("target"), targets.c.url.label("original"))
             .join(targets, targets.c.id == mirrors.c.target_id)
             .where(and_(mirrors.c.retired_at.is_(None), targets.c.removed_at.is_(None))))
    if target_name is not None:
        query = query.where(targets.c.name == target_name)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:
        r["expected"] = json.loads(r["expected"] or "{}")
    rows.sort(key=lambda r: (STATUS_ORDER.get(r["status"], 1), r["target"], r["channel"], r["style"], r["url"]))
    return rows


def record_checks(engine: Engine, results: Iterable[Any], digests: Mapping[int, str]) -> None:
    """Store a round of check results (reach.Result-like: mirror_id, vantage, status, detail,
    seconds, checked_at) and set each mirror's status from its round, unless the mirror
    was republished with other content (DIGESTS: what was checked) while it ran."""
    by_mirror: dict[int, list[Any]] = {}
    with engine.begin() as conn:
        for r in results:
            by_mirror.setdefault(r.mirror_id, []).append(r)
            conn.execute(mirror_checks.insert().values(mirror_id=r.mirror_id, vantage=r.vantage,
                                                       checked_at=r.checked_at, status=r.status,
                                                       detail=r.detail[:2000], seconds=float(r.seconds)))
        for mirror_id, round_ in by_mirror.items():
            failed = [r for r in round_ if r.status != "up"]
            worst = failed[0] if failed else round_[0]
            detail = worst.detail if len(round_) == 1 else f"{worst.vantage}: {worst.detail}"
            conn.execute(update(mirrors).where(and_(mirrors.c.id == mirror_id,
                                                    mirrors.c.digest == digests[mirror_id])).values(
                status="down" if failed else "up", detail=detail[:2000],
                checked_at=max(r.checked_at for r in round_)))


def latest_by_vantage(engine: Engine, mirror_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """{mirror id: {vantage: status of its newest check}}."""
    ids = list(mirror_ids)
    if not ids:
        return {}
    found: dict[int, dict[str, str]] = {}
    newest = (select(func.max(mirror_checks.c.id).label("id")).where(mirror_checks.c.mirror_id.in_(ids))
              .group_by(mirror_checks.c.mirror_id, mirror_checks.c.vantage).subquery())
    with engine.connect() as conn:
        rows = conn.execute(select(mirror_checks.c.mirror_id, mirror_checks.c.vantage, mirror_checks.c.status)
                            .join(newest, newest.c.id == mirror_checks.c.id))
        for r in rows:
            found.setdefault(r.mirror_id, {})[r.vantage] = r.status
    return found


def history(engine: Engine, target_name: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest checks (of one target's mirrors, retired ones included), newest first."""
    query = (select(mirror_checks, mirrors.c.url, targets.c.name.label("target"))
             .join(mirrors, mirrors.c.id == mirror_checks.c.mirror_id)
             .join(targets, targets.c.id == mirrors.c.target_id))
    if target_name is not None:
        query = query.where(targets.c.name == target_name)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(mirror_checks.c.checked_at.desc(), mirror_checks.c.id.desc())
                            .limit(limit))
        return [dict(r._mapping) for r in rows]


def counts_by_target(engine: Engine) -> dict[int, dict[str, int]]:
    """{target id: {"up": n, "down": n, "unknown": n}} over current mirrors."""
    found: dict[int, dict[str, int]] = {}
    with engine.connect() as conn:
        rows = conn.execute(select(mirrors.c.target_id, mirrors.c.status).where(mirrors.c.retired_at.is_(None)))
        for r in rows:
            doc = found.setdefault(r.target_id, {"up": 0, "down": 0, "unknown": 0})
            doc[r.status if r.status in doc else "unknown"] += 1
    return found
