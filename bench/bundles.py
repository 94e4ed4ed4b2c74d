"""Bundle step of the benchmark: the time to write the capture of the 2,000-page site as a ZIM
file (`refuge bundle bench --format zim`), and the ZIM's size against the static export's.

The site is the capture step's (`--pages`, cached in bench/.work), served by the same server
(siteserver.py) and captured once by Refuge, untimed. Then, alternating (captures.alternate),
`refuge export` alone and `refuge bundle --format zim` (which exports too, into a scratch
folder, then writes the ZIM with its title and full-text indexes); the median wall time of
each counts, and the ZIM's own share is the difference. Sizes: the export's files (the
tree a mirror uploads) against the one ZIM file; memory: one more run of each, polled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import procs
import siteserver
from captures import alternate, capture_refuge, detail, parse_json_out, refuge_bin, refuge_env, summarize, tail
from scratch import fresh_dir

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
MIB = 1024 * 1024


def _run(cmd: list[str], data: Path, log: str, poll: float | None = None) -> dict[str, Any]:
    r = procs.run_measured(cmd, env=refuge_env(data), log=WORK / log, timeout=1800, poll=poll)
    doc = parse_json_out(r.stdout)
    res = {"ok": r.returncode == 0 and doc is not None, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds,
           "peak_rss": r.peak_rss, "json": doc}
    if not res["ok"]:
        res["error"] = f"{' '.join(cmd[3:5])} exited {r.returncode}: {tail(r.stderr + r.stdout)}"
    return res


def export_once(data: Path, i: int, poll: float | None = None) -> dict[str, Any]:
    out = fresh_dir(WORK / "bundle-export")
    return _run([str(refuge_bin()), "--data", str(data), "export", "bench", "--out", str(out), "--json"], data,
                f"bundle-export-{i}", poll)


def zim_once(data: Path, i: int, poll: float | None = None) -> dict[str, Any]:
    out = fresh_dir(WORK / "bundle-zim") / "bench.zim"
    return _run([str(refuge_bin()), "--data", str(data), "bundle", "bench", "--format", "zim", "--out", str(out),
                 "--json"], data, f"bundle-zim-{i}", poll)


def run(args: Any, results: dict, ensure_site: Any) -> bool:
    """The bundle step: one `zim:` line, details, and results['bundles']."""
    res: dict[str, Any] = {}
    results["bundles"] = res
    errors: list[str] = results["errors"]
    before = len(errors)
    root = WORK / f"site-{args.pages}"
    manifest = ensure_site(root, args.pages, args.seed)
    server = siteserver.SiteServer(WORK / "bundle-server", args.server)
    try:
        site = server.start({"bundle": root})[0]
        cap = capture_refuge(site, "bench", WORK / "bundle-data", server)
        if not cap["ok"]:
            errors.append(f"bundles: the capture to bundle failed: {cap['error']}")
            return False
        data = Path(cap["data_dir"])
        detail(f"bundle site: {len(manifest['pages'])} HTML pages, captured once by `refuge capture` "
               f"({cap['warc']['bytes'] / MIB:.1f} MiB of WARC), not timed")
    finally:
        server.stop()
    runs = alternate({"export": lambda i: export_once(data, i), "zim": lambda i: zim_once(data, i)},
                     args.export_repeat, describe=lambda r: f"{r['seconds']:.2f}s", what="bundle")
    sums = {name: summarize(r) for name, r in runs.items()}
    if not all(s.get("ok") for s in sums.values()):
        errors += [f"bundles: {name}: {s.get('error')}" for name, s in sums.items() if not s.get("ok")]
        detail("bundle step FAILED: " + "; ".join(errors[before:]))
        return False
    exp, zim = sums["export"], sums["zim"]
    export_bytes, zim_bytes = exp["json"]["bytes"], zim["json"]["size"]
    memory = zim_once(data, 99, poll=0.02)
    res.update(export_seconds=exp["seconds"], zim_seconds=zim["seconds"], zim_cpu_seconds=zim["cpu_seconds"],
               export_bytes=export_bytes, zim_bytes=zim_bytes, files=zim["json"]["entries"],
               pages=exp["json"]["pages"], zim_peak_rss=memory.get("peak_rss"),
               size_ratio=zim_bytes / export_bytes, seconds_all=[r["seconds"] for r in runs["zim"]])
    print(f"zim: bundle {res['pages']} pages in {zim['seconds']:.2f} s (export alone {exp['seconds']:.2f} s, "
          f"the ZIM {zim['seconds'] - exp['seconds']:.2f} s); ZIM {zim_bytes / MIB:.1f} MiB = "
          f"{100 * res['size_ratio']:.0f}% of the export's {export_bytes / MIB:.1f} MiB", flush=True)
    detail(f"zim runs: {', '.join(f'{x:.2f}s' for x in res['seconds_all'])}; CPU (user+sys) of the median run "
           f"{zim['cpu_seconds']:.2f}s; peak RSS {(memory.get('peak_rss') or 0) / MIB:.1f} MiB "
           f"(process tree, polled every 20 ms in a run of its own); {res['files']} files in the ZIM, with a "
           f"title index and a full-text index (Khmer terms included)")
    return len(errors) == before


__all__ = ["run"]
