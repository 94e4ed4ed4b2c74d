"""Captures as jobs on PostgreSQL (queue = "postgres"), with real `refuge worker`
processes, each with a data directory of its own as if on a machine of its own."""

from __future__ import annotations

import json
import os
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from refuge.storage import catalog
from refuge_cluster import TARGETS, env_for, refuge, site_routes, wait_until, worker
from tiny_site import serve

pytestmark = pytest.mark.postgres

def test_two_workers_capture_every_target_once_and_never_one_target_twice_at_once(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    with serve(site_routes(pages=6, delay=0.15)) as site:
        for t in range(TARGETS):
            assert refuge("add", site.url(f"/t{t}/"), "--name", f"t{t}", "--scope", "prefix",
                          env=admin).returncode == 0
        queued = [json.loads(refuge("capture", f"t{t}", "--no-wait", "--json", env=admin).stdout)["job"]
                  for t in range(TARGETS)]
        # Asked again while they wait: the waiting job is the answer, not a second one.
        again = [json.loads(refuge("capture", f"t{t}", "--no-wait", "--json", env=admin).stdout)["job"]
                 for t in range(TARGETS)]
        assert again == queued and len(set(queued)) == TARGETS
        engine = catalog.connect(cluster.database_url)
        with worker(tmp_path / "w1", cluster), worker(tmp_path / "w2", cluster):
            # Every first-round capture under way (four at once; two wait for a slot): a second
            # request for a target whose first job still waits would be that same job.
            wait_until(lambda: len(catalog.list_captures(engine)) == TARGETS, 90, "the first round starts")
            # One more of each while the first round runs: a target with a capture running
            # has its next one wait for it, whichever worker is free.
            for t in range(TARGETS):
                refuge("capture", f"t{t}", "--no-wait", env=admin)
            wait_until(lambda: sum(c["status"] == "complete" for c in catalog.list_captures(engine)) == 2 * TARGETS,
                       120, "both rounds complete")
        rows = catalog.list_captures(engine)
        assert all(r["status"] == "complete" and r["pages"] == 7 for r in rows), rows
        for t in range(TARGETS):
            mine = sorted((r["started"], r["finished"]) for r in rows if r["target"] == f"t{t}")
            assert len(mine) == 2 and mine[0][1] <= mine[1][0], mine  # never two at once
        assert set(site.hits.counts()) >= {f"/t{t}/p5.html" for t in range(TARGETS)}
        engine.dispose()


def test_capture_waits_for_a_worker_and_prints_the_summary(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    with serve(site_routes(pages=2, delay=0.0)) as site, worker(tmp_path / "w1", cluster):
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", env=admin).returncode == 0
        done = refuge("capture", "t0", "--json", env=admin)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "complete" and summary["pages"] == 3 and summary["target"] == "t0"
    assert "waiting for a worker" in done.stderr
    unknown = refuge("capture", "nope", "--no-wait", env=admin)
    assert unknown.returncode == 2 and unknown.stderr.startswith("refuge: error: ")


@contextmanager
def a_capture_under_way(tmp_path: Path, cluster) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    """One slow capture queued and under way on a first worker: (the data directory the
    workers share, the site, a catalog engine, the first worker)."""
    shared = tmp_path / "shared"
    admin = env_for(shared, cluster)
    with serve(site_routes(pages=40, delay=0.1)) as site:
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", env=admin).returncode == 0
        refuge("capture", "t0", "--no-wait", env=admin)
        engine = catalog.connect(cluster.database_url)
        with worker(shared, cluster, concurrency=1) as first:
            wait_until(lambda: sum(n for p, n in site.hits.counts().items() if p.startswith("/t0/p")) >= 10,
                       60, "the first worker is under way")
            yield shared, site, engine, first
        engine.dispose()


def test_a_killed_workers_capture_is_taken_over_and_resumed(tmp_path, cluster) -> None:
    # Two workers sharing one disk: the capture's journal and files are where the second
    # looks, so it resumes the capture under its id.
    with a_capture_under_way(tmp_path, cluster) as (shared, site, engine, first):
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        [killed] = catalog.list_captures(engine, "t0")
        assert killed["status"] == "running"  # as the kill left it
        with worker(shared, cluster, concurrency=1):
            wait_until(lambda: catalog.get_capture(engine, killed["id"])["status"] == "complete", 90,
                       "the second worker takes the job over and completes the capture")
        [resumed] = catalog.list_captures(engine, "t0")
        assert resumed["id"] == killed["id"] and resumed["pages"] == 41
        fetched = site.hits.counts()
        assert all(fetched[f"/t0/p{i}.html"] <= 2 for i in range(40))  # resumed, not started over


def test_a_worker_asked_to_stop_seals_its_capture_and_queues_it_for_the_next(tmp_path, cluster) -> None:
    with a_capture_under_way(tmp_path, cluster) as (shared, site, engine, first):
        os.killpg(first.pid, signal.SIGTERM)
        assert first.wait(60) == 0  # it stops, having sealed what it wrote
        [stopped] = catalog.list_captures(engine, "t0")
        assert stopped["status"] == "interrupted"
        with worker(shared, cluster, concurrency=1):  # no takeover needed: the job is waiting
            wait_until(lambda: catalog.get_capture(engine, stopped["id"])["status"] == "complete", 60,
                       "the next worker resumes it")
        assert catalog.get_capture(engine, stopped["id"])["pages"] == 41
