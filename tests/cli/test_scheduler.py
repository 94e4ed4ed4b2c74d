"""The scheduler runs each target on its schedule, follows catalog changes and survives failures."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import datetime, timezone

from refuge.archiver.capture import run_capture
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
    catalog.finish_capture(engine, first, "complete", {})
    # A capture whose process died (here: a process that claimed the target, then exited
    # without finishing) is found dead at once, not after stale_seconds, and reaped.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        dead = pool.apply(_claim_and_exit, (tmp_settings.catalog_url, "site"))
    assert catalog.get_capture(engine, dead)["status"] == "running"
    second = catalog.start_capture(engine, target, stale_seconds=600)
    assert second not in (first, dead)
    reaped = catalog.get_capture(engine, dead)
    assert reaped["status"] == "interrupted" and "stopped without finishing" in reaped["error"]


def _claim_and_exit(catalog_url: str, name: str) -> str:
    engine = catalog.connect(catalog_url)
    return catalog.start_capture(engine, catalog.get_target(engine, name), stale_seconds=600)


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


def test_at_start_the_scheduler_resumes_an_interrupted_capture_at_once(tmp_settings, fixture_site) -> None:
    """A daily target whose capture was stopped halfway (as `refuge run` stopping does) is
    not left until tomorrow: the scheduler resumes that capture, under its id, at start."""
    settings = tmp_settings.replace(startup_spread=0.0, per_host=1, delay=0.05)
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.url, name="daily", every="1d", scope="host"))
    stop = threading.Event()
    threading.Timer(0.8, stop.set).start()
    stopped = run_capture(settings, engine, "daily", stop=stop)
    assert stopped["status"] == "interrupted" and stopped["pages"] > 0
    fixture_site.hits.clear()
    scheduler = CaptureScheduler(settings, engine, threading.Event())
    scheduler.start()
    try:
        done = wait_for(lambda: [c for c in catalog.list_captures(engine, "daily") if c["status"] == "complete"])
    finally:
        scheduler.shutdown()
    assert [c["id"] for c in done] == [stopped["id"]] and done[0]["pages"] > stopped["pages"]
    assert "/" not in fixture_site.hits, "what the stopped run captured is not fetched again"


def test_a_scheduled_capture_logs_its_push_and_publish_and_survives_a_broken_push(
        tmp_settings, fixture_site, monkeypatch, caplog) -> None:
    from refuge.cli import pipeline
    from refuge.config.store_settings import IpfsSettings

    dead = f"http://127.0.0.1:{free_port()}"  # an IPFS node that is down: every copy and upload fails
    settings = tmp_settings.replace(max_pages=3, ipfs=IpfsSettings(api=dead, gateways=(dead,), subdomain_gateways=(),
                                                                   timeout=5.0))
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.url, name="news", scope="host"))
    scheduler = CaptureScheduler(settings, engine, threading.Event())

    def said() -> list[tuple[str, str]]:
        return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "refuge.cli.local_actions"]

    caplog.set_level("INFO")
    scheduler.actions.capture("news")
    lines = said()
    assert lines[0] == ("INFO", "capture of news starting")
    assert lines[1][0] == "INFO" and lines[1][1].startswith("replication: 0 uploaded, 0 already there, 0 failed, ")
    assert "; ipfs: ipfs: cannot reach ipfs.api" in lines[1][1]
    assert lines[2][0] == "ERROR" and lines[2][1].startswith("publish news to ipfs failed: ipfs: cannot reach")
    assert lines[3][0] == "INFO" and " of news complete: 3 pages" in lines[3][1] and len(lines) == 4

    def broken_push(*args, **kwargs):
        raise RuntimeError("the catalog went away")

    monkeypatch.setattr(pipeline, "push", broken_push)
    caplog.clear()
    scheduler.actions.capture("news")  # raises nothing: logged, and the capture is still published
    lines = said()
    assert lines[1] == ("ERROR", "replication failed")
    assert "RuntimeError: the catalog went away" in caplog.records[
        [r.getMessage() for r in caplog.records].index("replication failed")].exc_text
    assert lines[2][1].startswith("publish news to ipfs failed") and " of news complete" in lines[3][1]
    assert len(catalog.list_captures(engine, "news")) == 2
