"""The catalog's side of database snapshots: their records, their completeness, their
differences. Rows are written once per capture by archiver/snapshot.py."""

from __future__ import annotations

import json
from typing import Any, Iterable

from sqlalchemy import Engine, delete, func, insert, select

from refuge.config.errors import BadInput
from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.targets import get_target
from refuge.storage.catalog.schema import db_records, db_snapshots


def save(engine: Engine, capture_id: str, target_id: int, summary: dict[str, Any],
         rows: list[dict[str, Any]]) -> None:
    """Replace the capture's snapshot with SUMMARY and ROWS, in one transaction."""
    with engine.begin() as conn:
        conn.execute(delete(db_records).where(db_records.c.capture_id == capture_id))
        conn.execute(delete(db_snapshots).where(db_snapshots.c.capture_id == capture_id))
        conn.execute(insert(db_snapshots).values(
            capture_id=capture_id, target_id=target_id, expected=summary["expected"], records=summary["records"],
            rows=len(rows), attachments=summary["attachments"], attachments_failed=summary["attachments_failed"],
            complete=1 if summary["complete"] else 0, missing=json.dumps(summary["missing"], ensure_ascii=False),
            built_at=now_iso()))
        if rows:
            conn.execute(insert(db_records), [_encoded(capture_id, r) for r in rows])


def _encoded(capture_id: str, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "capture_id": capture_id, "record_id": r["id"], "lang": r["lang"], "url": r["url"],
        "captured_at": r["captured_at"], "fields": json.dumps(r["fields"], ensure_ascii=False),
        "item": json.dumps(r["item"], ensure_ascii=False) if r.get("item") is not None else None,
        "attachments": json.dumps(r["attachments"], ensure_ascii=False), "sha256": r["sha256"],
        "warc_file": r.get("warc_file"), "warc_offset": r.get("warc_offset"),
        "search": " ".join(str(v) for v in r["fields"].values() if v).lower()
        + (" " + json.dumps(r["item"], ensure_ascii=False).lower() if r.get("item") is not None else ""),
    }


def snapshot(engine: Engine, capture_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(db_snapshots).where(db_snapshots.c.capture_id == capture_id)).first()
    if row is None:
        return None
    doc = dict(row._mapping)
    doc["complete"] = bool(doc["complete"])
    doc["missing"] = json.loads(doc["missing"])
    return doc


def snapshot_ids(engine: Engine, target_name: str) -> list[str]:
    """The target's snapshots, oldest first."""
    target = get_target(engine, target_name, include_removed=True)
    with engine.connect() as conn:
        return list(conn.execute(select(db_snapshots.c.capture_id).where(db_snapshots.c.target_id == target.id)
                                 .order_by(db_snapshots.c.capture_id)).scalars())


def pick(engine: Engine, target_name: str, capture_id: str | None) -> str:
    """CAPTURE_ID if it is one of the target's snapshots, else its newest; a one-line error if none."""
    ids = snapshot_ids(engine, target_name)
    if capture_id is None:
        if not ids:
            raise BadInput(f"target {target_name!r}: no database snapshot yet (capture it with `refuge capture`)")
        return ids[-1]
    if capture_id not in ids:
        raise BadInput(f"--capture {capture_id}: not a snapshot of {target_name!r} (see `refuge captures {target_name}`)")
    return capture_id


def records(engine: Engine, capture_id: str, *, query: str | None = None,
            where: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The snapshot's rows, decoded; QUERY matches any field's text (a substring, so a
    Khmer word is found inside a run of Khmer without spaces)."""
    q = select(db_records).where(db_records.c.capture_id == capture_id)
    if query:
        for word in query.lower().split():
            q = q.where(db_records.c.search.contains(word, autoescape=True))
    with engine.connect() as conn:
        rows = [_decoded(r) for r in conn.execute(q.order_by(db_records.c.id))]
    for name, value in (where or {}).items():
        rows = [r for r in rows if (r["fields"].get(name) or "") == value]
    return rows


def _decoded(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    d["fields"] = json.loads(d["fields"])
    d["item"] = json.loads(d["item"]) if d["item"] is not None else None
    d["attachments"] = json.loads(d["attachments"])
    d.pop("search", None)
    return d


def diff(engine: Engine, older: str, newer: str) -> dict[str, Any]:
    """Records added, removed and changed (by id) from snapshot OLDER to NEWER, and how
    many are unchanged.

    Changed means what an archivist reads changed: a field of the record's page in any
    language, its API item, or an attachment's bytes. A page whose bytes differ only
    outside the fields (a timestamp, a session token, a view counter) is not a change;
    such records are listed apart as `markup_only` (and counted as unchanged), so every
    record does not show up as changed on sites that stamp each page.
    """
    before, after = _signatures(engine, older), _signatures(engine, newer)
    added = sorted(set(after) - set(before), key=_natural)
    removed = sorted(set(before) - set(after), key=_natural)
    common = set(after) & set(before)
    changed = sorted((k for k in common if after[k][0] != before[k][0]), key=_natural)
    markup_only = sorted((k for k in common if after[k][0] == before[k][0] and after[k][1] != before[k][1]),
                         key=_natural)
    return {"from": older, "to": newer, "added": added, "removed": removed, "changed": changed,
            "unchanged": len(common) - len(changed), "markup_only": markup_only}


def _signatures(engine: Engine, capture_id: str) -> dict[str, tuple[tuple, tuple]]:
    """Per record id: (what its data says, what its pages' bytes are), each sorted by language."""
    data: dict[str, list] = {}
    pages: dict[str, list] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(db_records.c.record_id, db_records.c.lang, db_records.c.sha256,
                                     db_records.c.fields, db_records.c.item, db_records.c.attachments)
                              .where(db_records.c.capture_id == capture_id)):
            files = tuple(sorted((a["url"], a.get("sha256") or a.get("error", "")) for a in json.loads(r.attachments)))
            item = json.dumps(json.loads(r.item), sort_keys=True) if r.item is not None else None
            fields = json.dumps(json.loads(r.fields), sort_keys=True)
            data.setdefault(r.record_id, []).append((r.lang, fields, item, files))
            pages.setdefault(r.record_id, []).append((r.lang, r.sha256))
    return {k: (tuple(sorted(v)), tuple(sorted(pages[k]))) for k, v in data.items()}


def _natural(record_id: str) -> tuple:
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


def latest_by_target(engine: Engine, target_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    newest = (select(func.max(db_snapshots.c.capture_id).label("id")).group_by(db_snapshots.c.target_id)
              .subquery())
    with engine.connect() as conn:
        rows = conn.execute(select(db_snapshots).join(newest, newest.c.id == db_snapshots.c.capture_id))
        found = {r.target_id: dict(r._mapping) for r in rows}
    return {t: found[t] for t in target_ids if t in found}
