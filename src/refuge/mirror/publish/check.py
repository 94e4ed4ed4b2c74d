"""`refuge check`: fetch every current mirror URL from every vantage point, compare what
comes back with what was published, keep the results, and update the mirror list.

The fetching itself is :mod:`refuge.mirror.publish.reach`; this module wires it to the catalog.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from refuge.config.settings import DIRECT, Settings
from refuge.mirror.publish.reach import Probe, check
from refuge.storage import catalog
from refuge.storage.catalog import mirrors

log = logging.getLogger(__name__)


def folder_of(url: str) -> str:
    """The mirror's base URL: an S3 mirror's URL names its index.html (plain S3 serves
    no folder index), an IPFS one is the folder itself."""
    return url[: -len("index.html")] if url.endswith("/index.html") else url


def check_mirrors(settings: Settings, engine: Engine, target_name: str | None = None) -> list[dict[str, Any]]:
    """Check the current mirrors (of one target); returns one dict per mirror and vantage."""
    if target_name is not None:
        catalog.get_target(engine, target_name)  # a one-line error for an unknown name
    rows = mirrors.active(engine, target_name)
    by_id = {r["id"]: r for r in rows}
    probes = [Probe(r["id"], folder_of(r["url"]), r["expected"]) for r in rows]
    # Every path publish chose (index.html, the seed page, a few more) is fetched.
    sample = max((len(p.expected) for p in probes), default=1) - 1
    results = check(probes, settings.vantages or (DIRECT,), timeout=settings.check_timeout,
                    sample=max(sample, 0)) if probes else []
    mirrors.record_checks(engine, results, {r["id"]: r["digest"] for r in rows})
    if results:
        from refuge.mirror.publish.publisher import update_list

        update_list(settings, engine)
    out = []
    for r in results:
        m = by_id[r.mirror_id]
        out.append({"target": m["target"], "channel": m["channel"], "style": m["style"], "url": m["url"],
                    "vantage": r.vantage, "status": r.status, "detail": r.detail,
                    "seconds": round(r.seconds, 3), "checked_at": r.checked_at})
    out.sort(key=lambda d: (mirrors.STATUS_ORDER[d["status"]], d["target"], d["url"], d["vantage"]))
    return out
