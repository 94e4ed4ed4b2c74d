"""Sequential replay timing: the same pages from each server, every answer checked (status 200
and the page's own title in the body), either over one keep-alive session or with a new
connection for every request (what a reader opening a mirror link does first)."""

from __future__ import annotations

import gzip
import html
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests


@dataclass
class Pick:
    url: str
    timestamp: str
    title: str


@dataclass
class ReplayResult:
    name: str
    pages: int
    seconds: float
    ok: int
    failures: list[str] = field(default_factory=list)
    bytes: int = 0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 and not self.failures else 0.0


def read_cdxj(files: list[Path]) -> list[dict]:
    rows = []
    for f in files:
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line or line.startswith("!"):
                    continue
                key, ts, rest = line.split(" ", 2)
                try:
                    data = json.loads(rest)
                except ValueError:
                    continue
                data["urlkey"], data["timestamp"] = key, ts
                rows.append(data)
    return rows


def pick_pages(rows: list[dict], manifest: dict, base_url: str, n: int, seed: int) -> tuple[list[Pick], list[Pick]]:
    """N measured pages and 20 warm-up pages (disjoint), chosen by SEED among the site's
    HTML pages that the index holds as 200 responses; the earliest capture of each."""
    ts_by_url: dict[str, str] = {}
    for r in rows:
        if str(r.get("status")) != "200" or r.get("mime") == "warc/revisit":
            continue
        u = r["url"]
        if u not in ts_by_url or r["timestamp"] < ts_by_url[u]:
            ts_by_url[u] = r["timestamp"]
    cands = []
    for p in manifest["pages"]:
        url = base_url.rstrip("/") + p["path"]
        if url in ts_by_url:
            cands.append(Pick(url, ts_by_url[url], p["title"]))
    rng = random.Random(seed)
    chosen = rng.sample(cands, min(len(cands), n + 20))
    return chosen[20:], chosen[:20]


def _expected(title: str) -> list[bytes]:
    # The generator writes titles unescaped (no markup characters in them); accept the
    # escaped form too in case a rewriter re-serialises the document.
    return list({title.encode("utf-8"), html.escape(title, quote=False).encode("utf-8")})


def run(name: str, url_for: Callable[[Pick], str], picks: list[Pick], warmup: list[Pick],
        timeout: float = 30.0, new_connections: bool = False) -> ReplayResult:
    """NEW_CONNECTIONS: every request on a connection of its own ("Connection: close")."""
    with requests.Session() as s:
        if new_connections:
            s.headers["Connection"] = "close"
        for p in warmup:
            try:
                s.get(url_for(p), timeout=timeout, allow_redirects=False).content  # noqa: B018
            except requests.RequestException:
                pass
        failures: list[str] = []
        ok = 0
        total = 0
        t0 = time.perf_counter()
        for p in picks:
            u = url_for(p)
            try:
                r = s.get(u, timeout=timeout, allow_redirects=False)
                body = r.content
            except requests.RequestException as exc:
                failures.append(f"{u}: {type(exc).__name__}: {exc}")
                continue
            total += len(body)
            if r.status_code != 200:
                failures.append(f"{u}: HTTP {r.status_code}")
            elif not any(t in body for t in _expected(p.title)):
                failures.append(f"{u}: 200 but title {p.title!r} not in the body ({len(body)} bytes)")
            else:
                ok += 1
        seconds = time.perf_counter() - t0
    return ReplayResult(name, len(picks), seconds, ok, failures, total)


@dataclass
class LoadResult:
    name: str
    connections: int
    requests: int
    ok: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load(name: str, url_for: Callable[[Pick], str], picks: list[Pick], connections: int, per_connection: int,
         new_connections: bool = False, timeout: float = 30.0) -> LoadResult:
    """CONNECTIONS clients at once, each asking PER_CONNECTION pages in turn (over one
    keep-alive session, or a new connection each time), every answer checked as in run()."""
    import threading

    result = LoadResult(name, connections, connections * per_connection, 0, 0.0)
    lock = threading.Lock()
    start = threading.Barrier(connections + 1)

    def client(index: int) -> None:
        with requests.Session() as s:
            if new_connections:
                s.headers["Connection"] = "close"
            start.wait()
            for i in range(per_connection):
                p = picks[(index * per_connection + i) % len(picks)]
                t0 = time.perf_counter()
                try:
                    r = s.get(url_for(p), timeout=timeout, allow_redirects=False)
                    good = r.status_code == 200 and any(t in r.content for t in _expected(p.title))
                    problem = None if good else f"{url_for(p)}: HTTP {r.status_code}"
                except requests.RequestException as exc:
                    problem = f"{url_for(p)}: {type(exc).__name__}"
                spent = time.perf_counter() - t0
                with lock:
                    result.latencies.append(spent)
                    if problem:
                        result.failures.append(problem)
                    else:
                        result.ok += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(connections)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t0
    return result
