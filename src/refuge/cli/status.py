"""What each target's state is, as `refuge targets --json`, the admin API and the
console all show it: schedule, last capture, fixity, snapshot, mirrors, and its files'
copies per store ({"s3": {"copied": 12, "pending": 2}})."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from refuge.storage import catalog
from refuge.storage.catalog import mirrors, replicas, snapshots


def target_json(target: catalog.Target, last: dict[str, Any] | None) -> dict[str, Any]:
    spec = target.spec
    return {**spec.as_dict(), "schedule": spec.schedule, "created": target.created_at,
            "last_capture": last, "status": last["status"] if last else "never captured"}


def snapshot_json(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"capture": row["capture_id"], "complete": bool(row["complete"]), "records": row["records"],
            "expected": row["expected"], "attachments_failed": row["attachments_failed"]}


def target_rows(engine: Engine, name: str | None = None) -> list[dict[str, Any]]:
    """Every target (or the one called NAME) with its last capture, fixity, snapshot and mirrors."""
    latest = catalog.latest_captures(engine)
    fixity = replicas.fixity_by_target(engine)
    listed = [t for t in catalog.list_targets(engine) if name is None or t.name == name]
    snaps = snapshots.latest_by_target(engine, [t.id for t in listed if t.spec.kind == "database"])
    published = mirrors.counts_by_target(engine)
    copies = replicas.copies_by_target(engine)
    return [{**target_json(t, latest.get(t.id)), "fixity": fixity.get(t.id), "snapshot": snapshot_json(snaps.get(t.id)),
             "mirrors": published.get(t.id), "replicas": copies.get(t.id, {})} for t in listed]


def mirror_rows(engine: Engine, name: str | None = None) -> list[dict[str, Any]]:
    """Every current mirror URL (of target NAME): status, and per vantage point its newest check."""
    rows = mirrors.active(engine, name)
    vantages = mirrors.latest_by_vantage(engine, [r["id"] for r in rows])
    return [{"target": r["target"], "channel": r["channel"], "style": r["style"], "url": r["url"],
             "content": r["content"], "capture": r["capture_id"], "published_at": r["published_at"],
             "checked_at": r["checked_at"], "status": r["status"], "detail": r["detail"],
             "vantages": vantages.get(r["id"], {})} for r in rows]
