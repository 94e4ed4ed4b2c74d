"""The scheduler's jobs run in this process: `refuge run` on one machine."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from refuge.cli.pipeline import capture_and_follow
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.storage import catalog, fixity
from refuge.storage.replicate import PushReport, push

if TYPE_CHECKING:  # the publish stack is loaded only when a capture is published
    from refuge.mirror.publish.publisher import PublishReport

log = logging.getLogger(__name__)


class LocalActions:
    """Capture, replicate, audit and check here and now; failures are logged, never raised."""

    def __init__(self, settings: Settings, engine: Engine, stop: threading.Event) -> None:
        self.settings = settings
        self.engine = engine
        self.stop = stop
        self._push_lock = threading.Lock()

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
        log_push(report)

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
            log_push(outcome.pushed)
        if outcome.publish_error is not None:  # the capture is safe; the next capture publishes again
            log.error("publishing %s failed", name, exc_info=outcome.publish_error)
        elif outcome.published is not None:
            log_publish(name, outcome.published)
        summary = outcome.summary
        log.info("capture %s of %s %s: %s pages, %s requisites, %s failed, %s bytes in %.1fs%s",
                 summary["id"], name, summary["status"], summary["pages"], summary["requisites"],
                 summary["failed"], summary["bytes"], summary["seconds"],
                 f" ({summary['error']})" if summary.get("error") else "")


def log_push(report: PushReport) -> None:
    if report.uploaded or report.failed or report.store_errors:
        log.info("replication: %d uploaded, %d already there, %d failed, %d pending%s",
                 len(report.uploaded), len(report.already_there), len(report.failed), report.pending,
                 "".join(f"; {name}: {err}" for name, err in report.store_errors.items()))


def log_publish(name: str, report: PublishReport) -> None:
    for ch in report.channels:
        if ch.error:
            log.error("publish %s to %s failed: %s", name, ch.channel, ch.error)
        else:
            log.info("published %s to %s: %d uploaded, %d unchanged; %s", name, ch.channel, ch.uploaded,
                     ch.unchanged, ", ".join(ch.urls) or ch.note or "")
