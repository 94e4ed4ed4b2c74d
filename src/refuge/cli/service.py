"""`refuge run`: the scheduler, the replay server and the admin server in one process,
until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from sqlalchemy import Engine

from refuge.cli.scheduler import CaptureScheduler
from refuge.config.settings import Settings, bundled_targets_file
from refuge.config.targets import load_targets_file
from refuge.mirror.replay import metrics as replay_metrics
from refuge.mirror.replay.app import THREADS, app_for
from refuge.mirror.replay.server import default_processes, serve
from refuge.storage import catalog
from refuge.storage.warc import sealed

log = logging.getLogger(__name__)


def run_service(settings: Settings) -> None:
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = catalog.connect(settings.catalog_url)
    targets_file = Path(settings.targets_file) if settings.targets_file else bundled_targets_file()
    added = catalog.seed_targets(engine, load_targets_file(targets_file))
    if added:
        log.info("added targets from %s: %s", targets_file, ", ".join(added))
    reaped = catalog.reap_stale_captures(engine, settings.stale_capture_seconds)
    if reaped:
        log.warning("marked interrupted captures left running by a stopped process: %s", ", ".join(reaped))
    sealed.recover(engine, settings.data, settings.archive_dir)
    stop = threading.Event()
    install_stop_signals()
    from refuge.cli.admin.server import admin_in_background  # the console's stack, only for `run`

    admin = admin_in_background(settings, stop)
    try:
        _serve_and_schedule(settings, engine, stop)
    finally:
        stop.set()
        admin.join(30)


def _serve_and_schedule(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    if settings.queue:
        # Distributed mode: this process schedules when it holds the cluster's lead and
        # serves; `refuge worker`s run the jobs it queues.
        from refuge.cli.cluster_scheduler import run_scheduler

        thread = threading.Thread(target=run_scheduler, args=(settings, engine, stop), name="scheduler")
        thread.start()
        try:
            log.info("replay server on http://%s:%s/ (captures run on `refuge worker`s)", settings.host,
                     settings.port)
            serve_replay(settings)
        finally:
            stop.set()
            thread.join()
        return
    scheduler = CaptureScheduler(settings, engine, stop)
    scheduler.start()
    try:
        log.info("replay server on http://%s:%s/", settings.host, settings.port)
        serve_replay(settings)
    finally:
        log.info("stopping: running captures seal what they have written")
        scheduler.shutdown()


def serve_replay(settings: Settings) -> None:
    """The replay server as SETTINGS ask, until stopped."""
    replay_metrics.reset(settings)  # its figures (for /metrics) count from this start, over all its processes
    serve(app_for, (settings,), settings.host, settings.port, settings.serve_processes or default_processes(),
          threads=THREADS, timeout=settings.serve_timeout)


def install_stop_signals() -> None:
    """SIGTERM (docker stop, systemd) stops like Ctrl-C: captures seal their files first."""
    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _stop)
