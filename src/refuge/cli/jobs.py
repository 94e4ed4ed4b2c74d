"""Captures as jobs on the PostgreSQL catalog, for Refuge on many machines.

With `queue = "postgres"` (and a PostgreSQL `database_url`), `refuge capture NAME`
enqueues a capture job and `refuge worker` processes, on any number of machines, run
them; without it everything runs in the calling process, as it always has. The queue is
procrastinate's, in the catalog's own database: no server to add, jobs committed in the
same place as what they produce.

Contract:
- at most one capture of a target waits in the queue (a queueing lock) and at most one
  runs, across all workers (a lock per target): enqueueing it again while one waits
  returns the waiting job;
- a worker heartbeats every stale_capture_seconds / 4; one silent for stale_capture_seconds
  (killed, its machine gone) has its jobs put back in the queue by any other worker,
  which resumes the capture from what it checkpointed in S3 (archiver/checkpoint.py);
- a worker asked to stop (SIGTERM, Ctrl-C) stops its captures as `refuge capture` does
  (they seal what they wrote) and puts each back in the queue for the next worker;
- beside its capture slots a worker has one for upkeep: publishing (queued by each
  complete capture), replication, fixity audits and mirror checks (queued by the
  scheduler), one waiting of each kind (per target, for publishing). An upkeep job
  under way finishes before the worker stops (a second signal stops it at once; the
  job is then taken over like a dead worker's).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Status
from procrastinate.worker import Worker
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from refuge.cli import cluster
from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import AlreadyRunning

log = logging.getLogger(__name__)

QUEUE = "captures"
UPKEEP = "upkeep"  # replicate, fixity, check: beside captures, one of each kind at a time
UPKEEP_TASKS = ("replicate", "audit", "check")
FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.ABORTED})
_SCHEMA_LOCK = 7_203_418_911  # advisory lock keys: one process installs the queue's tables,
_TAKEOVER_LOCK = 7_203_418_912  # and one puts back the jobs of silent workers
MAX_TAKEOVERS = 5

blueprint = procrastinate.Blueprint()


def conninfo(settings: Settings) -> str:
    """The catalog's PostgreSQL URL as libpq takes it (the settings' validation made sure
    the catalog is PostgreSQL). It holds the password: never log it."""
    return make_url(settings.catalog_url).set(drivername="postgresql").render_as_string(hide_password=False)


def queue_app(settings: Settings) -> procrastinate.App:
    """The procrastinate app on the catalog's PostgreSQL (not yet open)."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings), min_size=1,
                                                                     max_size=4))
    app.add_tasks_from(blueprint, namespace="refuge")
    return app


# Who each of procrastinate's workers is, for `refuge cluster` and the version check; a
# row goes with its procrastinate worker (unregistered, or pruned as stalled).
_WORKERS_TABLE = """
CREATE TABLE IF NOT EXISTS refuge_workers (
    worker_id bigint PRIMARY KEY REFERENCES procrastinate_workers(id) ON DELETE CASCADE,
    host text NOT NULL,
    pid integer NOT NULL,
    version text NOT NULL,
    queue text NOT NULL,
    concurrency integer NOT NULL,
    started timestamp with time zone NOT NULL DEFAULT NOW()
)"""


def ensure_queue_schema(engine: Engine, app: procrastinate.App) -> None:
    """procrastinate's tables (and Refuge's list of workers) in the catalog database,
    installed once by whoever comes first."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            # Straight to psycopg: without parameters it reads the schema's % signs as they are.
            conn.connection.driver_connection.execute(app.schema_manager.get_schema())
        conn.execute(text(_WORKERS_TABLE))


def _lock(name: str) -> str:
    return f"capture:{name}"


# A job taken over from a worker on another machine may find the capture it ran still
# 'running' until that capture's heartbeat goes stale too: it waits and tries again.
_NOT_YET_DEAD = procrastinate.RetryStrategy(max_attempts=8, wait=30, retry_exceptions={AlreadyRunning})


@blueprint.task(name="capture", queue=QUEUE, pass_context=True, retry=_NOT_YET_DEAD)
def capture_job(context: procrastinate.JobContext, target: str, fresh: bool = False) -> None:
    """Capture TARGET on this worker (resuming its interrupted capture unless FRESH) and
    push it, then queue its publishing as the settings say (a job of its own, on any
    worker: it reads the capture from S3)."""
    from refuge.cli.pipeline import capture_and_follow, publishing

    settings: Settings = context.additional_context["settings"]
    stop: threading.Event = context.additional_context["stop"]
    engine = catalog.connect(settings.catalog_url, create=False)
    try:
        summary = capture_and_follow(settings.replace(publish_after_capture=False), engine, target, stop=stop,
                                     fresh=fresh).summary
    finally:
        engine.dispose()
    log.info("capture %s of %s: %s", summary["id"], target, summary["status"])
    if summary["status"] == "complete" and publishing(settings) and settings.publish_after_capture:
        enqueue_publish(context.app, target)  # None: one waits already; it publishes the newest, this one

    if stop.is_set() and summary["status"] == "interrupted":
        try:  # this worker is stopping: the next one resumes it
            enqueue_capture(context.app, target)
        except Exception as exc:  # noqa: BLE001 - the scheduler or an admin queues it again
            log.error("capture of %s: interrupted and not queued again (%s)", target, exc)


def _upkeep(context: procrastinate.JobContext, kind: str) -> None:
    from refuge.cli.local_actions import LocalActions

    settings: Settings = context.additional_context["settings"]
    engine = catalog.connect(settings.catalog_url, create=False)
    try:
        getattr(LocalActions(settings, engine, context.additional_context["stop"]), kind)()
    finally:
        engine.dispose()


@blueprint.task(name="publish", queue=UPKEEP, pass_context=True,
                retry=procrastinate.RetryStrategy(max_attempts=3, wait=60))
def publish_job(context: procrastinate.JobContext, target: str) -> None:
    """Publish TARGET's newest complete capture to every channel (`refuge publish`); a
    channel that fails fails the job, which is tried again, then shows in `refuge cluster`."""
    from refuge.cli.local_actions import log_publish
    from refuge.mirror.publish.publisher import publish

    settings: Settings = context.additional_context["settings"]
    engine = catalog.connect(settings.catalog_url, create=False)
    try:
        report = publish(settings, engine, target)
    finally:
        engine.dispose()
    log_publish(target, report)
    if not report.ok:
        raise Failure(f"publish {target}: " + "; ".join(f"{c.channel}: {c.error}" for c in report.channels if c.error))


@blueprint.task(name="replicate", queue=UPKEEP, pass_context=True)
def replicate_job(context: procrastinate.JobContext) -> None:
    """Copy what is due to every store (`refuge push`)."""
    _upkeep(context, "replicate")


@blueprint.task(name="audit", queue=UPKEEP, pass_context=True)
def audit_job(context: procrastinate.JobContext) -> None:
    """Re-read every copy in every store (`refuge verify --all`)."""
    _upkeep(context, "audit")


@blueprint.task(name="check", queue=UPKEEP, pass_context=True)
def check_job(context: procrastinate.JobContext) -> None:
    """Fetch every mirror URL from every vantage point (`refuge check`)."""
    _upkeep(context, "check")


def enqueue_upkeep(app: procrastinate.App, kind: str) -> int | None:
    """Queue an upkeep job of KIND (one of UPKEEP_TASKS): its id, or None when one of that
    kind waits already (it will do the same work). APP is open."""
    try:
        return app.tasks[f"refuge:{kind}"].configure(lock=kind, queueing_lock=kind).defer()
    except AlreadyEnqueued:
        return None


def enqueue_publish(app: procrastinate.App, target: str) -> int | None:
    """Queue the publishing of TARGET's newest capture: the job's id, or None when one waits
    already (it will publish the same). APP is open."""
    try:
        task = app.tasks["refuge:publish"]
        return task.configure(lock=f"publish:{target}", queueing_lock=f"publish:{target}").defer(target=target)
    except AlreadyEnqueued:
        return None


def enqueue_capture(app: procrastinate.App, name: str, fresh: bool = False) -> int:
    """The id of the capture job of target NAME waiting in the queue: a new one, or the
    one already waiting. APP is open."""
    task = app.tasks["refuge:capture"]
    for _ in range(3):  # the waiting one may start between the two questions
        try:
            return task.configure(lock=_lock(name), queueing_lock=_lock(name)).defer(target=name, fresh=fresh)
        except AlreadyEnqueued:
            waiting = app.job_manager.list_jobs(queueing_lock=_lock(name), status="todo")
            if waiting:
                return waiting[0].id
    raise Failure(f"capture of {name}: the queue kept changing; try again")


def active_job(app: procrastinate.App, name: str) -> int | None:
    """The capture job of target NAME waiting or running now, if any. APP is open."""
    for status in ("doing", "todo"):
        found = app.job_manager.list_jobs(lock=_lock(name), status=status)
        if found:
            return found[0].id
    return None


def wait_for(app: procrastinate.App, job_id: int, poll: float = 1.0) -> Status:
    """Follow job JOB_ID to its end; its final status. APP is open."""
    while (status := app.job_manager.get_job_status(job_id)) not in FINISHED:
        time.sleep(poll)
    return status


def run_worker(settings: Settings, engine: Engine, concurrency: int) -> None:
    """Run queued jobs (CONCURRENCY captures at a time, and upkeep beside them) until
    SIGTERM or Ctrl-C; meanwhile put back in the queue the jobs of workers that went silent."""
    app = queue_app(settings)
    ensure_queue_schema(engine, app)
    cluster.check_version(engine, settings.stale_capture_seconds)
    asyncio.run(_work(app, engine, settings, concurrency))


async def _work(app: procrastinate.App, engine: Engine, settings: Settings, concurrency: int) -> None:
    stop = threading.Event()
    beat = settings.heartbeat_seconds  # at least 1 s: stale_capture_seconds is at least 4
    async with app.open_async():
        def worker(queue: str, n: int) -> Worker:
            return Worker(app, queues=[queue], concurrency=n, install_signal_handlers=False,
                          additional_context={"settings": settings, "stop": stop},
                          update_heartbeat_interval=beat, stalled_worker_timeout=settings.stale_capture_seconds)

        # Upkeep (replication, fixity audits, mirror checks; an audit of a large archive
        # runs for hours) has a slot of its own: it never holds up a capture.
        workers = {QUEUE: worker(QUEUE, concurrency), UPKEEP: worker(UPKEEP, 1)}
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(_take_over(app, engine, settings, beat))]
        tasks += [asyncio.create_task(_introduce(w, engine, queue, w.concurrency)) for queue, w in workers.items()]

        def stopping(*_: Any) -> None:
            log.info("stopping: running captures seal what they wrote and go back to the queue")
            stop.set()
            for task in tasks:
                task.cancel()
            for w in workers.values():
                w.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):  # a second one stops at once
                loop.remove_signal_handler(sig)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping)
        try:
            await asyncio.gather(*(w.run() for w in workers.values()))
        finally:
            for task in tasks:
                task.cancel()


async def _introduce(worker: Worker, engine: Engine, queue: str, concurrency: int) -> None:
    """Say who this worker is (`refuge cluster`) once procrastinate has registered it."""
    while worker.worker_id is None:
        await asyncio.sleep(0.1)
    try:
        await asyncio.to_thread(cluster.introduce, engine, worker.worker_id, queue, concurrency)
    except Exception:  # noqa: BLE001 - the worker works anyway; only `refuge cluster` lacks its name
        log.exception("could not record this worker for `refuge cluster`")


async def _take_over(app: procrastinate.App, engine: Engine, settings: Settings, every: float) -> None:
    """Put back in the queue the running jobs of workers silent for stale_capture_seconds."""
    while True:
        await asyncio.sleep(every)
        try:
            await _take_over_once(app, engine, settings)
        except Exception:  # noqa: BLE001 - the next pass tries again
            log.exception("taking over the jobs of silent workers failed")


async def _take_over_once(app: procrastinate.App, engine: Engine, settings: Settings) -> None:
    conn = await asyncio.to_thread(engine.connect)
    try:
        # One worker at a time, so two never put back the same job (the second would put
        # back the run that the first one's retry had already started).
        held = await asyncio.to_thread(lambda: conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                                            {"key": _TAKEOVER_LOCK}).scalar())
        if not held:
            return
        manager = app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=settings.stale_capture_seconds):
            waiting = job.queueing_lock and await manager.list_jobs_async(queueing_lock=job.queueing_lock,
                                                                          status="todo")
            if job.attempts >= MAX_TAKEOVERS or waiting:
                # Given up on (it keeps killing its workers), or the target's next capture
                # waits already and will resume this one.
                await manager.finish_job(job, Status.FAILED, delete_job=False)
                log.warning("job %s (%s) of a silent worker ended: %s", job.id, job.task_kwargs,
                            "taken over too often" if not waiting else "the next capture of its target waits")
            else:
                await manager.retry_job(job)
                log.warning("job %s (%s) of a silent worker is back in the queue", job.id, job.task_kwargs)
    finally:
        await asyncio.to_thread(_unlock_and_close, conn)


def _unlock_and_close(conn: Any) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock_all()"))
    finally:
        conn.close()
