"""Reliability step of the benchmark: a capture killed again and again, resumed each time.

The site is the small variant of the capture step's (`--small-pages`), served by the same
server. `refuge capture` runs in a process group of its own and the whole group (the
coordinator and its workers) gets SIGKILL `--kills` times, each once the site has received
a random share of its URLs since the run began; then it runs to the end. The kill loop is
the one the tests use (tests/support/kill_loop.py), so the figures and the tests measure
the same thing.

Side by side, the same kills with `refuge capture --fresh` after each one: what every kill
cost before captures could resume (everything fetched before it is fetched again).

Reported: records lost (URLs the site answered that the final capture does not hold; must
be 0), URLs fetched again (as a share of the site's URLs; the goal is under 15%), whether
`warcio check` passes on every file, and the time in all. No peer here resumes a WARC
capture the way it is measured (wget and httrack start over), so --fresh stands for them.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import siteserver
from captures import detail, refuge_bin, refuge_env, tail
from scratch import fresh_dir

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE.parent / "tests" / "support"))
from kill_loop import capture_with_kills  # noqa: E402 - the tests' kill loop, on purpose

REFETCH_TARGET = 0.15  # URLs fetched again / the site's URLs, at most


class LogCounter:
    """Requests the site has logged so far, counted from the new bytes of its access log."""

    def __init__(self, log: Path) -> None:
        self.log, self.offset, self.count = log, log.stat().st_size if log.exists() else 0, 0

    def __call__(self) -> int:
        with open(self.log, "rb") as fh:
            fh.seek(self.offset)
            new = fh.read()
        self.offset += len(new)
        self.count += new.count(b"\n")
        return self.count


def kill_run(site: siteserver.Served, mode: str, kills: int, urls: int, seed: int) -> dict[str, Any]:
    """Capture SITE killed KILLS times, resuming (mode 'resume') or starting over ('fresh')."""
    data = WORK / f"reliability-{mode}"
    fresh_dir(data)
    env = refuge_env(data)
    exe = str(refuge_bin())
    add = subprocess.run([exe, "add", site.url, "--name", "bench", "--scope", "host", "--max-pages", "100000",
                          "--max-depth", "100"], env=env, capture_output=True, text=True, timeout=120)
    if add.returncode != 0:
        return {"ok": False, "error": f"refuge add exited {add.returncode}: {tail(add.stderr + add.stdout)}"}
    command = [exe, "capture", "bench", "--json"] + (["--fresh"] if mode == "fresh" else [])
    share = urls / (kills + 1)
    offset = site.log_offset()
    try:
        run = capture_with_kills(command, env, LogCounter(site.access_log), kills, random.Random(seed),
                                 per_run=(max(1, int(0.2 * share)), max(2, int(share))), timeout=600)
    except AssertionError as exc:
        return {"ok": False, "error": str(exc)}
    served = site.requests_since(offset)
    fetched = Counter(path for method, path, _ in served if method == "GET")
    answered = {path for method, path, status in served if method == "GET" and status == 200}
    capture_id = run.final["id"]
    with sqlite3.connect(data / "catalog.sqlite") as db:
        held = {row[0] for row in db.execute("SELECT url FROM cdx WHERE capture_id = ?", (capture_id,))}
    held_paths = {"/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/" for url in held}
    warcs = sorted((data / "archive" / "bench" / capture_id).glob("*.warc.gz"))
    check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", *map(str, warcs)],
                           capture_output=True, text=True)
    again = sum(n - 1 for n in fetched.values())
    return {
        "ok": True, "status": run.final["status"], "kills": kills, "seconds": run.seconds,
        "urls": len(fetched), "requests": sum(fetched.values()), "fetched_again": again,
        "fetched_again_share": again / max(1, len(fetched)), "most_fetches_of_one_url": max(fetched.values()),
        "records_lost": len(answered - held_paths), "warcio_check": check.returncode == 0,
        "warc_files": len(warcs), "resumed_outcomes": run.final.get("resumed", 0),
    }


def run(args: Any, results: dict, ensure_site: Any) -> bool:
    """The reliability step: one comparison line, details, and results['reliability']."""
    res: dict[str, Any] = {}
    results["reliability"] = res
    errors: list[str] = results["errors"]
    before = len(errors)
    pages = args.small_pages or args.pages
    root = WORK / f"site-{pages}"
    manifest = ensure_site(root, pages, args.seed)
    urls = len(manifest["pages"]) + len(manifest["assets"])
    server = siteserver.SiteServer(WORK / "reliability-server", args.server)
    try:
        site = server.start({"reliability": root})[0]
        detail(f"reliability site: {len(manifest['pages'])} HTML pages and {len(manifest['assets'])} other files, "
               f"served by {server.description}; {args.kills} SIGKILLs of the whole capture process group, "
               f"each once the site has received 20-100% of 1/{args.kills + 1} of its URLs since the run began")
        for mode in ("resume", "fresh"):
            t0 = time.perf_counter()
            res[mode] = r = kill_run(site, mode, args.kills, urls, args.seed)
            if not r["ok"]:
                errors.append(f"reliability ({mode}): {r['error']}")
                detail(f"kill loop ({mode}) FAILED: {r['error']}")
                continue
            detail(f"kill loop ({'resuming' if mode == 'resume' else '--fresh after each kill'}): {r['status']} "
                   f"after {r['kills']} kills in {time.perf_counter() - t0:.1f}s; {r['requests']} requests for "
                   f"{r['urls']} URLs, {r['fetched_again']} fetched again ({r['fetched_again_share']:.1%}), "
                   f"at most {r['most_fetches_of_one_url']} fetches of one URL; records lost {r['records_lost']}; "
                   f"warcio check {'passed' if r['warcio_check'] else 'FAILED'} on {r['warc_files']} files")
        ours, theirs = res.get("resume", {}), res.get("fresh", {})
        if ours.get("ok") and theirs.get("ok"):
            print(f"kill_loop: {ours['kills']} kills, records lost {ours['records_lost']}, URLs fetched again "
                  f"{ours['fetched_again_share']:.1%} resuming vs {theirs['fetched_again_share']:.1%} starting over",
                  flush=True)
            if ours["records_lost"] or not ours["warcio_check"] or ours["status"] != "complete":
                errors.append("reliability: the resumed capture lost records, failed warcio check or did not "
                              "end complete")
        else:
            print("kill_loop: FAILED", flush=True)
    finally:
        server.stop()
    return len(errors) == before


def targets(results: dict) -> dict:
    """The reliability step's entries for results['targets']."""
    ours = (results.get("reliability") or {}).get("resume") or {}
    share = ours.get("fetched_again_share") if ours.get("ok") else None
    return {"kill_loop_fetched_again_share": {"target": REFETCH_TARGET, "op": "<=", "value": share,
                                              "met": share is not None and share <= REFETCH_TARGET}}
