"""Imported captures in the catalog (`refuge import`): the one transaction that makes one,
and where its files came from (schema.import_sources).

An imported capture is recorded whole or not at all: its target (when new), the capture
row (already `complete`), every file with its index rows, its sources, the records left
out (as the capture's failures) and the audit event commit together. A reader sees all
of it or nothing of it; there is no `running` import to be found half done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from refuge.config.errors import Failure
from refuge.config.targets import TargetSpec
from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.events import Actor, record
from refuge.storage.catalog.schema import captures, cdx, failures, files, import_sources
from refuge.storage.catalog.targets import insert_target

ROWS_PER_INSERT = 10_000  # index rows per INSERT statement: bounded statements, one transaction


@dataclass(frozen=True)
class ImportedFile:
    """One WARC file of the capture, as files rows (its own and its CDXJ's) and index rows."""

    warc: dict[str, Any]  # name, path, sha256, size, records
    cdxj: dict[str, Any]
    rows: list[dict[str, Any]]


def commit_import(engine: Engine, *, target_id: int | None, new_target: TargetSpec | None,
                  capture: dict[str, Any], warcs: list[ImportedFile], sources: list[dict[str, Any]],
                  left_out: list[dict[str, Any]], actor: Actor, event: dict[str, Any]) -> int:
    """Record an imported capture in one transaction: NEW_TARGET added first when given
    (else TARGET_ID is the target's), CAPTURE (a captures row without target_id), WARCS,
    SOURCES (import_sources rows without capture_id), LEFT_OUT (failures rows: url, status,
    reason) and the audit event "import" by ACTOR with EVENT as detail. Returns the target id.

    Raises Failure when a target of NEW_TARGET's name was added meanwhile (nothing is
    recorded then).
    """
    at = now_iso()
    capture_id = capture["id"]
    try:
        with engine.begin() as conn:
            if new_target is not None:
                target_id = insert_target(conn, new_target)
            conn.execute(insert(captures).values(**capture, target_id=target_id))
            for f in warcs:
                warc_id = conn.execute(insert(files).values(capture_id=capture_id, kind="warc", sealed_at=at,
                                                            **f.warc).returning(files.c.id)).scalar_one()
                conn.execute(insert(files).values(capture_id=capture_id, kind="cdxj", sealed_at=at, **f.cdxj))
                for i in range(0, len(f.rows), ROWS_PER_INSERT):
                    conn.execute(insert(cdx), [dict(r, file_id=warc_id, capture_id=capture_id, target_id=target_id)
                                               for r in f.rows[i:i + ROWS_PER_INSERT]])
            if sources:
                conn.execute(insert(import_sources), [dict(s, capture_id=capture_id, imported_at=at) for s in sources])
            if left_out:
                conn.execute(insert(failures), [dict(r, capture_id=capture_id) for r in left_out])
            record(conn, actor, "import", event.get("target", ""), event)
    except IntegrityError:
        if new_target is None:
            raise
        raise Failure(f"target {new_target.name!r} was added by another process while the files were "
                      f"checked; nothing was imported: run the import again") from None
    assert target_id is not None
    return target_id


def sources_of(engine: Engine, capture_id: str) -> list[dict[str, Any]]:
    """Where an imported capture's files came from, in the order given (empty for a capture
    Refuge made itself): source, member, kind, sha256, size, stored_as, records,
    bad_records, signed and signature_ok (booleans or None), imported_at, and a WACZ's
    check as `wacz` (public_key, software, created, datapackage, datapackage_digest)."""
    with engine.connect() as conn:
        rows = conn.execute(select(import_sources).where(import_sources.c.capture_id == capture_id)
                            .order_by(import_sources.c.id)).mappings().all()
    out = []
    for row in rows:
        entry = {k: row[k] for k in ("source", "member", "kind", "sha256", "size", "stored_as", "records",
                                     "bad_records", "imported_at")}
        entry["signed"] = None if row["signed"] is None else bool(row["signed"])
        entry["signature_ok"] = None if row["signature_ok"] is None else bool(row["signature_ok"])
        detail = json.loads(row["detail"] or "{}")
        if detail:
            entry["wacz"] = detail
        out.append(entry)
    return out


def recorded(engine: Engine, capture_id: str) -> bool:
    """Whether the catalog knows capture CAPTURE_ID."""
    with engine.connect() as conn:
        return conn.execute(select(captures.c.id).where(captures.c.id == capture_id)).first() is not None
