"""What each alert condition is now, read from the catalog: one Observation per condition
and subject.

    capture_failed       per target: its newest finished captures failed (streak: how
                         many in a row); ok once a capture completes. Interrupted
                         captures neither break nor lengthen a streak (they are resumed).
    snapshot_incomplete  per database target: its newest snapshot is not complete
    fixity_damage        per target: a copy of one of its files was last found bad or missing
    mirror_down          per mirror (target, channel, style and host, so that a republish
                         under a new IPFS CID is the same mirror) and configured vantage
                         point: the newest check of its current content from there failed
    store_unreachable    per store besides the local one: copies to it failed their last
                         try, and none succeeded since

Contract: observe() only reads (a few grouped queries); it reports subjects that are ok
too, so an evaluation can tell a recovery from a subject that is gone. Thresholds (N in
a row, how long a store must be out) are the alerts' business, not this module's.
Details are one line, credentials redacted.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Engine

from refuge.config.errors import redact_text
from refuge.config.settings import DIRECT, Settings
from refuge.storage import catalog
from refuge.storage.catalog import figures, replicas, snapshots
from refuge.storage.stores.interface import configured_store_names

DETAIL_LIMIT = 500
SHOWN_STREAK = 10  # a streak is counted exactly up to this many (or the alerts' N, if more)


@dataclass(frozen=True)
class Observation:
    event: str
    subject: str
    failing: bool
    detail: str
    streak: int = 0  # capture_failed: failed captures in a row, counting from the newest


def observe(settings: Settings, engine: Engine, events: Collection[str], depth: int = 1) -> list[Observation]:
    """The current observation of every subject of EVENTS; DEPTH: how many captures in a row
    the capture_failed streaks count at most."""
    found: list[Observation] = []
    if "capture_failed" in events:
        found += _captures(engine, depth)
    if "snapshot_incomplete" in events:
        found += _snapshots(engine)
    if "fixity_damage" in events:
        found += _fixity(engine)
    if "mirror_down" in events:
        found += _mirrors(settings, engine)
    if "store_unreachable" in events:
        found += _stores(settings, engine)
    return found


def _line(text: str) -> str:
    return redact_text(" ".join(str(text).split()))[:DETAIL_LIMIT]


def _captures(engine: Engine, depth: int) -> list[Observation]:
    depth = max(depth, SHOWN_STREAK)
    streaks = figures.capture_streaks(engine, depth)
    out = []
    for target in catalog.list_targets(engine):
        recent = streaks.get(target.name, [])
        streak = next((i for i, c in enumerate(recent) if c["status"] != "failed"), len(recent))
        if streak:
            newest = recent[0]
            detail = (f"{streak}{'+' if streak == len(recent) == depth else ''} failed in a row; "
                      f"capture {newest['id']}: {newest['error'] or 'failed'}")
        else:
            detail = f"capture {recent[0]['id']} complete" if recent else "not captured yet"
        out.append(Observation("capture_failed", target.name, streak > 0, _line(detail), streak))
    return out


def _snapshots(engine: Engine) -> list[Observation]:
    databases = [t for t in catalog.list_targets(engine) if t.spec.kind == "database"]
    latest = snapshots.latest_by_target(engine, [t.id for t in databases])
    out = []
    for target in databases:
        snap = latest.get(target.id)
        if snap is None:
            continue
        of = f" of {snap['expected']}" if snap["expected"] is not None else ""
        detail = f"capture {snap['capture_id']}: {snap['records']}{of} records"
        if not snap["complete"]:
            detail += f", {snap['attachments_failed']} attachments failed; missing: {_missing(snap['missing'])}"
        out.append(Observation("snapshot_incomplete", target.name, not snap["complete"], _line(detail)))
    return out


def _missing(raw: str) -> str:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return raw
    if isinstance(value, list):
        return "; ".join(str(v) for v in value[:5]) + (f" (and {len(value) - 5} more)" if len(value) > 5 else "")
    return json.dumps(value, ensure_ascii=False)


def _fixity(engine: Engine) -> list[Observation]:
    by_target = replicas.fixity_by_target(engine)
    out = []
    for target in catalog.list_targets(engine):
        doc = by_target.get(target.id)
        if doc is None:
            continue
        damaged = doc["bad"] + doc["missing"]
        detail = (f"{doc['bad']} bad, {doc['missing']} missing of {doc['ok'] + damaged} copies checked "
                  f"(last check {doc['checked_at']})")
        out.append(Observation("fixity_damage", target.name, damaged > 0, _line(detail)))
    return out


def _mirrors(settings: Settings, engine: Engine) -> list[Observation]:
    vantages = {v.name for v in (settings.vantages or (DIRECT,))}
    by_subject: dict[str, list[dict]] = {}
    for check in figures.current_checks(engine):
        if check["vantage"] in vantages:  # a vantage point no longer configured says nothing now
            by_subject.setdefault(mirror_subject(check), []).append(check)
    out = []
    for subject, checks in by_subject.items():
        down = [c for c in checks if c["status"] != "up"]
        shown = (down or checks)[0]
        detail = f"{shown['url']}, checked {shown['checked_at']}: {shown['detail']}"
        out.append(Observation("mirror_down", subject, bool(down), _line(detail)))
    return out


def mirror_subject(check: dict) -> str:
    """The mirror a check is of, named so that a republish does not make it another: an
    IPFS mirror's URL changes with every new CID, its gateway does not."""
    host = urlsplit(check["url"]).hostname or check["url"]
    if check["style"] == "subdomain" and ".ipfs." in host:
        host = host.split(".ipfs.", 1)[1]  # <cid>.ipfs.dweb.link: the gateway is dweb.link
    return f"{check['target']} {check['channel']} {check['style']} mirror on {host}, from {check['vantage']}"


def _stores(settings: Settings, engine: Engine) -> list[Observation]:
    stores = [s for s in configured_store_names(settings) if s != "local"]
    out = []
    for store, q in figures.replication_queue(engine, stores).items():
        # Failing copies after the last success: the store, not one file, is the trouble.
        failing = q["failing"] > 0 and (q["last_copy"] is None or (q["last_failure"] or "") >= q["last_copy"])
        if failing:
            detail = (f"{q['failing']} of {q['pending']} pending copies failed their last try "
                      f"(at {q['last_failure']}): {q['error']}")
        else:
            detail = f"{q['pending']} copies pending" + (f", last copy {q['last_copy']}" if q["last_copy"] else "")
        out.append(Observation("store_unreachable", store, failing, _line(detail)))
    return out
