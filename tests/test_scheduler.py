"""The scheduler runs each target on its schedule, follows catalog changes and survives failures."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from refuge.cli.scheduler import CaptureScheduler
from refuge.config.targets import make_target
from refuge.storage import catalog
from servers import free_port


def wait_for(predicate, timeout: float = 30.0, step: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def test_schedule_follows_catalog_and_never_overlaps(tmp_settings, fixture_site) -> None:
    settings = tmp_settings.replace(sync_seconds=0.3, startup_spread=0.0, max_pages=3)
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.abs("/km/"), name="km", every="1s"))
    catalog.save_target(engine, make_target(f"http://127.0.0.1:{free_port()}/", name="down", every="1s"))
    scheduler = CaptureScheduler(settings, engine, threading.Event())
    scheduler.start()
    try:
        wait_for(lambda: len([c for c in catalog.list_captures(engine, "km") if c["status"] == "complete"]) >= 2)
        # A failing target is recorded as failed and tried again; the process keeps going.
        wait_for(lambda: len([c for c in catalog.list_captures(engine, "down") if c["status"] == "failed"]) >= 2)

        # A target added by another process (the CLI) is picked up by the next sync.
        catalog.save_target(engine, make_target(fixture_site.abs("/en/"), name="en", every="1h"))
        wait_for(lambda: catalog.list_captures(engine, "en"))

        # A changed schedule replaces the job's trigger.
        catalog.save_target(engine, make_target(fixture_site.abs("/km/"), name="km", every="2h"))
        wait_for(lambda: (scheduler.next_runs().get("km") or datetime.now(timezone.utc)).timestamp()
                 > time.time() + 3600)

        catalog.remove_target(engine, "km")
        wait_for(lambda: "km" not in scheduler.next_runs())
        time.sleep(0.5)  # a run that had already started may finish
        count = len(catalog.list_captures(engine, "km"))
        time.sleep(2.0)
        assert len(catalog.list_captures(engine, "km")) == count
    finally:
        scheduler.shutdown()

    runs = sorted((c["started"], c["finished"]) for c in catalog.list_captures(engine, "km"))
    for (_, end), (start, _) in zip(runs, runs[1:]):
        assert end <= start, "two captures of one target overlapped"
    assert all(c["status"] != "running" for c in catalog.list_captures(engine))


def test_second_capture_of_a_running_target_is_refused(tmp_settings, fixture_site) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    target, _ = catalog.save_target(engine, make_target(fixture_site.url, name="site"))
    first = catalog.start_capture(engine, target, stale_seconds=600)
    try:
        catalog.start_capture(engine, target, stale_seconds=600)
    except catalog.AlreadyRunning as exc:
        assert "already running" in str(exc)
    else:
        raise AssertionError("a second capture of the same target was allowed to start")
    # A capture whose process is gone is reaped, and the target can be captured again.
    catalog.finish_capture(engine, first, "complete", {})
    second = catalog.start_capture(engine, target, stale_seconds=600)
    assert second != first


def test_restart_waits_for_the_interval_since_the_last_capture(tmp_settings) -> None:
    settings = tmp_settings.replace(startup_spread=0.0)
    engine = catalog.connect(settings.catalog_url)
    target, _ = catalog.save_target(engine, make_target("https://example.org/", name="daily", every="1d"))
    capture = catalog.start_capture(engine, target, 600)
    catalog.finish_capture(engine, capture, "complete", {})
    scheduler = CaptureScheduler(settings, engine, threading.Event())
    scheduler.start()
    try:
        next_run = scheduler.next_runs()["daily"]
        assert 23.9 * 3600 < next_run.timestamp() - time.time() <= 24 * 3600
    finally:
        scheduler.shutdown()
