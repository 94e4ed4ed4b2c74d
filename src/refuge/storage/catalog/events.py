"""The audit log and the alerts sent, one table (schema.events).

Every change to what Refuge does or shows (a target added, a capture started, a URL
hidden, a user or token made) is recorded with who made it, when, from where and what
it touched, in the same transaction as the change where the caller passes its
connection, so a change is never without its record. Alerts are recorded as they are
sent (kind "alert"). Records are never changed or deleted by Refuge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.schema import events

CLI = "cli"  # the actor and source of a change made with the refuge command on the server
SYSTEM = "refuge"  # the actor of what Refuge does by itself (alerts)


@dataclass(frozen=True)
class Actor:
    """Who makes a change and from where: a user, a token ("token:NAME"), or the CLI."""

    name: str
    source: str  # the client's address, or "cli"


CLI_ACTOR = Actor(CLI, CLI)


def record(db: Engine | Connection, actor: Actor, action: str, subject: str, detail: dict[str, Any] | None = None,
           kind: str = "change") -> int:
    """Add one event; DB is an engine, or the connection of the transaction making the change."""
    values = {"at": now_iso(), "kind": kind, "actor": actor.name[:80], "action": action[:40],
              "subject": subject, "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
              "source": actor.source[:64]}
    if isinstance(db, Connection):
        return int(db.execute(insert(events).values(**values)).inserted_primary_key[0])
    with db.begin() as conn:
        return int(conn.execute(insert(events).values(**values)).inserted_primary_key[0])


def list_events(engine: Engine, *, kind: str | None = None, since: str | None = None, before_id: int | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
    """Events, newest first: of KIND (change | alert) if given, at or after SINCE (ISO time),
    older than BEFORE_ID (to page back)."""
    query = select(events).order_by(events.c.id.desc()).limit(max(1, min(limit, 1000)))
    if kind is not None:
        query = query.where(events.c.kind == kind)
    if since is not None:
        query = query.where(events.c.at >= since)
    if before_id is not None:
        query = query.where(events.c.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [{**row, "detail": json.loads(row["detail"] or "{}")} for row in rows]
