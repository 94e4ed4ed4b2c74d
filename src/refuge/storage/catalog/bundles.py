"""The catalog's record of the bundles published beside each target's mirrors: a file a
reader downloads once and passes on (a ZIM for Kiwix), with where it can be had, its size
and SHA-256 (what the signed mirror list says of it).

One row per target and format: the next publish replaces it. `digest` is the content
digest of the export the bundle was made from, so a publish of the same content can tell
that the bundle it has is still the right one.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, and_, delete, select, true, update

from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.schema import bundles, targets


@dataclass(frozen=True)
class BundleUrl:
    """One place a bundle can be downloaded from."""

    channel: str  # s3 | ipfs
    style: str  # bucket | path | subdomain
    url: str
    content: str  # the IPFS folder's CID, or sha256:<the file's SHA-256>


def record_bundle(engine: Engine, target_id: int, fmt: str, capture_id: str, digest: str, name: str, size: int,
                  sha256: str, urls: list[BundleUrl]) -> None:
    """Record the target's current bundle of format FMT (replacing the one before). Its
    publish time changes only when its bytes or its URLs do."""
    values = {"capture_id": capture_id, "digest": digest, "name": name, "size": int(size), "sha256": sha256,
              "urls": json.dumps([asdict(u) for u in urls], ensure_ascii=False)}
    with engine.begin() as conn:
        row = conn.execute(select(bundles).where(and_(bundles.c.target_id == target_id,
                                                      bundles.c.format == fmt))).first()
        if row is None:
            conn.execute(bundles.insert().values(target_id=target_id, format=fmt, published_at=now_iso(), **values))
            return
        if row.sha256 != sha256 or row.urls != values["urls"]:
            values["published_at"] = now_iso()
        conn.execute(update(bundles).where(bundles.c.id == row.id).values(**values))


def forget_others(engine: Engine, target_id: int, keep: Collection[str]) -> None:
    """Forget the target's bundles of formats not in KEEP (no longer asked for: the list stops
    naming them; the files stay where they were published)."""
    with engine.begin() as conn:
        conn.execute(delete(bundles).where(and_(bundles.c.target_id == target_id,
                                                bundles.c.format.notin_(list(keep)) if keep else true())))


def current(engine: Engine, target_id: int, fmt: str) -> dict[str, Any] | None:
    """The target's bundle of format FMT (with `urls` as a list of dicts), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(bundles).where(and_(bundles.c.target_id == target_id,
                                                      bundles.c.format == fmt))).first()
    return _as_dict(row._mapping) if row else None


def listed(engine: Engine) -> list[dict[str, Any]]:
    """Every bundle of a target not removed that can be had from somewhere, by target name
    (as `target`) and format."""
    query = (select(bundles, targets.c.name.label("target")).join(targets, targets.c.id == bundles.c.target_id)
             .where(targets.c.removed_at.is_(None)))
    with engine.connect() as conn:
        rows = [_as_dict(r._mapping) for r in conn.execute(query)]
    return sorted((r for r in rows if r["urls"]), key=lambda r: (r["target"], r["format"]))


def _as_dict(mapping: Any) -> dict[str, Any]:
    doc = dict(mapping)
    doc["urls"] = json.loads(doc["urls"] or "[]")
    return doc
