"""`refuge scheduler`: the one active scheduler of a cluster, chosen by a PostgreSQL
advisory lock. It puts jobs in the queue when they are due; `refuge worker`s run them.

Contract:
- any number of schedulers may run (on as many machines); the one holding the lock
  schedules, the others stand by and try for it every heartbeat_seconds. The lock lives
  as long as its holder's connection: a scheduler that dies (or whose machine does) loses
  it when PostgreSQL sees the connection go, at once for a dead process, within
  stale_capture_seconds for a machine gone silent (keepalives and a TCP user timeout on
  both ends, the server's from PostgreSQL 12); a standby then takes over;
- the active scheduler asks its connection every heartbeat_seconds whether it is still
  there; a check on a connection gone silent fails within half of stale_capture_seconds
  (the TCP user timeout), so it stops scheduling by the time the server lets the lock go,
  and stands by again;
- a capture falls due: queued, unless a capture of that target waits or runs already
  (then this run is skipped, as on one machine); replicate, fixity and check runs are
  queued unless one of the same kind waits. So with two schedulers started, each
  scheduled capture is queued once.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import procrastinate
import psycopg
from sqlalchemy import Engine

from refuge.cli import jobs
from refuge.cli.scheduler import CaptureScheduler
from refuge.config.errors import first_line, redact_text
from refuge.config.settings import Settings

log = logging.getLogger(__name__)

_LEAD_LOCK = 7_203_418_913  # the advisory lock key the active scheduler holds


class QueuedActions:
    """The scheduler's jobs, put in the queue for workers; failures are logged, never raised."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    def capture(self, name: str) -> None:
        try:
            running = jobs.active_job(self.app, name)
            if running is not None:
                log.info("capture of %s: job %d waits or runs already; skipping this run", name, running)
                return
            log.info("queued capture of %s: job %d", name, jobs.enqueue_capture(self.app, name))
        except Exception:  # noqa: BLE001 - the next run tries again
            log.exception("could not queue the capture of %s", name)

    def replicate(self) -> None:
        self._upkeep("replicate")

    def audit(self) -> None:
        self._upkeep("audit")

    def check(self) -> None:
        self._upkeep("check")

    def _upkeep(self, kind: str) -> None:
        try:
            job = jobs.enqueue_upkeep(self.app, kind)
        except Exception:  # noqa: BLE001 - the next run tries again
            log.exception("could not queue a %s job", kind)
            return
        log.info("queued %s: job %d", kind, job) if job is not None else \
            log.info("%s: a job waits already; not queued again", kind)


def run_scheduler(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    """Schedule for the cluster while this process holds the lead, stand by otherwise,
    until STOP is set."""
    app = jobs.queue_app(settings)
    jobs.ensure_queue_schema(engine, app)
    every = settings.heartbeat_seconds
    with app.open():
        actions = QueuedActions(app)
        announced = False
        while not stop.is_set():
            lead = _try_lead(settings)
            if lead is None:
                if not announced:
                    log.info("another scheduler is active; standing by")
                    announced = True
                stop.wait(every)
                continue
            announced = False
            try:
                _schedule_while_leading(settings, engine, actions, lead, stop)
            finally:
                lead.close()


def _schedule_while_leading(settings: Settings, engine: Engine, actions: QueuedActions,
                            lead: psycopg.Connection, stop: threading.Event) -> None:
    term = threading.Event()
    scheduler = CaptureScheduler(settings, engine, term, actions)
    log.info("this scheduler is the active one")
    scheduler.start()
    try:
        while not stop.wait(settings.heartbeat_seconds):
            if not _still_leading(lead):
                log.error("lost the connection that holds the scheduler's lock; standing by")
                return
    finally:
        scheduler.shutdown()


def _try_lead(settings: Settings) -> psycopg.Connection | None:
    """A connection holding the lead, or None (another holds it, or PostgreSQL is out of reach)."""
    # Both ends give up on a silent peer: the server releases the lock of a machine gone
    # away, and this end's check returns rather than hang on a dead connection.
    quiet = max(1, int(settings.stale_capture_seconds / 4))
    try:
        conn = psycopg.connect(jobs.conninfo(settings), autocommit=True, connect_timeout=10, keepalives=1,
                               keepalives_idle=quiet, keepalives_interval=quiet, keepalives_count=3,
                               tcp_user_timeout=int(settings.stale_capture_seconds * 1000 / 2))
    except psycopg.Error as exc:
        log.warning("scheduler: cannot reach PostgreSQL (%s); trying again", redact_text(first_line(exc)))
        return None
    try:
        conn.execute(f"SET tcp_keepalives_idle = {quiet}; SET tcp_keepalives_interval = {quiet}; "
                     "SET tcp_keepalives_count = 3")
        try:  # PostgreSQL 12 and later: data it sent that goes unacknowledged drops the session too
            conn.execute(f"SET tcp_user_timeout = {int(settings.stale_capture_seconds * 1000 / 2)}")
        except psycopg.Error:
            pass
        held = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LEAD_LOCK,)).fetchone()
        if held and held[0]:
            return conn
    except psycopg.Error as exc:
        log.warning("scheduler: could not ask for the lead (%s); trying again", redact_text(first_line(exc)))
    conn.close()
    return None


def _still_leading(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def cmd_scheduler_loop(settings: Settings, engine: Engine) -> None:
    """`refuge scheduler` until SIGTERM or Ctrl-C."""
    stop = threading.Event()

    def stopping(*_: Any) -> None:
        log.info("stopping the scheduler")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stopping)
    run_scheduler(settings, engine, stop)
