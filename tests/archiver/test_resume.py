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
        fetched = site.hits.counts()
        assert max(fetched.values()) <= 2, {p: n for p, n in fetched.items() if n > 2}
        refetched = sum(n - 1 for n in fetched.values())

        folder = data / "archive" / "many" / summary["id"]
        warcs = sorted(folder.glob("*.warc.gz"))
        assert not list(folder.glob("*.open")) and {h.filename for h in hits} <= {w.name for w in warcs}
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
