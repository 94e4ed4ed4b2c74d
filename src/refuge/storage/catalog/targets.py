"""Targets in the catalog: what is captured, and how (a TargetSpec per row)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from refuge.config.errors import BadInput
from refuge.config.targets import TargetSpec
from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.schema import targets


@dataclass(frozen=True)
class Target:
    id: int
    spec: TargetSpec
    created_at: str
    removed_at: str | None

    @property
    def name(self) -> str:
        return self.spec.name


def _target(row: Any) -> Target:
    spec = TargetSpec(
        name=row.name, url=row.url, scope=row.scope, every_seconds=row.every_seconds, cron=row.cron,
        max_pages=row.max_pages, max_depth=row.max_depth, include=tuple(json.loads(row.include)),
        exclude=tuple(json.loads(row.exclude)), robots=row.robots, kind=row.kind, database=row.database,
        **_browser_fields(row.browser),
    )
    return Target(id=row.id, spec=spec, created_at=row.created_at, removed_at=row.removed_at)


def _browser_fields(stored: str | None) -> dict[str, Any]:
    """TargetSpec's browser-mode fields from the browser column (NULL: a plain target)."""
    if not stored:
        return {}
    options = json.loads(stored)
    return {"browser": True, "scroll": bool(options.get("scroll")), "click": tuple(options.get("click") or ()),
            "max_clicks": options.get("max_clicks")}


def _spec_columns(spec: TargetSpec) -> dict[str, Any]:
    return dict(
        name=spec.name, kind=spec.kind, url=spec.url, scope=spec.scope, every_seconds=spec.every_seconds,
        cron=spec.cron, max_pages=spec.max_pages, max_depth=spec.max_depth,
        include=json.dumps(list(spec.include)), exclude=json.dumps(list(spec.exclude)), robots=spec.robots,
        database=spec.database,
        browser=json.dumps({"scroll": spec.scroll, "click": list(spec.click), "max_clicks": spec.max_clicks},
                           ensure_ascii=False) if spec.browser else None,
    )


def save_target(engine: Engine, spec: TargetSpec) -> tuple[Target, bool]:
    """Add the target, or replace the spec of the one with that name (reviving it if
    removed). Returns the target and whether it is new."""
    now = now_iso()
    with engine.begin() as conn:
        existing = conn.execute(select(targets.c.id).where(targets.c.name == spec.name)).scalar()
        if existing is None:
            conn.execute(insert(targets).values(**_spec_columns(spec), created_at=now, updated_at=now))
            created = True
        else:
            conn.execute(update(targets).where(targets.c.id == existing)
                         .values(**_spec_columns(spec), updated_at=now, removed_at=None))
            created = False
        row = conn.execute(select(targets).where(targets.c.name == spec.name)).one()
    return _target(row), created


def insert_target(conn: Connection, spec: TargetSpec) -> int:
    """Inside CONN's transaction: add target SPEC, whose name the catalog must not hold
    (IntegrityError if it does); its id."""
    now = now_iso()
    return int(conn.execute(insert(targets).values(**_spec_columns(spec), created_at=now, updated_at=now)
                            .returning(targets.c.id)).scalar_one())


def seed_targets(engine: Engine, specs: Iterable[TargetSpec]) -> list[str]:
    """Add each target whose name the catalog has never held. A removed target stays removed."""
    added = []
    for spec in specs:
        with engine.connect() as conn:
            known = conn.execute(select(targets.c.id).where(targets.c.name == spec.name)).scalar()
        if known is None:
            try:
                save_target(engine, spec)
                added.append(spec.name)
            except IntegrityError:
                pass  # another process seeded it first
    return added


def get_target(engine: Engine, name: str, *, include_removed: bool = False) -> Target:
    with engine.connect() as conn:
        row = conn.execute(select(targets).where(targets.c.name == name)).first()
    if row is None or (row.removed_at and not include_removed):
        raise BadInput(f"target {name!r}: no such target (see `refuge targets`)")
    return _target(row)


def list_targets(engine: Engine, *, include_removed: bool = False) -> list[Target]:
    query = select(targets).order_by(targets.c.name)
    if not include_removed:
        query = query.where(targets.c.removed_at.is_(None))
    with engine.connect() as conn:
        return [_target(row) for row in conn.execute(query)]


def remove_target(engine: Engine, name: str) -> Target:
    target = get_target(engine, name)
    with engine.begin() as conn:
        conn.execute(update(targets).where(targets.c.id == target.id).values(removed_at=now_iso()))
    return target


