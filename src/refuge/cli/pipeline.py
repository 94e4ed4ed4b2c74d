"""What follows a capture, decided and run in one place: capture -> index -> replicate -> publish.

`capture_and_follow` captures a target, then:
- indexes its HTML pages for search (storage.catalog.search), whatever its status and even
  when `stop` is set (it reads only what the capture sealed, in short transactions: bounded),
  so a capture that ended just before a shutdown is found by search;
and, unless `stop` is set by then:
- pushes the capture's files to the other stores when more than the local one is
  configured, whatever the capture's status (what was sealed is worth a copy);
- publishes it when it completed, a channel ([s3] or [ipfs]) is configured and
  `publish_after_capture` is set.
It prints and logs nothing itself (but a failure to index for search, below): it returns
what happened (`CaptureOutcome`), and the CLI and the scheduler each present that their own way.

Errors: the capture's own (an unknown target, catalog.AlreadyRunning, a crash) are
raised and nothing follows. A publish that raises Failure is recorded in the outcome
(the capture is done and safe). Any other exception of a later step is raised, unless
`isolate` is set (the scheduler, which must outlive a bug): then it is recorded too and
the next step still runs. Indexing for search never raises: its failure is logged and kept in
the outcome (`refuge search --reindex` makes up for it). A stopped capture is indexed for what
it sealed, and again (idempotently) by the run that resumes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from refuge.archiver.capture import run_capture
from refuge.archiver.crawl import CrawlProgress
from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.storage.catalog.search import index_capture
from refuge.storage.replicate import PushReport, push
from refuge.storage.stores.interface import configured_store_names

if TYPE_CHECKING:  # the publish stack is loaded only when a capture is published
    from refuge.mirror.publish.publisher import PublishReport

log = logging.getLogger(__name__)


@dataclass
class CaptureOutcome:
    """What a capture did and what followed it; a step that did not run leaves its fields None."""

    summary: dict[str, Any]  # run_capture's summary, as it returned it
    pushed: PushReport | None = None  # None: not pushed (only the local store, or stopping)
    push_error: Exception | None = None  # only with isolate=True
    published: PublishReport | None = None  # None: not published, or publish_error says why not
    publish_error: Exception | None = None
    indexed: int | None = None  # pages indexed for search; None: not indexed (still running), or index_error
    index_error: Exception | None = None


def replicating(settings: Settings) -> bool:
    """Whether there is anywhere to copy captures to besides the local store."""
    return len(configured_store_names(settings)) > 1


def publishing(settings: Settings) -> bool:
    """Whether any publish channel ([s3] or [ipfs]) is configured."""
    return settings.s3 is not None or settings.ipfs is not None


def capture_and_follow(settings: Settings, engine: Engine, name: str, *, stop: threading.Event | None = None,
                       push_lock: AbstractContextManager[Any] | None = None, isolate: bool = False,
                       fresh: bool = False, progress: Callable[[CrawlProgress], None] | None = None) -> CaptureOutcome:
    """Capture target NAME now (resuming its interrupted capture unless FRESH), then
    replicate and publish it as the settings say. PROGRESS hears how the crawl goes.

    `push_lock` is held around the push (the scheduler's: one push at a time in the
    process, its replication tick would race for the same files).
    """
    outcome = CaptureOutcome(run_capture(settings, engine, name, stop=stop, fresh=fresh, progress=progress))
    summary = outcome.summary
    unexpected: tuple[type[Exception], ...] = (Exception,) if isolate else ()

    def stopping() -> bool:
        return stop is not None and stop.is_set()

    if summary["status"] != "running":  # first, and even when stopping: search finds what was captured
        try:
            outcome.indexed = index_capture(engine, settings, summary["id"])
        except Exception as exc:  # noqa: BLE001 - search is behind by one capture; the capture is safe
            log.error("capture %s: indexing it for search failed (`refuge search --reindex` retries): %s",
                      summary["id"], exc)
            outcome.index_error = exc
    if summary["status"] != "running" and replicating(settings) and not stopping():
        # The capture is safe on disk whatever happens here; a store that is down gets
        # the files later, from `refuge push` or the scheduler.
        try:
            with push_lock if push_lock is not None else nullcontext():
                outcome.pushed = push(settings, engine, [summary["id"]], ignore_backoff=True)
        except unexpected as exc:  # the catalog keeps the queue; the next push retries
            outcome.push_error = exc
    if summary["status"] == "complete" and publishing(settings) and settings.publish_after_capture \
            and not stopping():
        from refuge.mirror.publish.publisher import publish

        try:
            outcome.published = publish(settings, engine, name, summary["id"])
        except (Failure, *unexpected) as exc:  # the capture itself is done and safe
            outcome.publish_error = exc
    return outcome
