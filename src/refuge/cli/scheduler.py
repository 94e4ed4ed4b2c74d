"""Capture jobs on each target's schedule (APScheduler), kept in step with the catalog.

The catalog is the truth: targets added, changed or removed by any process (the CLI
while `refuge run` is up, say) are picked up by a sync every `sync_seconds`. The
scheduler itself keeps no state worth saving: on restart, an interval target that is
overdue runs at once, else when its interval since the last capture is up.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from refuge.cli.pipeline import capture_and_follow, publishing, replicating
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.config.targets import parse_duration
from refuge.storage import catalog, fixity
from refuge.storage.replicate import PushReport, push

if TYPE_CHECKING:  # the publish stack is loaded only when a capture is published
    from refuge.mirror.publish.publisher import PublishReport

log = logging.getLogger(__name__)
SYNC_JOB = "sync-targets"
REPLICATE_JOB = "replicate"
FIXITY_JOB = "fixity-audit"
CHECK_JOB = "check-mirrors"


class CaptureScheduler:
    def __init__(self, settings: Settings, engine: Engine, stop: threading.Event) -> None:
        self.settings = settings
        self.engine = engine
        self.stop = stop
        self._signatures: dict[str, tuple] = {}
        self._push_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            # Replication and fixity audits run beside captures, never in a capture's slot.
            executors={"default": ThreadPoolExecutor(settings.max_concurrent_captures),
                       "upkeep": ThreadPoolExecutor(2)},
            # One capture of a target at a time; runs missed while busy or down collapse into one.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self) -> None:
        self.sync()
        self.scheduler.add_job(self.sync, IntervalTrigger(seconds=self.settings.sync_seconds), id=SYNC_JOB)
        if replicating(self.settings):
            self.scheduler.add_job(self.replicate, IntervalTrigger(seconds=self.settings.replicate_seconds),
                                   id=REPLICATE_JOB, executor="upkeep", next_run_time=datetime.now(timezone.utc))
        self.scheduler.add_job(self.audit, IntervalTrigger(seconds=parse_duration(self.settings.fixity_every)),
                               id=FIXITY_JOB, executor="upkeep")
        if publishing(self.settings):
            self.scheduler.add_job(self.check, IntervalTrigger(seconds=parse_duration(self.settings.check_every)),
                                   id=CHECK_JOB, executor="upkeep")
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
            self.scheduler.add_job(self.capture, trigger, args=[name], id=_job_id(name), name=f"capture {name}",
                                   replace_existing=True, **kwargs)
            self._signatures[name] = signature
            log.info("scheduled %s: %s", name, spec.schedule)

    def replicate(self) -> None:
        """Copy what is due to every store; a store that is down waits out its backoff."""
        if self.stop.is_set():
            return
        try:
            # One push at a time: the tick and a just-finished capture would race for the same files.
            with self._push_lock:
                report = push(self.settings, self.engine, None, ignore_backoff=False)
        except Exception:  # noqa: BLE001 - the catalog keeps the queue; the next tick retries
            log.exception("replication failed")
            return
        _log_push(report)

    def audit(self) -> None:
        """Re-read every copy in every store and record what was found (`refuge verify --all`)."""
        if self.stop.is_set():
            return
        try:
            checks = fixity.verify(self.settings, self.engine)
        except Exception:  # noqa: BLE001 - recorded per copy; the next audit runs anyway
            log.exception("fixity audit failed")
            return
        bad = [c for c in checks if c.result != "ok"]
        if bad:
            log.warning("fixity audit: %d of %d copies not ok (first: %s %s/%s: %s); "
                        "`refuge verify --all --repair` heals them from intact copies",
                        len(bad), len(checks), bad[0].store, bad[0].capture, bad[0].file, bad[0].reason)
        else:
            log.info("fixity audit: all %d copies ok", len(checks))

    def check(self) -> None:
        """Fetch every mirror URL from every vantage point (`refuge check`)."""
        if self.stop.is_set():
            return
        from refuge.mirror.publish.check import check_mirrors

        try:
            results = check_mirrors(self.settings, self.engine)
        except Exception:  # noqa: BLE001 - the next round runs anyway
            log.exception("mirror check failed")
            return
        down = [r for r in results if r["status"] != "up"]
        for r in down:
            log.warning("mirror down from %s: %s (%s)", r["vantage"], r["url"], r["detail"])
        log.info("mirror check: %d up, %d down", len(results) - len(down), len(down))

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id.split(":", 1)[1]: job.next_run_time for job in self.scheduler.get_jobs()
                if job.id.startswith("capture:")}

    def _first_run(self, every: int, last: dict | None) -> datetime:
        if last is None:
            return self._soon()
        return max(_started(last) + timedelta(seconds=every), self._soon())

    def _soon(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=random.uniform(0, self.settings.startup_spread))

    def capture(self, name: str) -> None:
        """Capture NAME now and do what follows it (the pipeline), logging each step; a
        failure is logged and the next run tries again."""
        if self.stop.is_set():
            return
        log.info("capture of %s starting", name)
        try:
            outcome = capture_and_follow(self.settings, self.engine, name, stop=self.stop,
                                         push_lock=self._push_lock, isolate=True)
        except catalog.AlreadyRunning as exc:
            log.warning("%s; skipping this run", exc)
            return
        except BadInput as exc:  # removed between the sync and now
            log.warning("capture of %s skipped: %s", name, exc)
            return
        except Exception:  # noqa: BLE001 - recorded as failed by run_capture; retried next run
            log.exception("capture of %s failed", name)
            return
        if outcome.push_error is not None:  # the catalog keeps the queue; the next tick retries
            log.error("replication failed", exc_info=outcome.push_error)
        elif outcome.pushed is not None:
            _log_push(outcome.pushed)
        if outcome.publish_error is not None:  # the capture is safe; the next capture publishes again
            log.error("publishing %s failed", name, exc_info=outcome.publish_error)
        elif outcome.published is not None:
            _log_publish(name, outcome.published)
        summary = outcome.summary
        log.info("capture %s of %s %s: %s pages, %s requisites, %s failed, %s bytes in %.1fs%s",
                 summary["id"], name, summary["status"], summary["pages"], summary["requisites"],
                 summary["failed"], summary["bytes"], summary["seconds"],
                 f" ({summary['error']})" if summary.get("error") else "")


def _started(capture: dict) -> datetime:
    return datetime.strptime(capture["started"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _job_id(name: str) -> str:
    return f"capture:{name}"


def _log_push(report: PushReport) -> None:
    if report.uploaded or report.failed or report.store_errors:
        log.info("replication: %d uploaded, %d already there, %d failed, %d pending%s",
                 len(report.uploaded), len(report.already_there), len(report.failed), report.pending,
                 "".join(f"; {name}: {err}" for name, err in report.store_errors.items()))


def _log_publish(name: str, report: PublishReport) -> None:
    for ch in report.channels:
        if ch.error:
            log.error("publish %s to %s failed: %s", name, ch.channel, ch.error)
        else:
            log.info("published %s to %s: %d uploaded, %d unchanged; %s", name, ch.channel, ch.uploaded,
                     ch.unchanged, ", ".join(ch.urls) or ch.note or "")
