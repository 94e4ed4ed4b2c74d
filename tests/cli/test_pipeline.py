"""What follows a capture (refuge.cli.pipeline): a push when there is another store, a
publish when the capture completed and a channel is configured; a store that is down is
reported, never raised; nothing follows a capture that was asked to stop.

The "other store" here is an IPFS node that is not running: every push and publish to it
fails the way a blocked or crashed node does, with no server to start.
"""

from __future__ import annotations

import threading

import pytest

from refuge.cli import pipeline
from refuge.cli.pipeline import capture_and_follow
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.config.store_settings import IpfsSettings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import replicas
from servers import free_port


@pytest.fixture
def dead_ipfs(tmp_settings: Settings) -> Settings:
    ipfs = IpfsSettings(api=f"http://127.0.0.1:{free_port()}", gateways=(f"http://127.0.0.1:{free_port()}",),
                        subdomain_gateways=(), timeout=5.0)
    return tmp_settings.replace(ipfs=ipfs, max_pages=3)


def _add(settings: Settings, url: str, name: str = "news"):
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(url, name=name, scope="host"))
    return engine


def test_only_the_local_store_means_nothing_follows(tmp_settings, fixture_site) -> None:
    settings = tmp_settings.replace(max_pages=3)
    engine = _add(settings, fixture_site.url)
    outcome = capture_and_follow(settings, engine, "news")
    assert outcome.summary["status"] == "complete"
    assert (outcome.pushed, outcome.push_error, outcome.published, outcome.publish_error) == (None,) * 4


def test_a_complete_capture_is_pushed_and_published_and_a_dead_store_is_reported(dead_ipfs, fixture_site) -> None:
    engine = _add(dead_ipfs, fixture_site.url)
    outcome = capture_and_follow(dead_ipfs, engine, "news")
    assert outcome.summary["status"] == "complete"
    assert "cannot reach ipfs.api" in outcome.pushed.store_errors["ipfs"] and outcome.pushed.pending > 0
    # The copies wait in the catalog for the next push.
    copies = replicas.copies(engine, outcome.summary["id"])
    assert {c["state"] for c in copies if c["store"] == "ipfs"} == {"pending"}
    assert outcome.published is not None and outcome.published.capture == outcome.summary["id"]
    assert [(c.channel, "cannot reach ipfs.api" in (c.error or "")) for c in outcome.published.channels] \
        == [("ipfs", True)]
    assert outcome.push_error is None and outcome.publish_error is None


def test_publish_after_capture_off_keeps_the_push(dead_ipfs, fixture_site) -> None:
    settings = dead_ipfs.replace(publish_after_capture=False)
    engine = _add(settings, fixture_site.url)
    outcome = capture_and_follow(settings, engine, "news")
    assert outcome.pushed is not None and outcome.published is None and outcome.publish_error is None


def test_a_failed_capture_is_pushed_but_never_published(dead_ipfs) -> None:
    engine = _add(dead_ipfs, f"http://127.0.0.1:{free_port()}/", name="gone")  # nothing listens there
    outcome = capture_and_follow(dead_ipfs.replace(retries=1), engine, "gone")
    assert outcome.summary["status"] == "failed"
    assert outcome.pushed is not None and outcome.pushed.pending > 0  # what it sealed is worth a copy
    assert outcome.published is None and outcome.publish_error is None
    assert not (dead_ipfs.data / "mirrors" / "gone").exists()


def test_nothing_follows_a_capture_asked_to_stop(dead_ipfs, fixture_site) -> None:
    engine = _add(dead_ipfs, fixture_site.url)
    stop = threading.Event()
    stop.set()
    outcome = capture_and_follow(dead_ipfs, engine, "news", stop=stop)
    assert outcome.summary["status"] == "interrupted"
    assert (outcome.pushed, outcome.push_error, outcome.published, outcome.publish_error) == (None,) * 4
    # Its files stay queued for the scheduler's next replication tick.
    assert replicas.pending_count(engine, ["ipfs"]) > 0


def test_a_push_that_raises_is_raised_or_recorded_with_isolate(dead_ipfs, fixture_site, monkeypatch) -> None:
    """The CLI shows a bug as it is; the scheduler records it and still publishes."""
    engine = _add(dead_ipfs, fixture_site.url)

    held = threading.Lock()
    seen_held = []

    def broken_push(*args, **kwargs):
        seen_held.append(held.locked())
        raise RuntimeError("the catalog went away")

    monkeypatch.setattr(pipeline, "push", broken_push)
    with pytest.raises(RuntimeError, match="the catalog went away"):
        capture_and_follow(dead_ipfs, engine, "news")
    outcome = capture_and_follow(dead_ipfs, engine, "news", push_lock=held, isolate=True)
    assert str(outcome.push_error) == "the catalog went away" and outcome.pushed is None
    assert outcome.published is not None and outcome.published.capture == outcome.summary["id"]
    assert seen_held == [False, True] and not held.locked()  # the push ran under the lock, which was let go


def test_the_capture_s_own_errors_are_raised(dead_ipfs) -> None:
    engine = catalog.connect(dead_ipfs.catalog_url)
    with pytest.raises(BadInput, match="no such target"):
        capture_and_follow(dead_ipfs, engine, "nobody", isolate=True)
