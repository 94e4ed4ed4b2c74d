"""Cluster step of the benchmark (distributed mode, issue 15).

1. Workers: the same queued captures (TARGETS sites of PAGES pages, every response
   answered after LATENCY seconds, as over a network rather than loopback) run by one
   `refuge worker` and by two, each with a data directory of its own; pages per second
   from the first capture's start to the last one's end (catalog times), so worker
   start-up is not counted. Goal: two workers at least WORKERS_TARGET times one.
2. Replay from S3: the captured pages (as a reader gets them, rewritten, a new connection
   per request) from `refuge serve` on a disk holding every WARC file, and from one with
   an empty data directory reading records from S3 by ranged GETs: with no cache
   (s3.cache_mb = 0, every record a GET: the least flattering) and with the default
   cache after a first pass. Goal: S3's p50 at most S3_REPLAY_TARGET times the disk's.

PostgreSQL and S3 (Swift + s3api) are started on 127.0.0.1 for the step and stopped after.
"""

from __future__ import annotations

import http.client
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import procs
from captures import detail, refuge_bin

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work" / "cluster"
sys.path.append(str(REPO / "tests" / "support"))  # servers, store_servers, tiny_site

TARGETS, PAGES, LATENCY = 8, 100, 0.05
REPEAT = 3
WORKERS_TARGET = 1.8  # pages/s of two workers over one, at least
S3_REPLAY_TARGET = 2.0  # replay p50 from S3 over p50 from the local disk, at most


def _site_routes() -> dict[str, Any]:
    from tiny_site import Route, page

    routes = {"/robots.txt": Route(b"", 404, "text/plain")}
    for t in range(TARGETS):
        links = [f"/t{t}/p{i}.html" for i in range(PAGES)]
        routes[f"/t{t}/"] = Route(page(*links, title=f"t{t}"), delay=LATENCY)
        body = lambda i, t=t: page(f"/t{t}/", title=f"t{t} page {i} " + "lorem ipsum " * 200)  # noqa: E731
        routes.update({f"/t{t}/p{i}.html": Route(body(i), delay=LATENCY) for i in range(PAGES)})
    return routes


class Cluster:
    """A fresh database and bucket on the step's servers, and the environment of a machine."""

    def __init__(self, pg: Any, s3: Any) -> None:
        name = "b" + uuid.uuid4().hex[:12]
        self.database_url = pg.create_database(name)
        self.s3, self.bucket = s3, name
        s3.create_bucket(name)

    def env(self, data: Path, **extra: str) -> dict[str, str]:
        data.mkdir(parents=True, exist_ok=True)
        return {"PATH": "/usr/bin:/bin", "HOME": str(data), "REFUGE_DATA": str(data),
                "REFUGE_DATABASE_URL": self.database_url, "REFUGE_QUEUE": "postgres",
                "REFUGE_S3_BUCKET": self.bucket, "REFUGE_S3_ENDPOINT_URL": self.s3.endpoint_url,
                "AWS_ACCESS_KEY_ID": self.s3.access_key, "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
                "AWS_EC2_METADATA_DISABLED": "true", "REFUGE_ALLOW_PRIVATE_NETWORKS": "true",
                "REFUGE_STALE_CAPTURE_SECONDS": "20",
                # Captures and their S3 copies are measured; publishing a mirror of each is not.
                "REFUGE_PUBLISH_AFTER_CAPTURE": "false", **extra}


def _refuge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([str(refuge_bin()), *args], env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"refuge {' '.join(args)}: {done.stderr.strip()[-300:]}")
    return done


def workers_round(pg: Any, s3: Any, site: Any, workers: int, root: Path) -> dict:
    """Every target captured through the queue by WORKERS workers: pages/s and where the files went."""
    cluster = Cluster(pg, s3)
    admin = cluster.env(root / "admin")
    for t in range(TARGETS):
        _refuge("add", site.url(f"/t{t}/"), "--name", f"t{t}", "--scope", "prefix", "--max-pages", "1000",
                env=admin)
        _refuge("capture", f"t{t}", "--no-wait", env=admin)
    from refuge.storage import catalog

    engine = catalog.connect(cluster.database_url)
    started = [procs.spawn([str(refuge_bin()), "worker"], env=cluster.env(root / f"w{n}"),
                           log=root / f"w{n}.log") for n in range(workers)]
    try:
        # Timed here, polling the catalog, from the first capture's start to the last one's
        # end: worker start-up is not counted, and the catalog's times are whole seconds.
        deadline = time.monotonic() + 600
        first = None
        while True:
            rows = catalog.list_captures(engine)
            if first is None and rows:
                first = time.perf_counter()
            if len(rows) == TARGETS and all(r["status"] != "running" for r in rows):
                last = time.perf_counter()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{workers} worker(s): captures not done in 10 minutes")
            time.sleep(0.05)
    finally:
        for p in started:
            procs.stop(p)
        engine.dispose()
    if any(r["status"] != "complete" for r in rows):
        raise RuntimeError(f"{workers} worker(s): not every capture completed: {[r['status'] for r in rows]}")
    pages = sum(r["pages"] for r in rows)
    seconds = last - first
    return {"ok": True, "workers": workers, "pages": pages, "seconds": seconds, "pages_per_second": pages / seconds,
            "cluster": cluster, "root": root}


def _latencies(port: int, paths: list[str], passes: int) -> list[float]:
    took = []
    for _ in range(passes):
        for path in paths:
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                raise RuntimeError(f"replay of {path}: HTTP {response.status}")
            took.append(time.perf_counter() - t0)
    return took


def replay_round(two: dict) -> dict:
    """p50 per page: from a disk holding every file, from S3 cold and from S3 warmed."""
    cluster, root = two["cluster"], two["root"]
    local = root / "all-files"
    for n in range(2):  # what both workers wrote, on one disk
        shutil.copytree(root / f"w{n}" / "archive", local / "archive", dirs_exist_ok=True)
    paths = _pages(cluster)
    result: dict[str, Any] = {"pages": len(paths)}
    for name, data, extra, warm in (("local", local, {}, True), ("s3_no_cache", root / "empty1",
                                                                {"REFUGE_S3_CACHE_MB": "0"}, False),
                                    ("s3_cached", root / "empty2", {}, True)):
        port = procs.free_port()
        server = procs.spawn([str(refuge_bin()), "serve", "--port", str(port), "--processes", "1"],
                             env=cluster.env(data, **extra), log=root / f"serve-{name}.log")
        try:
            procs.wait_port(port, server)
            if warm:
                _latencies(port, paths, 1)
            took = _latencies(port, paths, 2)
        finally:
            procs.stop(server)
        result[name] = {"p50_ms": statistics.median(took) * 1000,
                        "p90_ms": statistics.quantiles(took, n=10)[-1] * 1000}
        detail(f"replay from {name}: p50 {result[name]['p50_ms']:.1f} ms, p90 {result[name]['p90_ms']:.1f} ms "
               f"({len(took)} requests, a new connection each)")
    return result


def bare_get_ms(s3: Any, bucket: str) -> float:
    """p50 of a 5 KB ranged GET from a WARC file in BUCKET, with boto3 and nothing else."""
    client = s3.client()
    key = next(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"] if o["Key"].endswith(".warc.gz"))
    took = []
    for _ in range(200):
        t0 = time.perf_counter()
        client.get_object(Bucket=bucket, Key=key, Range="bytes=0-4999")["Body"].read()
        took.append(time.perf_counter() - t0)
    return statistics.median(took) * 1000


def _pages(cluster: Cluster) -> list[str]:
    """The replay path of every captured page, as a reader opens it."""
    from refuge.storage import catalog
    from refuge.storage.catalog.index import capture_hits

    engine = catalog.connect(cluster.database_url)
    try:
        return [f"/web/{hit.timestamp}/{hit.url}" for capture in catalog.list_captures(engine)
                for hit in capture_hits(engine, capture["id"]) if hit.rectype == "response" and hit.status == 200]
    finally:
        engine.dispose()


def run(args: Any, results: dict) -> bool:
    from servers import start_postgres
    from store_servers import start_s3_server
    from tiny_site import serve

    res: dict[str, Any] = {}
    results["cluster"] = res
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    pg = start_postgres()
    s3 = start_s3_server(WORK / "s3")
    try:
        with serve(_site_routes()) as site:
            # Alternated, the median of each: this shared machine's speed wanders from minute to minute.
            rounds: dict[int, list[dict]] = {1: [], 2: []}
            for i in range(REPEAT):
                for n in (1, 2):
                    rounds[n].append(workers_round(pg, s3, site, n, WORK / f"{n}-workers-{i}"))
                    detail(f"{n} worker(s), round {i + 1}: {rounds[n][-1]['pages_per_second']:.1f} pages/s")
            one, two = (sorted(rounds[n], key=lambda r: r["pages_per_second"])[(REPEAT - 1) // 2] for n in (1, 2))
            ratio = two["pages_per_second"] / one["pages_per_second"]
            res["workers"] = {k: {kk: v for kk, v in r.items() if kk not in ("cluster", "root")}
                              for k, r in (("one", one), ("two", two))}
            res["workers_ratio"] = ratio
            print(f"cluster_two_workers_vs_one: one {one['pages_per_second']:.1f} pages/s, two "
                  f"{two['pages_per_second']:.1f} pages/s, ratio {ratio:.2f} (target >= {WORKERS_TARGET})",
                  flush=True)
            detail(f"{TARGETS} targets x {PAGES + 1} pages, {LATENCY * 1000:.0f} ms per response, {REPEAT} rounds each, "
                   f"median: one worker {one['seconds']:.1f} s, two {two['seconds']:.1f} s (first capture "
                   f"started to last one ended)")
            replay = replay_round(two)
            replay["bare_get_p50_ms"] = bare_get_ms(s3, two["cluster"].bucket)
            detail(f"one ranged GET of a record's size with boto3 alone, same server: p50 "
                   f"{replay['bare_get_p50_ms']:.1f} ms (what every uncached record costs at least)")
            res["replay"] = replay
            cold = replay["s3_no_cache"]["p50_ms"] / replay["local"]["p50_ms"]
            res["s3_replay_ratio"] = cold
            print(f"replay_s3_vs_local_p50: local {replay['local']['p50_ms']:.1f} ms, s3 (no cache) "
                  f"{replay['s3_no_cache']['p50_ms']:.1f} ms, s3 (cached) {replay['s3_cached']['p50_ms']:.1f} ms, "
                  f"ratio {cold:.2f} (target <= {S3_REPLAY_TARGET})", flush=True)
    finally:
        s3.stop()
        pg.stop()
    return True


def targets(results: dict) -> dict:
    res = results.get("cluster") or {}
    w, r = res.get("workers_ratio"), res.get("s3_replay_ratio")
    return {"cluster_two_workers_ratio": {"target": WORKERS_TARGET, "op": ">=", "value": w,
                                          "met": bool(w and w >= WORKERS_TARGET)},
            "replay_s3_p50_ratio": {"target": S3_REPLAY_TARGET, "op": "<=", "value": r,
                                    "met": r is not None and r <= S3_REPLAY_TARGET}}
