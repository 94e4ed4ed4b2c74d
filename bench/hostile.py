"""Hostile step of the benchmark: archived pages made to hurt the replay server, requested
while a reader's requests are timed.

The pages are the ones issue 14 found: a `Refresh` header of `0;url=x`, 30,000 spaces and
`y` (a quadratic regex held the interpreter lock), and gzipped pages of 50 KB on the wire
holding a 24 MB `<script>`, `<style>` or comment that never closes (buffered whole, once).
They are written into a capture by the capture side's own writer (the tests'
replay_helpers.ArchiveWriter), then `refuge serve` (one process per CPU) is asked for them
54 times, 3 at a time, while `/healthz` and an ordinary archived page are fetched in turn.

Reported: the worst `/healthz` time (goal under 1 s), the slowest hostile request (goal
under 15 s), the peak RSS of the server's processes together (goal under 400 MB). pywb has
no comparable guard to compare with, so these are Refuge's own figures against goals.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import requests

import procs
from captures import detail, refuge_bin, refuge_env
from scratch import fresh_dir

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE.parent / "tests" / "support"))
from replay_helpers import ArchiveWriter, gzipped  # noqa: E402 - the tests' writer, on purpose

SITE = "https://hostile.example/"
T = "20261204000000"
HUGE = 24 * 1024 * 1024
GOALS = {"healthz_worst_seconds": 1.0, "hostile_slowest_seconds": 15.0, "peak_rss_mib": 400.0}


def hostile_pages() -> dict[str, tuple[bytes, list[tuple[str, str]], str | None]]:
    html = [("Content-Type", "text/html; charset=utf-8")]
    opening = b"<!doctype html><html><head><title>x</title></head><body><p>start</p>"
    return {
        "refresh.html": (b"<p>refresh</p>", html + [("Refresh", "0;url=x" + " " * 30000 + "y")], None),
        "script.html": (opening + b"<script>" + b"var a = '<a href=/x>';\n" * (HUGE // 24), html, "gzip"),
        "style.html": (opening + b"<style>" + b"p { background: url(/x.png) }\n" * (HUGE // 29), html, "gzip"),
        "comment.html": (opening + b"<!--" + b"<a href=/y>y</a>\n" * (HUGE // 17), html, "gzip"),
    }


def build(data: Path) -> None:
    from refuge.config.settings import Settings
    from refuge.storage import catalog

    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    with ArchiveWriter(settings, engine, name="hostile", seed=SITE) as w:
        w.response(SITE, "<html><title>ទំព័រដើម</title><p>ordinary</p></html>".encode(), ts=T)
        for path, (body, headers, encoding) in hostile_pages().items():
            w.response(SITE + path, body, ts=T, headers=headers, encoding=encoding)
    engine.dispose()


def run(args: Any, results: dict) -> bool:
    """The hostile step: one line, details, and results['hostile']."""
    res: dict[str, Any] = {}
    results["hostile"] = res
    data = WORK / "hostile-data"
    fresh_dir(data)
    data.mkdir(parents=True, exist_ok=True)
    build(data)
    wire = {p: len(gzipped(b)) if e else len(b) for p, (b, _, e) in hostile_pages().items()}
    detail("hostile pages: " + ", ".join(f"{p} {n / 1024:.0f} KB on the wire" for p, n in wire.items()))
    port = procs.free_port()
    server = procs.spawn([str(refuge_bin()), "serve", "--host", "127.0.0.1", "--port", str(port)],
                         env=refuge_env(data), log=WORK / "hostile-serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        procs.wait_port(port, server, timeout=60)
        time.sleep(2.0)  # every server process up
        tree = psutil.Process(server.pid)
        stop = threading.Event()
        peak = [0]
        probes: dict[str, list[float]] = {"healthz": [], "page": []}
        failures: list[str] = []

        def watch() -> None:
            with requests.Session() as s:
                while not stop.is_set():
                    for name, path in (("healthz", "/healthz"), ("page", f"/web/{T}id_/{SITE}")):
                        t0 = time.perf_counter()
                        try:
                            ok = s.get(base + path, timeout=30).status_code == 200
                        except requests.RequestException:
                            ok = False
                        probes[name].append(time.perf_counter() - t0)
                        if not ok:
                            failures.append(f"{path} failed under load")
                    rss = sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)])
                    peak[0] = max(peak[0], rss)
                    time.sleep(0.05)

        def hostile(path: str) -> float:
            t0 = time.perf_counter()
            try:
                with requests.get(f"{base}/web/{T}/{SITE}{path}", timeout=120, stream=True) as r:
                    for _ in r.iter_content(1 << 16):
                        pass
                    if r.status_code != 200:
                        failures.append(f"{path}: HTTP {r.status_code}")
            except requests.RequestException as exc:
                failures.append(f"{path}: {type(exc).__name__}")
            return time.perf_counter() - t0

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(3) as pool:
            times = list(pool.map(hostile, [p for _ in range(54 // len(wire) + 1) for p in wire][:54]))
        seconds = time.perf_counter() - t0
        stop.set()
        watcher.join(35)
        res.update(requests=len(times), seconds=seconds, hostile_slowest_seconds=max(times),
                   healthz_worst_seconds=max(probes["healthz"]), page_worst_seconds=max(probes["page"]),
                   probes=len(probes["healthz"]), peak_rss_mib=peak[0] / 1048576, failures=failures[:10])
    finally:
        procs.stop(server)
    detail(f"hostile load: {res['requests']} hostile requests 3 at a time in {res['seconds']:.1f}s; "
           f"/healthz polled {res['probes']} times, worst {res['healthz_worst_seconds'] * 1000:.0f} ms; an ordinary "
           f"page worst {res['page_worst_seconds'] * 1000:.0f} ms; slowest hostile request "
           f"{res['hostile_slowest_seconds']:.2f}s; peak RSS of the server's processes {res['peak_rss_mib']:.0f} MiB")
    print(f"hostile_load: healthz worst {res['healthz_worst_seconds'] * 1000:.0f} ms, slowest hostile "
          f"{res['hostile_slowest_seconds']:.2f} s, peak RSS {res['peak_rss_mib']:.0f} MiB", flush=True)
    if failures:
        results["errors"].append(f"hostile: {len(failures)} failures, first: {failures[0]}")
    return not failures


def targets(results: dict) -> dict:
    got = results.get("hostile") or {}
    return {f"hostile_{k}": {"target": goal, "op": "<", "value": got.get(k),
                             "met": got.get(k) is not None and got[k] < goal} for k, goal in GOALS.items()}
