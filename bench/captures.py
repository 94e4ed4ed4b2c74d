"""Capture runners for the benchmark: Refuge and wget against the served site, measured
alike (wall time, CPU, peak RSS, what the site server saw, what ended up in the WARCs)."""

from __future__ import annotations

import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import procs
import siteserver
from scratch import fresh_dir

try:
    import psutil
except ImportError:
    psutil = None


def detail(msg: str) -> None:
    print(f"# {msg}", flush=True)


def refuge_bin() -> Path:
    cand = Path(sys.executable).parent / "refuge"
    if cand.exists():
        return cand
    found = shutil.which("refuge")
    if not found:
        raise RuntimeError("no `refuge` command next to this Python or on PATH (pip install -e .)")
    return Path(found)



# --------------------------------------------------------------------------- helpers

def server_cpu(server: siteserver.SiteServer) -> float:
    if psutil is None:
        return 0.0
    total = 0.0
    for p in server.procs:
        try:
            root = psutil.Process(p.pid)
            for q in [root] + root.children(recursive=True):
                t = q.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


def access_summary(reqs: list[tuple[str, str, int]]) -> dict:
    paths = [p for _, p, _ in reqs]
    html = [p for p in paths if p.endswith("/") or p.endswith(".html")]
    return {
        "requests": len(reqs),
        "unique_urls": len(set(paths)),
        "html_requests": len(html),
        "other_requests": len(paths) - len(html),
        "statuses": dict(collections.Counter(str(s) for _, _, s in reqs)),
        "methods": dict(collections.Counter(m for m, _, _ in reqs)),
    }


def warc_files(root: Path) -> list[Path]:
    out = []
    for pat in ("*.warc.gz", "*.warc"):
        out.extend(p for p in root.rglob(pat) if p.is_file())
    return sorted(set(out))


def warc_summary(files: list[Path]) -> dict:
    from warcio.archiveiterator import ArchiveIterator

    types: collections.Counter = collections.Counter()
    uris: set[str] = set()
    size = 0
    for f in files:
        size += f.stat().st_size
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh):
                types[rec.rec_type] += 1
                if rec.rec_type in ("response", "revisit"):
                    uris.add(rec.rec_headers.get_header("WARC-Target-URI"))
    return {"files": len(files), "bytes": size, "records": dict(types), "unique_target_uris": len(uris)}


def parse_json_out(text: str) -> dict | None:
    text = text.strip()
    try:
        v = json.loads(text)
        return v if isinstance(v, dict) else None
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def tail(text: str, n: int = 1500) -> str:
    return text[-n:].strip()


# --------------------------------------------------------------------------- captures

def refuge_env(data: Path) -> dict:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("REFUGE_"):
            del env[k]
    env.update(REFUGE_DATA=str(data), REFUGE_ALLOW_PRIVATE_NETWORKS="true")
    return env


MEMORY_POLL = 0.02  # seconds between RSS samples in the memory runs


def capture_refuge(site: siteserver.Served, name: str, data: Path, server: siteserver.SiteServer,
                   memory: bool = False) -> dict:
    fresh_dir(data)
    env = refuge_env(data)
    exe = str(refuge_bin())
    add = subprocess.run([exe, "add", site.url, "--name", name, "--scope", "host", "--max-pages", "100000",
                          "--max-depth", "100"], env=env, capture_output=True, text=True, timeout=120)
    if add.returncode != 0:
        return {"ok": False, "error": f"refuge add exited {add.returncode}: {tail(add.stderr + add.stdout)}"}
    r, res = _measured(site, server, [exe, "capture", name, "--json"], data.parent / f"{data.name}.capture",
                       memory, env=env)
    out = parse_json_out(r.stdout)
    res.update(ok=r.returncode == 0 and out is not None, json=out, data_dir=str(data))
    if not res["ok"]:
        res["error"] = (f"refuge capture exited {r.returncode}" + ("" if out else ", no JSON on stdout")
                        + f": {tail(r.stderr + r.stdout)}")
        return res
    files = warc_files(data)
    res["warc"] = warc_summary(files)
    res["cdxj_files"] = [str(p) for p in sorted(data.rglob("*.cdxj"))]
    return res


def capture_wget(site: siteserver.Served, out: Path, server: siteserver.SiteServer, memory: bool = False) -> dict:
    fresh_dir(out)
    cmd = ["wget", "--mirror", "--page-requisites", f"--warc-file={out / 'wget'}", "--no-verbose",
           "-e", "robots=off", f"--directory-prefix={out / 'mirror'}", site.url]
    r, res = _measured(site, server, cmd, out / "wget", memory)
    warc = out / "wget.warc.gz"
    # wget exits 8 when the server answered an error for some URL; that is reported, not fatal.
    res.update(ok=r.returncode in (0, 8) and warc.exists(), warc_file=str(warc))
    if not res["ok"]:
        res["error"] = f"wget exited {r.returncode}: {tail(r.stderr)}"
        return res
    res["warc"] = warc_summary([warc])
    return res


def _measured(site: siteserver.Served, server: siteserver.SiteServer, cmd: list[str], log: Path, memory: bool,
              env: dict | None = None) -> tuple[procs.RunResult, dict]:
    """Run one capture command; its measurements and what the site saw of it."""
    off = site.log_offset()
    cpu0 = server_cpu(server)
    r = procs.run_measured(cmd, env=env, log=log, poll=MEMORY_POLL if memory else None)
    res = {
        "returncode": r.returncode,
        "seconds": r.seconds,
        "peak_rss": r.peak_rss,
        "peak_rss_tree_polled": r.peak_rss_tree,
        "maxrss_kernel": r.maxrss_kernel,
        "cpu_seconds": r.cpu_seconds,
        "server_cpu_seconds": server_cpu(server) - cpu0,
        "fetched": access_summary(site.requests_since(off)),
    }
    return r, res


def summarize(runs: list[dict]) -> dict:
    """The run with the median wall time stands for all; peak RSS is the max over runs."""
    if not runs:
        return {"ok": False, "error": "not run"}
    bad = [r for r in runs if not r.get("ok")]
    if bad:
        return bad[0]
    ordered = sorted(runs, key=lambda r: r["seconds"])
    med = dict(ordered[(len(ordered) - 1) // 2])
    med["seconds_all"] = [r["seconds"] for r in runs]
    med["seconds_median"] = statistics.median(med["seconds_all"])
    med["peak_rss_max"] = max(r["peak_rss"] for r in runs)
    return med


def alternate(tools: dict, repeat: int, describe=None, what: str = "run") -> dict[str, list[dict]]:
    """Run each tool REPEAT times, interleaved (a, b, a, b, ...) so that drifting load on a
    shared machine falls on both alike. A tool that fails is not run again. DESCRIBE(r)
    says what a successful run did (default: its time and requests fetched)."""
    describe = describe or (lambda r: f"{r['seconds']:.2f}s, {r['fetched']['requests']} requests")
    runs: dict[str, list[dict]] = {k: [] for k in tools}
    for i in range(repeat):
        for name, fn in tools.items():
            if runs[name] and not runs[name][-1].get("ok"):
                continue
            try:
                r = fn(i)
            except Exception as exc:  # noqa: BLE001 - e.g. the CLI not there yet
                r = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            runs[name].append(r)
            if r.get("ok"):
                detail(f"{name} {what} {i + 1}/{repeat}: {describe(r)}")
            else:
                detail(f"{name} {what} {i + 1}/{repeat} FAILED: {r['error']}")
    return runs
