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
