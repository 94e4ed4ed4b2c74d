"""Distributed mode keeps the archive in S3: replay servers and other machines read records
from it with ranged GETs, a worker's disk can be a mere cache, and a capture whose machine
dies is resumed on another from the files and journal it checkpointed there. Real
`refuge` processes, each with a data directory of its own, a real PostgreSQL and a real
S3 server (Swift)."""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from refuge.storage import catalog
from refuge.storage.catalog.index import capture_hits
from refuge_cluster import REFUGE, Cluster, env_for, process, refuge, site_routes, wait_until, worker
from servers import free_port
from tiny_site import Route, page, serve

pytestmark = pytest.mark.postgres

BIG = random.Random(7).randbytes(6 * 1024 * 1024)  # past the size read in one piece: streamed in ranges


def routes_with_big_file(pages: int, delay: float) -> dict[str, Route]:
    routes = site_routes(pages=pages, delay=delay)
    links = [f"/t0/p{i}.html" for i in range(pages)] + ["/t0/big.bin"]
    routes["/t0/"] = Route(page(*links, title="t0"))
    routes["/t0/big.bin"] = Route(BIG, 200, "application/octet-stream")
    return routes


@contextmanager
def serving(data: Path, cluster: Cluster, **env: str) -> Iterator[int]:
    """`refuge serve` on DATA, a machine of its own, until the block ends: its port."""
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "serve.log", "wb") as log:
        proc = subprocess.Popen([REFUGE, "serve", "--port", str(port), "--processes", "1"],
                                env=env_for(data, cluster, **env), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: get(port, "/healthz")[0] == 200 or proc.poll() is not None, 60, "the server starts")
        assert proc.poll() is None, (data / "serve.log").read_text()[-2000:]
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


def archived_bodies(port: int, engine, capture_id: str) -> dict[str, tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    return {hit.url: get(port, f"/web/{hit.timestamp}id_/{hit.url}") for hit in capture_hits(engine, capture_id)
            if hit.rectype in ("response", "revisit")}


def warcs_under(data: Path) -> list[Path]:
    return sorted(data.rglob("*.warc.gz"))


def test_a_replay_server_with_an_empty_disk_serves_every_capture_from_s3(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    with serve(routes_with_big_file(pages=5, delay=0.0)) as site:
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", env=admin).returncode == 0
        with worker(tmp_path / "w1", cluster):
            done = refuge("capture", "t0", "--json", env=admin)
        assert done.returncode == 0, done.stderr
        capture_id = json.loads(done.stdout)["id"]
        expected = {site.url(path): route.body for path, route in routes_with_big_file(5, 0.0).items()
                    if path.startswith("/t0/")}
    engine = catalog.connect(cluster.database_url)
    assert warcs_under(tmp_path / "w1")  # the worker keeps its files (keep_local is on by default)
    with serving(tmp_path / "replay", cluster) as port:
        served = archived_bodies(port, engine, capture_id)
    assert {url: body for url, (status, body) in served.items() if status == 200} == expected
    assert not warcs_under(tmp_path / "replay")  # it read records, it did not copy files

    # The worker's machine is gone: a fresh server, with no cache, reads every record from S3.
    shutil.rmtree(tmp_path / "w1")
    with serving(tmp_path / "replay2", cluster, REFUGE_S3_CACHE_MB="0") as port:
        again = archived_bodies(port, engine, capture_id)
        ranged = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        ts = next(h.timestamp for h in capture_hits(engine, capture_id) if h.url.endswith("big.bin"))
        ranged.request("GET", f"/web/{ts}id_/{site.url('/t0/big.bin')}", headers={"Range": "bytes=5000000-5000099"})
        part = ranged.getresponse()
        assert part.status == 206 and part.read() == BIG[5000000:5000100]
        ranged.close()
    assert again == served
    engine.dispose()


def test_with_keep_local_off_only_the_machine_holding_a_file_lets_it_go(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    with serve(site_routes(pages=2, delay=0.0)) as site:
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", env=admin).returncode == 0
        with worker(tmp_path / "w1", cluster):  # keep_local on: the files stay on w1
            assert refuge("capture", "t0", env=admin).returncode == 0
    kept = warcs_under(tmp_path / "w1")
    assert kept
    # Replication on another machine, with keep_local off: not its files to let go.
    assert refuge("push", env=env_for(tmp_path / "other", cluster, REFUGE_S3_KEEP_LOCAL="false")).returncode == 0
    [capture] = json.loads(refuge("captures", "--json", env=admin).stdout)
    rows = json.loads(refuge("replicas", capture["id"], "--json", env=admin).stdout)["copies"]
    assert {r["state"] for r in rows if r["store"] == "local"} == {"copied"} and warcs_under(tmp_path / "w1") == kept
    # On the machine that holds them, they go.
    assert refuge("push", env=env_for(tmp_path / "w1", cluster, REFUGE_S3_KEEP_LOCAL="false")).returncode == 0
    rows = json.loads(refuge("replicas", capture["id"], "--json", env=admin).stdout)["copies"]
    assert {r["state"] for r in rows if r["store"] == "local"} == {"dropped"} and not warcs_under(tmp_path / "w1")


def test_with_keep_local_off_the_disk_is_a_cache_and_verify_and_export_read_s3(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    with serve(site_routes(pages=4, delay=0.0)) as site:
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", env=admin).returncode == 0
        with process(tmp_path / "w1", cluster, "worker", REFUGE_S3_KEEP_LOCAL="false"):
            done = refuge("capture", "t0", "--json", env=admin)
        assert done.returncode == 0, done.stderr
    capture_id = json.loads(done.stdout)["id"]
    assert not warcs_under(tmp_path / "w1")  # each went once S3 confirmed its copy
    rows = json.loads(refuge("replicas", capture_id, "--json", env=admin).stdout)["copies"]
    assert {r["store"]: r["state"] for r in rows if r["store"] == "local"} == {"local": "dropped"}
    assert all(r["state"] == "copied" for r in rows if r["store"] == "s3")

    verified = refuge("verify", capture_id, "--json", env=admin)  # from a machine with nothing on disk
    assert verified.returncode == 0, verified.stderr
    checks = json.loads(verified.stdout)["copies"]
    assert checks and all(c["store"] == "s3" and c["result"] == "ok" for c in checks)

    out = tmp_path / "export"
    exported = refuge("export", "t0", "--out", str(out), env=admin)
    assert exported.returncode == 0, exported.stderr
    assert (out / "index.html").exists() and len(list(out.rglob("p*.html"))) == 4


def test_a_capture_whose_machine_dies_is_resumed_on_another_from_s3(tmp_path, cluster) -> None:
    admin = env_for(tmp_path / "admin", cluster)
    pages = 60
    with serve(site_routes(pages=pages, delay=0.25)) as site:
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", env=admin).returncode == 0
        refuge("capture", "t0", "--no-wait", env=admin)
        engine = catalog.connect(cluster.database_url)
        fetched = lambda: sum(n for p, n in site.hits.counts().items() if p.startswith("/t0/p"))  # noqa: E731
        with process(tmp_path / "w1", cluster, "worker", REFUGE_CHECKPOINT_SECONDS="1") as first:
            wait_until(lambda: fetched() >= 25, 90, "the first worker is well under way")
            time.sleep(1.5)  # a checkpoint or so
            os.killpg(first.pid, signal.SIGKILL)  # the machine dies, and its disk with it
            first.wait(10)
        before = fetched()
        shutil.rmtree(tmp_path / "w1")
        [killed] = catalog.list_captures(engine, "t0")
        with process(tmp_path / "w2", cluster, "worker", REFUGE_CHECKPOINT_SECONDS="1"):
            wait_until(lambda: catalog.get_capture(engine, killed["id"])["status"] == "complete", 120,
                       "another machine takes the job over and completes the capture")
        counts = site.hits.counts()
    [resumed] = catalog.list_captures(engine, "t0")
    assert resumed["id"] == killed["id"] and resumed["pages"] == pages + 1
    again = sum(counts[f"/t0/p{i}.html"] - 1 for i in range(pages))
    # Resumed, not started over: only what the dead machine had not checkpointed is fetched again.
    assert again < before / 2, (again, before)
    # Every page is there, whichever machine wrote it.
    with serving(tmp_path / "replay", cluster) as port:
        served = archived_bodies(port, engine, resumed["id"])
    # Every record in the index serves, none left pointing into a file the dead machine took with it.
    pages_served = {url: status for url, (status, _) in served.items() if not url.endswith("/robots.txt")}
    assert len(pages_served) == pages + 1 and set(pages_served.values()) == {200}, pages_served
    engine.dispose()


def test_a_complete_capture_is_published_by_a_job_of_its_own(tmp_path, cluster) -> None:
    publish = {"REFUGE_PUBLISH_AFTER_CAPTURE": "true",
               "REFUGE_S3_PUBLIC_BASE_URL": f"{cluster.s3.endpoint_url}/{cluster.bucket}/"}
    admin = env_for(tmp_path / "admin", cluster, **publish)
    with serve(site_routes(pages=3, delay=0.0)) as site:
        assert refuge("add", site.url("/t0/"), "--name", "t0", "--scope", "prefix", env=admin).returncode == 0
        with process(tmp_path / "w1", cluster, "worker", **publish):
            assert refuge("capture", "t0", env=admin).returncode == 0

            def published() -> bool:
                listing = cluster.s3.client().list_objects_v2(Bucket=cluster.bucket, Prefix="mirrors/t0/")
                return any(o["Key"] == "mirrors/t0/index.html" for o in listing.get("Contents", []))
            wait_until(published, 60, "the publish job uploads the mirror")
    log = (tmp_path / "w1" / "worker.log").read_text()
    assert "Job refuge:publish" in log and "published t0 to s3" in log
