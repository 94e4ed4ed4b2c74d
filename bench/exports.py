"""Export step of the benchmark: a browsable static copy of the generated site, made by
`refuge export` from the archive of one Refuge capture, and side by side by httrack and by
`wget --mirror --convert-links --page-requisites` from the live site on 127.0.0.1.

The site is the capture step's (`--pages`, cached in bench/.work), served by the same
server (siteserver.py). Refuge captures it once, untimed, into a data dir of its own; then
the three tools are run in turn (captures.alternate), each into an empty output dir, and
each run's median wall time counts. Ratio = the peer's time / Refuge's (higher is better).
Every copy is counted: HTML pages, files and bytes in the site's folder, and what else the
tool wrote beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import procs
import siteserver
from captures import _measured, alternate, capture_refuge, detail, parse_json_out, refuge_bin, refuge_env, tail
from replicas import _compare
from scratch import fresh_dir

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
MIB = 1024 * 1024

EXPORT_TARGET = 2.0  # peer time / `refuge export` time, at least, for each peer
PEERS = ("httrack", "wget")
# httrack: 8 connections (its default, -c8), no robots.txt (-s0: wget runs with robots=off
# and Refuge copies what it captured), no cache or log chatter (-C0: a copy, not a project to
# update later; -q quiet). Its per-second limiters are off (-%! -%c0 -A0): Debian's
# libhttrack 3.49.4 counts milliseconds as seconds (mtime_local() divides tv_usec by 10^6),
# so its default 10 connections/s (5 without -%!) and its 10 MB/s cap wait for the next
# whole second: about one request a second (over 20 minutes for this site instead of ~3 s).
HTTRACK_OPTS = ["-q", "-c8", "-s0", "-C0", "-%!", "-%c0", "-A0"]
# wget: one connection; --adjust-extension because Refuge's pages also end in .html.
WGET_OPTS = ["--mirror", "--convert-links", "--page-requisites", "--adjust-extension", "--no-parent",
             "-e", "robots=off", "-q"]


# --------------------------------------------------------------------------- runs

def copy_summary(out: Path) -> dict[str, Any]:
    """What a tool wrote: the site's folder (named after 127.0.0.1 and the port: `:` for wget,
    `_` for the others) counted, every other file named."""
    pages = files = size = 0
    other: list[str] = []
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(out)
        if len(rel.parts) > 1 and rel.parts[0].startswith("127.0.0.1"):
            files += 1
            size += p.stat().st_size
            pages += p.suffix == ".html"
        else:
            other.append(rel.as_posix())
    return {"pages": pages, "files": files, "bytes": size, "other": other}


def export_refuge(data: Path, out: Path, i: int) -> dict:
    cmd = [str(refuge_bin()), "--data", str(data), "export", "bench", "--out", str(fresh_dir(out)), "--json"]
    r = procs.run_measured(cmd, env=refuge_env(data), log=WORK / f"export-refuge-{i}", timeout=900)
    out_json = parse_json_out(r.stdout)
    res = {"ok": r.returncode == 0 and out_json is not None, "returncode": r.returncode, "seconds": r.seconds,
           "cpu_seconds": r.cpu_seconds, "peak_rss": r.peak_rss, "json": out_json}
    if not res["ok"]:
        res["error"] = (f"refuge export exited {r.returncode}" + ("" if out_json else ", no JSON on stdout")
                        + f": {tail(r.stderr + r.stdout)}")
        return res
    res["copy"] = copy_summary(out)
    return res


def export_peer(name: str, site: siteserver.Served, server: siteserver.SiteServer, out: Path, i: int) -> dict:
    if name == "httrack":
        cmd = ["httrack", site.url, "-O", str(fresh_dir(out)), *HTTRACK_OPTS]
    else:
        cmd = ["wget", *WGET_OPTS, "-P", str(fresh_dir(out)), site.url]
    r, res = _measured(site, server, cmd, WORK / f"export-{name}-{i}", memory=False)
    # wget exits 8 when the server answered an error for some URL: reported, not fatal.
    res["ok"] = r.returncode in ((0, 8) if name == "wget" else (0,))
    if not res["ok"]:
        res["error"] = f"{name} exited {r.returncode}: {tail(r.stderr + r.stdout)}"
        return res
    res["copy"] = copy_summary(out)
    return res


def _describe(r: dict) -> str:
    c = r["copy"]
    return f"{r['seconds']:.2f}s, {c['pages']} pages, {c['files']} files"


# --------------------------------------------------------------------------- the step

def run(args: Any, results: dict, ensure_site: Any) -> bool:
    """The export step: two comparison lines, details, and results['export']. ENSURE_SITE is
    run.py's (the site generated unless cached)."""
    res: dict[str, Any] = {}
    results["export"] = res
    errors: list[str] = results["errors"]
    before = len(errors)
    root = WORK / f"site-{args.pages}"
    manifest = ensure_site(root, args.pages, args.seed)
    server = siteserver.SiteServer(WORK / "export-server", args.server)
    try:
        site = server.start({"export": root})[0]
        detail(f"export site: {len(manifest['pages'])} HTML pages, {len(manifest['assets'])} other files, "
               f"served by {server.description} on 127.0.0.1:{site.port}")
        data = None
        if not args.baseline_only:
            cap = capture_refuge(site, "bench", WORK / "export-data", server)
            res["capture"] = {k: cap.get(k) for k in ("ok", "seconds", "json", "error")}
            if cap["ok"]:
                data = Path(cap["data_dir"])
                detail(f"archive to export: one `refuge capture` of the site ({cap['json'].get('pages')} pages, "
                       f"{cap['warc']['bytes'] / MIB:.1f} MiB of WARC) in {cap['seconds']:.2f}s, not timed below")
            else:
                errors.append(f"export: the capture to export failed: {cap['error']}")
                detail(f"capture for the export FAILED: {cap['error']}")

        tools: dict[str, Any] = {}
        if data is not None:
            tools["refuge"] = lambda i: export_refuge(data, WORK / "export-refuge", i)
        for peer in PEERS:
            tools[peer] = lambda i, peer=peer: export_peer(peer, site, server, WORK / f"export-{peer}", i)
        runs = alternate(tools, args.export_repeat, describe=_describe, what="export")
        sums: dict[str, dict] = {}
        for peer in PEERS:
            res[peer] = {}
            sums |= _compare("export", peer, {k: runs[k] for k in ("refuge", peer) if k in runs}, res[peer],
                             errors, lambda ours, theirs: theirs / ours, f">= {EXPORT_TARGET:g}",
                             skipped=data is None)
        errors[before:] = list(dict.fromkeys(errors[before:]))  # Refuge's failure, once

        detail("each run into an empty dir (the last copy moved aside, deleted when the benchmark ends); refuge: "
               "`refuge --data DIR export bench --out OUT --json` (from the archive); "
               "httrack: `httrack URL -O OUT " + " ".join(HTTRACK_OPTS) + "`; "
               "wget: `wget " + " ".join(WGET_OPTS) + " -P OUT URL` (both from the live site)")
        for name, s in sums.items():
            if not s.get("ok"):
                continue
            c = s["copy"]
            fetched = f"; {s['fetched']['requests']} requests to the site" if "fetched" in s else ""
            detail(f"{name} copy: {c['pages']} HTML pages, {c['files']} files, {c['bytes'] / MIB:.1f} MiB in the "
                   f"site's folder; beside it: {', '.join(c['other']) or 'nothing'}{fetched}")
            detail(f"{name} runs: {', '.join(f'{x:.2f}s' for x in s['seconds_all'])}; CPU (user+sys) of the "
                   f"median run {s['cpu_seconds']:.2f}s")
        counts = {n: s["copy"]["pages"] for n, s in sums.items() if s.get("ok")}
        same = len(set(counts.values())) == 1 and len(manifest["pages"]) in counts.values()
        res["same_pages"] = same
        detail(f"same pages copied: {'yes' if same else 'NO'} ({', '.join(f'{n} {c}' for n, c in counts.items())}; "
               f"the site has {len(manifest['pages'])})")
        if data is not None:
            v0 = procs.run_measured([str(refuge_bin()), "--version"], log=WORK / "export-refuge-version")
            res["refuge_startup_seconds"] = v0.seconds
            detail(f"of Refuge's time, start-up: `refuge --version` takes {v0.seconds:.2f}s")
    finally:
        server.stop()
    return len(errors) == before


def targets(results: dict) -> dict:
    """The export step's entries for results['targets']."""
    exp = results.get("export") or {}
    out = {}
    for peer in PEERS:
        v = exp.get(peer, {}).get("ratio")
        out[f"export_vs_{peer}_ratio"] = {"target": EXPORT_TARGET, "op": ">=", "value": v,
                                          "met": bool(v and v >= EXPORT_TARGET)}
    return out


__all__ = ["EXPORT_TARGET", "run", "targets"]
