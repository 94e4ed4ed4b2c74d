"""Jobs on each target's schedule (APScheduler), kept in step with the catalog.

The catalog is the truth: targets added, changed or removed by any process (the CLI
while `refuge run` is up, say) are picked up by a sync every `sync_seconds`. The
scheduler itself keeps no state worth saving: on restart, an interval target that is
overdue runs at once, else when its interval since the last capture is up.

The scheduler decides *when*; its actions decide *how*: `LocalActions` run each job in
this process (one machine), `QueuedActions` put it in the queue for a worker (many).
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from refuge.cli.alerts import alerting, evaluate_logged
from refuge.cli.local_actions import LocalActions
from refuge.cli.pipeline import publishing, replicating
from refuge.config.settings import Settings
from refuge.config.targets import parse_duration
from refuge.storage import catalog

log = logging.getLogger(__name__)
SYNC_JOB = "sync-targets"
REPLICATE_JOB = "replicate"
FIXITY_JOB = "fixity-audit"
CHECK_JOB = "check-mirrors"
ALERT_JOB = "alerts"


class Actions(Protocol):
    """What the scheduler's jobs do. Each call logs what happened and raises nothing: the
    scheduler must outlive a failed run."""

    def capture(self, name: str) -> None: ...

    def replicate(self) -> None: ...

    def audit(self) -> None: ...

    def check(self) -> None: ...


class CaptureScheduler:
    def __init__(self, settings: Settings, engine: Engine, stop: threading.Event,
                 actions: Actions | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.stop = stop
        # On one machine the work runs here, so alerts are evaluated right after it too; queued
        # work (a cluster) finishes on a worker: the interval job below serves it.
        self.actions: Actions = actions if actions is not None else alerting(LocalActions(settings, engine, stop),
                                                                             settings, engine)
        self._signatures: dict[str, tuple] = {}
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            # Replication and fixity audits run beside captures, never in a capture's slot.
            executors={"default": ThreadPoolExecutor(settings.max_concurrent_captures),
                       "upkeep": ThreadPoolExecutor(2), "alerts": ThreadPoolExecutor(1)},
            # One capture of a target at a time; runs missed while busy or down collapse into one.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self) -> None:
        self.sync()
        self.scheduler.add_job(self.sync, IntervalTrigger(seconds=self.settings.sync_seconds), id=SYNC_JOB)
        if replicating(self.settings):
            self.scheduler.add_job(self.actions.replicate, IntervalTrigger(seconds=self.settings.replicate_seconds),
                                   id=REPLICATE_JOB, executor="upkeep", next_run_time=datetime.now(timezone.utc))
        self.scheduler.add_job(self.actions.audit, IntervalTrigger(seconds=parse_duration(self.settings.fixity_every)),
                               id=FIXITY_JOB, executor="upkeep")
        if publishing(self.settings):
            self.scheduler.add_job(self.actions.check, IntervalTrigger(seconds=parse_duration(self.settings.check_every)),
                                   id=CHECK_JOB, executor="upkeep")
        if self.settings.alerts:
            self.scheduler.add_job(evaluate_logged, IntervalTrigger(seconds=self.settings.alert_seconds),
                                   args=[self.settings, self.engine], id=ALERT_JOB, executor="alerts",
                                   next_run_time=datetime.now(timezone.utc))
        self.scheduler.start()

    def shutdown(self) -> None:
        self.stop.set()
        self.scheduler.shutdown(wait=True)

    def sync(self) -> None:
        """Add, reschedule and remove capture jobs to match the catalog's targets."""
        try:
            targets = catalog.list_targets(self.engine)
            latest = catalog.latest_captures(self.engine)
        except Exception:  # noqa: BLE001 - a database hiccup must not kill the scheduler
            log.exception("could not read targets; keeping the current schedule")
            return
        wanted = {t.name: t for t in targets}
        for name in list(self._signatures):
            if name not in wanted:
                self.scheduler.remove_job(_job_id(name))
                del self._signatures[name]
                log.info("unscheduled removed target %s", name)
        for name, target in wanted.items():
            spec = target.spec
            signature = (spec.every_seconds, spec.cron)
            if self._signatures.get(name) == signature:
                continue
            if spec.cron:
                trigger = CronTrigger.from_crontab(spec.cron, timezone=timezone.utc)
                next_run = None
            elif spec.every_seconds:
                trigger = IntervalTrigger(seconds=spec.every_seconds)
                next_run = self._first_run(spec.every_seconds, latest.get(target.id))
            else:
                continue
            if catalog.resumable_capture(self.engine, target, parse_duration(self.settings.resume_within)):
                next_run = self._soon()  # an interrupted capture goes on now, not at the next slot
            kwargs = {"next_run_time": next_run} if next_run else {}
            self.scheduler.add_job(self.actions.capture, trigger, args=[name], id=_job_id(name), name=f"capture {name}",
                                   replace_existing=True, **kwargs)
            self._signatures[name] = signature
            log.info("scheduled %s: %s", name, spec.schedule)

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id.split(":", 1)[1]: job.next_run_time for job in self.scheduler.get_jobs()
                if job.id.startswith("capture:")}

    def _first_run(self, every: int, last: dict | None) -> datetime:
        if last is None:
            return self._soon()
        return max(_started(last) + timedelta(seconds=every), self._soon())

    def _soon(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=random.uniform(0, self.settings.startup_spread))


def _started(capture: dict) -> datetime:
    return datetime.strptime(capture["started"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _job_id(name: str) -> str:
    return f"capture:{name}"


