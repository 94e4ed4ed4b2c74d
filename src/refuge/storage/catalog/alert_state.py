"""The last known state of each alert condition (schema.alert_states), changed only by
whoever still sees the state it read.

A row is one alert's view of one condition of one subject: key
"<alert name>:<event>:<subject>" (a long subject is replaced by its SHA-256 in the key;
the row's detail keeps it whole). state is ok | failing | pending (failing, but not for
long enough yet to alert). detail is a JSON object: event, subject, alert, what was seen
(text), and the delivery of the alert the state calls for (sent, attempts, retry_at,
error).

Contract: `replace` changes a row only if it still holds exactly what the caller read
(or, for a new key, if none exists yet), in one transaction, and says whether it did.
Two processes evaluating the same change both try; exactly one wins, and only the winner
sends the alert.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from refuge.storage.catalog.schema import alert_states

KEY_LIMIT = 255  # the key column's size


@dataclass(frozen=True)
class StateRow:
    """One alert_states row, as stored."""

    key: str
    state: str  # ok | failing | pending
    since: str  # ISO 8601 UTC: when the state began
    detail: str  # JSON text

    @property
    def doc(self) -> dict[str, Any]:
        try:
            value = json.loads(self.detail or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


def state_key(alert: str, event: str, subject: str) -> str:
    """The row key of ALERT's view of EVENT for SUBJECT; at most KEY_LIMIT characters."""
    key = f"{alert}:{event}:{subject}"
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{alert[:KEY_LIMIT - len(event) - 80]}:{event}:sha256:{digest}"


def encode(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def read_states(engine: Engine) -> dict[str, StateRow]:
    """Every row, by key."""
    with engine.connect() as conn:
        rows = conn.execute(select(alert_states.c.key, alert_states.c.state, alert_states.c.since,
                                   alert_states.c.detail)).all()
    return {r.key: StateRow(r.key, r.state, r.since, r.detail) for r in rows}


def replace(engine: Engine, key: str, old: StateRow | None, state: str, since: str, detail: str) -> bool:
    """Make KEY's row (STATE, SINCE, DETAIL) if it is still OLD (None: no row yet). True if
    this call changed it; False if another process changed it first."""
    if old is None:
        try:
            with engine.begin() as conn:
                conn.execute(insert(alert_states).values(key=key, state=state, since=since, detail=detail))
            return True
        except IntegrityError:  # another evaluation inserted it first
            return False
    with engine.begin() as conn:
        changed = conn.execute(update(alert_states).where(
            (alert_states.c.key == key) & (alert_states.c.state == old.state) & (alert_states.c.since == old.since)
            & (alert_states.c.detail == old.detail)).values(state=state, since=since, detail=detail))
    return changed.rowcount == 1


def forget(engine: Engine, old: StateRow) -> bool:
    """Delete OLD's row if it is still as read (its subject is gone: a removed target, a
    retired mirror, an alert no longer configured)."""
    with engine.begin() as conn:
        gone = conn.execute(delete(alert_states).where(
            (alert_states.c.key == old.key) & (alert_states.c.state == old.state)
            & (alert_states.c.since == old.since) & (alert_states.c.detail == old.detail)))
    return gone.rowcount == 1


def list_states(engine: Engine) -> list[dict[str, Any]]:
    """Every row decoded, failing ones first: alert, event, subject, state, since, detail..."""
    rows = [{**row.doc, "key": row.key, "state": row.state, "since": row.since} for row in read_states(engine).values()]
    order = {"failing": 0, "pending": 1, "ok": 2}
    return sorted(rows, key=lambda r: (order.get(r["state"], 3), str(r.get("event")), str(r.get("subject"))))
