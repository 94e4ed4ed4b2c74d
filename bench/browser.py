"""Browser mode's cost: the bench site captured by `refuge capture` with plain fetches and in
browser mode (`refuge add --browser`: every page rendered in headless Chromium, its DOM and
a screenshot stored), side by side.

    .venv/bin/python bench/run.py --only browser [--browser-pages 200]

Each mode is captured twice from the same nginx (or Python) server: once timed, once with
the process tree's RSS polled every 20 ms (Chromium and its renderers included, since they
are children of the capture). Prints one `browser:` line (pages per minute of each mode, and
the ratio) and `# ` details (peak RSS, WARC bytes, records); results['browser'] holds them.
The site is the bench's generated site at --browser-pages pages: static HTML, so the
figure is what the browser itself costs, not what a site's scripts make it wait for.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import procs
import siteserver
from captures import MEMORY_POLL, detail, parse_json_out, refuge_bin, refuge_env, tail, warc_files
from scratch import fresh_dir

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
MIB = 1024 * 1024
CHROMIUM = "/usr/bin/chromium"


def capture(site: siteserver.Served, mode: str, data: Path, poll: float | None) -> dict[str, Any]:
    """One `refuge capture` of SITE in MODE ("plain" or "browser"), measured."""
    fresh_dir(data)
    env = refuge_env(data)
    exe = str(refuge_bin())
    flags = ["--browser"] if mode == "browser" else []
    add = subprocess.run([exe, "add", site.url, "--name", "bench", "--scope", "host", "--max-pages", "100000",
                          "--max-depth", "100", *flags], env=env, capture_output=True, text=True, timeout=120)
    if add.returncode != 0:
        return {"ok": False, "error": f"refuge add exited {add.returncode}: {tail(add.stderr + add.stdout)}"}
    run = procs.run_measured([exe, "capture", "bench", "--json"], env=env, log=data.parent / f"{data.name}.capture",
                             poll=poll, timeout=3600)
    out = parse_json_out(run.stdout)
    if run.returncode != 0 or out is None:
        return {"ok": False, "error": f"refuge capture exited {run.returncode}: {tail(run.stderr + run.stdout)}"}
    files = warc_files(data)
    return {"ok": True, "seconds": run.seconds, "cpu_seconds": run.cpu_seconds, "peak_rss": run.peak_rss,
            "pages": out["pages"], "requisites": out.get("requisites", 0), "failed": out.get("failed", 0),
            "warc_bytes": sum(f.stat().st_size for f in files), "json": out}


def run(args: Any, results: dict, ensure_site: Any) -> bool:
    """The browser step: one `browser:` line, details, and results['browser']."""
    res: dict[str, Any] = {}
    results["browser"] = res
    errors: list[str] = results["errors"]
    if not Path(CHROMIUM).exists():
        errors.append(f"browser: {CHROMIUM} is missing (apt-get install chromium)")
        return False
    root = WORK / f"site-{args.browser_pages}"
    manifest = ensure_site(root, args.browser_pages, args.seed)
    server = siteserver.SiteServer(WORK / "browser-server", args.server)
    try:
        site = server.start({"browser": root})[0]
        for mode in ("plain", "browser"):
            timed = capture(site, mode, WORK / f"browser-{mode}", None)
            memory = capture(site, mode, WORK / f"browser-{mode}-memory", MEMORY_POLL)
            if not (timed["ok"] and memory["ok"]):
                errors.append(f"browser: the {mode} capture failed: {timed.get('error') or memory.get('error')}")
                return False
            res[mode] = {**{k: v for k, v in timed.items() if k != "json"}, "peak_rss": memory["peak_rss"],
                         "pages_per_minute": 60 * timed["pages"] / timed["seconds"]}
    finally:
        server.stop()
    plain, browser = res["plain"], res["browser"]
    res["slowdown"] = browser["seconds"] / plain["seconds"]
    res["site_pages"] = len(manifest["pages"])
    print(f"browser: {browser['pages']} pages at {browser['pages_per_minute']:.0f} pages/min in browser mode vs "
          f"{plain['pages_per_minute']:.0f} plain (x{res['slowdown']:.1f} the time); peak RSS "
          f"{browser['peak_rss'] / MIB:.0f} MiB vs {plain['peak_rss'] / MIB:.0f} MiB", flush=True)
    for mode, r in (("plain", plain), ("browser", browser)):
        detail(f"{mode}: {r['seconds']:.1f} s, CPU (user+sys) {r['cpu_seconds']:.1f} s, {r['pages']} pages + "
               f"{r['requisites']} requisites, {r['failed']} failed, WARC {r['warc_bytes'] / MIB:.1f} MiB, "
               f"peak RSS {r['peak_rss'] / MIB:.1f} MiB (process tree, Chromium included, polled every 20 ms "
               "in a run of its own)")
    (WORK / "browser.json").write_text(json.dumps(res, indent=1))
    return True
