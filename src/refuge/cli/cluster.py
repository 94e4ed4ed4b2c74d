"""Who is working in a Refuge cluster and what waits (`refuge cluster`), and the check that
keeps one Refuge version across its workers.

Read from the catalog's PostgreSQL: procrastinate's workers and jobs, and Refuge's own
`refuge_workers` rows (host, pid, version), one per running `refuge worker`.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import Engine, text

from refuge import __version__
from refuge.cli.output import EXIT_OK, print_json
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.storage import catalog

_WORKERS = """
SELECT w.id AS worker, r.host, r.pid, r.version, r.queue, r.concurrency, r.started, w.last_heartbeat,
       extract(epoch FROM now() - w.last_heartbeat) AS silent
FROM procrastinate_workers w LEFT JOIN refuge_workers r ON r.worker_id = w.id
ORDER BY w.id"""

_RUNNING = """
SELECT id, worker_id, task_name, args, attempts FROM procrastinate_jobs
WHERE status = 'doing' ORDER BY id"""

_DEPTH = """
SELECT task_name, status, count(*) AS n FROM procrastinate_jobs
WHERE status IN ('todo', 'doing') GROUP BY task_name, status"""

_FAILED = """
SELECT j.id, j.task_name, j.args, j.attempts, max(e.at) AS at
FROM procrastinate_jobs j LEFT JOIN procrastinate_events e ON e.job_id = j.id
WHERE j.status = 'failed' GROUP BY j.id ORDER BY j.id DESC LIMIT :limit"""


def introduce(engine: Engine, worker_id: int, queue: str, concurrency: int) -> None:
    """Record who procrastinate's worker WORKER_ID is: this host, pid and Refuge version,
    and the queue it takes jobs from (a `refuge worker` runs one for captures, one for upkeep)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO refuge_workers (worker_id, host, pid, version, queue, concurrency) "
                          "VALUES (:id, :host, :pid, :version, :queue, :n) ON CONFLICT (worker_id) DO NOTHING"),
                     {"id": worker_id, "host": socket.gethostname(), "pid": os.getpid(), "version": __version__,
                      "queue": queue, "n": concurrency})


def check_version(engine: Engine, stale_seconds: float) -> None:
    """Refuse to start a worker beside live workers of another Refuge version: they would
    read each other's jobs and the catalog's tables differently."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT r.host, r.pid, r.version FROM refuge_workers r JOIN procrastinate_workers w "
            "ON w.id = r.worker_id WHERE r.version <> :mine AND w.last_heartbeat > now() - make_interval(secs => :s)"),
            {"mine": __version__, "s": stale_seconds}).all()
    if rows:
        host, pid, version = rows[0]
        raise BadInput(f"refuge worker: a worker of Refuge {version} runs on {host} (pid {pid}) and this is "
                       f"Refuge {__version__}: run one version across the cluster (stop the old workers, "
                       f"upgrade, start again)")


def status(engine: Engine, stale_seconds: float, failed_limit: int = 20) -> dict[str, Any]:
    """Workers (with their running jobs), queue depth per job kind, stalled and failed jobs."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            return {"workers": [], "queued": {}, "running": {}, "stalled": [], "failed": []}
        workers = [dict(r._mapping) for r in conn.execute(text(_WORKERS))]
        running = [dict(r._mapping) for r in conn.execute(text(_RUNNING))]
        depth = conn.execute(text(_DEPTH)).all()
        failed = [dict(r._mapping) for r in conn.execute(text(_FAILED), {"limit": failed_limit})]
    live = {w["worker"] for w in workers if w["silent"] is not None and w["silent"] <= stale_seconds}
    for w in workers:
        w["stalled"] = w["worker"] not in live
        w["jobs"] = [_job(j) for j in running if j["worker_id"] == w["worker"]]
        for key in ("started", "last_heartbeat"):
            w[key] = catalog.iso(w[key]) if w[key] is not None else None
        w["silent"] = round(float(w["silent"]), 1) if w["silent"] is not None else None
    return {
        "workers": workers,
        "queued": {_kind(task): n for task, state, n in depth if state == "todo"},
        "running": {_kind(task): n for task, state, n in depth if state == "doing"},
        # Running on a silent worker, or on none (its worker pruned): the next takeover pass
        # puts them back in the queue.
        "stalled": [_job(j) for j in running if j["worker_id"] not in live],
        "failed": [{**_job(j), "at": catalog.iso(j["at"]) if j["at"] else None} for j in failed],
    }


def _kind(task_name: str) -> str:
    return task_name.split(":", 1)[-1]


def _job(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "kind": _kind(row["task_name"]), "target": (row["args"] or {}).get("target"),
            "attempts": row["attempts"]}


def print_status(settings: Settings, as_json: bool) -> int:
    """`refuge cluster`: the status as a table, or as JSON."""
    engine = catalog.connect(settings.catalog_url)
    doc = status(engine, settings.stale_capture_seconds)
    if as_json:
        print_json(doc)
        return EXIT_OK
    print(f"{len(doc['workers'])} worker(s)")
    for w in doc["workers"]:
        jobs = ", ".join(f"{j['kind']} {j['target'] or ''} (job {j['id']})".replace("  ", " ")
                         for j in w["jobs"]) or "idle"
        who = f"{w['host']} pid {w['pid']} Refuge {w['version']} {w['queue']} x{w['concurrency']}" if w["host"] \
            else "(not a refuge worker)"
        state = "STALLED" if w["stalled"] else "ok"
        print(f"  {w['worker']:>5}  {state:<7}  {who}  started {w['started']}  "
              f"heartbeat {w['silent']} s ago  {jobs}")
    kinds = sorted(set(doc["queued"]) | set(doc["running"]))
    print("queue: " + (", ".join(f"{k} {doc['queued'].get(k, 0)} waiting, {doc['running'].get(k, 0)} running"
                                 for k in kinds) or "empty"))
    if doc["stalled"]:
        print("stalled: " + ", ".join(f"job {j['id']} ({j['kind']} {j['target'] or ''})".replace(" )", ")")
                                      for j in doc["stalled"]))
    if doc["failed"]:
        print(f"failed (newest {len(doc['failed'])}):")
        for j in doc["failed"]:
            print(f"  job {j['id']}  {j['kind']} {j['target'] or ''}  {j['attempts']} attempt(s)  {j['at']}")
    return EXIT_OK
