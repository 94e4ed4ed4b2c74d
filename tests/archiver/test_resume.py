"""Resumable captures: a capture killed at any moment goes on under its id, nothing lost.

The end-to-end test kills a real `refuge capture` (coordinator and workers) 20 times at
random moments while it captures a site of 400 pages (800 URLs), then checks what an
archivist and a reader would: one complete capture, every URL of the site indexed and
replayable byte for byte, every WARC file valid for `warcio check`, and no URL fetched
more than twice.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from kamnotra_site import KamnotraSite
from kill_loop import capture_with_kills
from many_pages_site import serve
from werkzeug.test import Client

from refuge.config.settings import load_settings
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from refuge.storage.catalog import index

BIN = Path(sys.executable).parent
SEED = int(os.environ.get("REFUGE_KILL_SEED", "20261204"))  # set it to replay a failing run


def test_a_capture_killed_twenty_times_ends_complete_with_nothing_lost_or_fetched_thrice(tmp_path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    env.update({"REFUGE_DATA": str(data), "REFUGE_ALLOW_PRIVATE_NETWORKS": "true", "REFUGE_WORKERS": "4",
                "REFUGE_PER_HOST": "2", "REFUGE_PROCESSES": "2", "REFUGE_MAX_DEPTH": "20",
                "REFUGE_MAX_PAGES": "1000", "REFUGE_WARC_MAX_BYTES": "40000", "REFUGE_TIMEOUT": "10"})
    with serve(pages=400, delay=0.02) as site:
        added = subprocess.run([str(BIN / "refuge"), "add", site.url, "--name", "many"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        run = capture_with_kills([str(BIN / "refuge"), "capture", "many", "--json"], env, lambda: len(site.hits),
                                 kills=20, rng=random.Random(SEED))
        summary = run.final
        assert summary["status"] == "complete" and summary["resumed"] > 0, summary
        engine = catalog.connect(f"sqlite:///{data / 'catalog.sqlite'}", create=False)
        assert [c["id"] for c in catalog.list_captures(engine)] == [summary["id"]], "one capture, resumed 20 times"

        hits = index.capture_hits(engine, summary["id"])
        indexed = {h.url.removeprefix(site.origin) for h in hits}
        assert indexed == set(site.paths()), f"missing: {sorted(set(site.paths()) - indexed)[:10]}"
        # Read back, not written twice: a record the killed run wrote whole is the one kept.
        assert len(hits) == len(indexed), f"{len(hits) - len(indexed)} URLs recorded twice"
        fetched = site.hits.counts()
        assert max(fetched.values()) <= 2, {p: n for p, n in fetched.items() if n > 2}
        refetched = sum(n - 1 for n in fetched.values())

        folder = data / "archive" / "many" / summary["id"]
        warcs = sorted(folder.glob("*.warc.gz"))
        assert not list(folder.glob("*.open")) and {h.filename for h in hits} <= {w.name for w in warcs}
        # The capture counts every file of every run, salvaged ones included.
        assert summary["files"] == len(warcs) == len(summary["warcs"])
        assert summary["bytes"] == sum(w.stat().st_size for w in warcs)
        check = subprocess.run([str(BIN / "warcio"), "check", *map(str, warcs)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-3000:]

        client = Client(make_app(load_settings(environ={"REFUGE_DATA": str(data)}), engine))
        for path in site.paths():
            replayed = client.get(f"/web/{summary['started'][:4]}id_/{site.origin}{path}", follow_redirects=True)
            assert replayed.status_code == 200 and replayed.data == site.body(path)[0], path
        print(f"20 kills: {sum(run.new_requests)} requests in the killed runs, {refetched} URLs fetched twice "
              f"of {len(site.paths())}, {run.seconds:.1f} s in all")


def test_a_database_capture_killed_midway_resumes_to_a_complete_snapshot(tmp_path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    env.update({"REFUGE_DATA": str(data), "REFUGE_ALLOW_PRIVATE_NETWORKS": "true", "REFUGE_WORKERS": "2",
                "REFUGE_DELAY": "0.04", "REFUGE_TIMEOUT": "10"})
    with KamnotraSite() as site:
        spec = tmp_path / "gazette.toml"
        spec.write_text(site.gazetteer_spec(), encoding="utf-8")
        added = subprocess.run([str(BIN / "refuge"), "add", site.url("/"), "--name", "gazette", "--kind", "database",
                                "--spec", str(spec), "--max-pages", "500"], env=env, capture_output=True, text=True,
                               timeout=60)
        assert added.returncode == 0, added.stderr
        run = capture_with_kills([str(BIN / "refuge"), "capture", "gazette", "--json"], env,
                                 lambda: len(site.requests_log), kills=3, rng=random.Random(SEED), per_run=(5, 15))
        summary, snap = run.final, run.final["snapshot"]
        assert summary["status"] == "complete" and summary["resumed"] > 0
        assert snap["complete"] and (snap["expected"], snap["records"], snap["rows"]) == (23, 23, 46), snap
        assert snap["attachments"] == 23 and snap["attachments_failed"] == 0
        fetched = Counter(site.requests_log)
        assert max(fetched.values()) <= 2, {p: n for p, n in fetched.items() if n > 2}
        out = tmp_path / "rows.jsonl"
        dataset = subprocess.run([str(BIN / "refuge"), "dataset", "gazette", "--format", "jsonl", "--out", str(out)], env=env,
                                 capture_output=True, text=True, timeout=60)
        assert dataset.returncode == 0, dataset.stderr
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        got = sorted((str(r["id"]), r["lang"], r["url"], r["title"]) for r in rows)
        want = sorted((str(r["id"]), r["lang"], r["url"], r["title"]) for r in site.gazetteer_expected())
        assert got == want


def _disk_of(limit: int):  # noqa: ANN202 - a preexec_fn
    """For a child process: files it writes stop growing at LIMIT bytes, as on a full disk
    (the write fails with EFBIG instead of ENOSPC; the capture cannot tell them apart)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_stops_the_capture_with_the_data_directory_named_and_it_resumes_once_there_is_room(
        tmp_path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    env.update({"REFUGE_DATA": str(data), "REFUGE_ALLOW_PRIVATE_NETWORKS": "true", "REFUGE_WORKERS": "2",
                "REFUGE_PROCESSES": "1", "REFUGE_MAX_DEPTH": "20", "REFUGE_TIMEOUT": "10"})
    # 300 images of 40 KB that do not compress: 12 MB of WARC, past the 8 MB "disk".
    with serve(pages=300, delay=0.0, image_bytes=40_000) as site:
        refuge = [str(BIN / "refuge")]
        assert subprocess.run([*refuge, "add", site.url, "--name", "many"], env=env, capture_output=True,
                              timeout=60).returncode == 0
        # Room for the catalog and its write-ahead log, not for the WARC file.
        full = subprocess.run([*refuge, "capture", "many"], env=env, capture_output=True, text=True, timeout=120,
                              preexec_fn=_disk_of(8 * 1024 * 1024))
        assert full.returncode == 1, full.stderr
        message = full.stderr.strip().splitlines()[-1]
        assert message.startswith("refuge: failed: cannot write ") and str(data) in message, message
        assert "resumes" in message
        [open_file] = list((data / "archive" / "many").glob("*/*.warc.gz.open"))

        again = subprocess.run([*refuge, "capture", "many", "--json"], env=env, capture_output=True, text=True,
                               timeout=120)
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)
        assert summary["id"] == open_file.parent.name and summary["status"] == "complete"
        engine = catalog.connect(f"sqlite:///{data / 'catalog.sqlite'}", create=False)
        indexed = {h.url.removeprefix(site.origin) for h in index.capture_hits(engine, summary["id"])}
        assert indexed == set(site.paths())
        warcs = sorted(open_file.parent.glob("*.warc.gz"))
        check = subprocess.run([str(BIN / "warcio"), "check", *map(str, warcs)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-3000:]
        assert max(site.hits.counts().values()) <= 2
