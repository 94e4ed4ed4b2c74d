"""One active scheduler for a cluster, `refuge cluster`, and one Refuge version across the
workers: real `refuge scheduler` and `refuge worker` processes on a real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from refuge_cluster import env_for, process, refuge, site_routes, wait_until, worker
from servers import free_port
from sqlalchemy import text
from tiny_site import serve

from refuge.storage import catalog

pytestmark = pytest.mark.postgres


def log_of(data: Path, name: str) -> str:
    path = data / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def capture_jobs(engine, target: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'refuge:capture' "
                                 "AND args->>'target' = :t"), {"t": target}).scalar()


def test_two_schedulers_queue_each_capture_once_and_a_standby_takes_over(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    a, b = tmp_path / "a", tmp_path / "b"
    with serve(site_routes(pages=1, delay=0.0)) as site:
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", "--every", "3s",
                      env=admin).returncode == 0
        engine = catalog.connect(cluster.database_url)
        with process(a, cluster, "scheduler", REFUGE_STARTUP_SPREAD="0.2") as first:
            wait_until(lambda: "this scheduler is the active one" in log_of(a, "scheduler"), 60, "A leads")
            with process(b, cluster, "scheduler", REFUGE_STARTUP_SPREAD="0.2"), worker(tmp_path / "w", cluster):
                wait_until(lambda: "standing by" in log_of(b, "scheduler"), 60, "B stands by")
                wait_until(lambda: sum(c["status"] == "complete" for c in catalog.list_captures(engine, "t0")) >= 3,
                           60, "three scheduled captures")
                # Every job came from A; B queued nothing while A led.
                assert "queued capture" not in log_of(b, "scheduler")
                queued_by_a = log_of(a, "scheduler").count("queued capture of t0")
                assert capture_jobs(engine, "t0") == queued_by_a

                os.killpg(first.pid, signal.SIGKILL)  # the leader's machine dies
                first.wait(10)
                done = sum(c["status"] == "complete" for c in catalog.list_captures(engine, "t0"))
                wait_until(lambda: "this scheduler is the active one" in log_of(b, "scheduler"), 30,
                           "B takes the lead")
                wait_until(lambda: sum(c["status"] == "complete"
                                       for c in catalog.list_captures(engine, "t0")) >= done + 2,
                           60, "B's captures run")
                assert capture_jobs(engine, "t0") == queued_by_a + log_of(b, "scheduler").count("queued capture of t0")
        # Never two captures of the target at once, whoever queued them.
        rows = sorted((r["started"], r["finished"]) for r in catalog.list_captures(engine, "t0"))
        assert all(x[1] <= y[0] for x, y in zip(rows, rows[1:]))
        engine.dispose()


def test_cluster_shows_workers_their_jobs_what_waits_and_what_failed(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    with serve(site_routes(pages=30, delay=0.2)) as site:
        for t in range(3):
            assert refuge("add", site.url(f"/t{t}/"), "--name", f"t{t}", "--scope", "prefix",
                          env=admin).returncode == 0
        # A job whose target is gone by the time a worker takes it: it fails.
        gone = json.loads(refuge("capture", "t2", "--no-wait", "--json", env=admin).stdout)["job"]
        assert refuge("remove", "t2", env=admin).returncode == 0
        for t in range(2):
            refuge("capture", f"t{t}", "--no-wait", env=admin)
        with worker(tmp_path / "w1", cluster, concurrency=1) as w1:
            wait_until(lambda: json.loads(refuge("cluster", "--json", env=admin).stdout)["failed"], 60,
                       "the job of the removed target fails")
            doc = json.loads(refuge("cluster", "--json", env=admin).stdout)
            # One procrastinate worker for captures, one for upkeep, in the one process.
            assert sorted(w["queue"] for w in doc["workers"]) == ["captures", "upkeep"]
            [me] = [w for w in doc["workers"] if w["queue"] == "captures"]
            assert me["pid"] == w1.pid and me["version"] and me["host"] and not me["stalled"]
            assert [(j["kind"], j["target"]) for j in me["jobs"]] in ([("capture", "t0")], [("capture", "t1")])
            assert doc["queued"] == {"capture": 1} and doc["running"] == {"capture": 1}
            assert [(j["id"], j["target"]) for j in doc["failed"]] == [(gone, "t2")]
            shown = refuge("cluster", env=admin)
            assert shown.returncode == 0 and f"pid {w1.pid}" in shown.stdout and "capture 1 waiting, 1 running" \
                in shown.stdout and f"job {gone}" in shown.stdout

            # A worker of another Refuge version beside it is refused, by name.
            with catalog.connect(cluster.database_url).begin() as conn:
                conn.execute(text("UPDATE refuge_workers SET version = '0.0.1'"))
            other = refuge("worker", env=env_for(tmp_path / "w2", cluster), timeout=60)
            assert other.returncode == 2, other.stderr
            assert "a worker of Refuge 0.0.1 runs on" in other.stderr and f"(pid {w1.pid})" in other.stderr

            os.killpg(w1.pid, signal.SIGKILL)
            w1.wait(10)
            wait_until(lambda: json.loads(refuge("cluster", "--json", env=admin).stdout)["stalled"], 30,
                       "the killed worker's job shows as stalled")
            doc = json.loads(refuge("cluster", "--json", env=admin).stdout)
            assert all(w["stalled"] for w in doc["workers"]) and doc["stalled"][0]["target"] in ("t0", "t1")


def test_distributed_commands_say_what_to_set(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")} | {"REFUGE_DATA": str(tmp_path)}
    for command in ("worker", "scheduler", "cluster"):
        done = refuge(command, env=env)
        assert done.returncode == 2 and f"refuge {command} is for distributed mode: set queue = \"postgres\"" \
            in done.stderr
    queued = env | {"REFUGE_QUEUE": "postgres", "REFUGE_DATABASE_URL": f"postgresql+psycopg://refuge:sekrit@127.0.0.1:"
                                                                       f"{free_port()}/refuge"}
    no_s3 = refuge("worker", env=queued)
    assert no_s3.returncode == 2 and 'setting queue: "postgres" keeps the archive in S3: configure [s3]' \
        in no_s3.stderr
    down = refuge("worker", env=queued | {"REFUGE_S3_BUCKET": "b", "REFUGE_S3_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert down.returncode == 1 and down.stderr.count("\n") == 1 and "sekrit" not in down.stderr
    assert "the catalog at database_url = postgresql+psycopg://refuge:***@127.0.0.1:" in down.stderr


def test_every_machine_signs_the_mirror_list_with_the_clusters_one_key(tmp_path, cluster) -> None:
    keys = [json.loads(refuge("key", "--json", env=env_for(tmp_path / m, cluster)).stdout) for m in ("m1", "m2")]
    assert keys[0]["public_key"] == keys[1]["public_key"]
    assert oct((tmp_path / "m2" / "keys" / "mirrors.key").stat().st_mode & 0o777) == "0o600"

    # A machine that brings a key of its own is told, and its key is left as it was.
    own = env_for(tmp_path / "m3", cluster)
    own.pop("REFUGE_QUEUE"), own.pop("REFUGE_DATABASE_URL")  # this machine, before it joined
    mine = json.loads(refuge("key", "--json", env=own).stdout)
    before = (tmp_path / "m3" / "keys" / "mirrors.key").read_bytes()
    refused = refuge("key", env=env_for(tmp_path / "m3", cluster))
    assert refused.returncode == 2 and "mirrors.key: this machine's signing key is not the cluster's" in refused.stderr
    assert (tmp_path / "m3" / "keys" / "mirrors.key").read_bytes() == before and mine != keys[0]


def test_refuge_run_in_distributed_mode_schedules_for_the_workers_and_serves(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    port = free_port()
    (tmp_path / "none.toml").write_text("")  # not the bundled targets: those are on the internet
    with serve(site_routes(pages=1, delay=0.0)) as site:
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", "--every", "3s",
                      env=admin).returncode == 0
        engine = catalog.connect(cluster.database_url)
        with process(tmp_path / "run", cluster, "run", "--port", str(port), "--processes", "1",
                     REFUGE_STARTUP_SPREAD="0.2", REFUGE_TARGETS_FILE=str(tmp_path / "none.toml"),
                     REFUGE_ADMIN_PORT=str(free_port())), \
                worker(tmp_path / "w", cluster):
            wait_until(lambda: any(c["status"] == "complete" for c in catalog.list_captures(engine, "t0")), 60,
                       "a capture scheduled by refuge run and run by the worker")
            wait_until(lambda: _status(port, "/healthz") == 200, 30, "the replay server answers")
        assert "this scheduler is the active one" in (tmp_path / "run" / "run.log").read_text()
        engine.dispose()


def _status(port: int, path: str) -> int:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
