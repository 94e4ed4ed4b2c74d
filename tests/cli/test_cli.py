"""The `refuge` command as admins and scripts use it: exit codes, one-line errors, JSON."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from werkzeug.test import Client

from refuge.config.settings import load_settings
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from refuge.storage.catalog import index
from servers import free_port

REFUGE = str(Path(sys.executable).with_name("refuge"))


def refuge(data: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    full_env.update({"REFUGE_DATA": str(data), "REFUGE_BACKOFF": "0.05", "REFUGE_TIMEOUT": "5"})
    full_env.update(env or {})
    return subprocess.run([REFUGE, *args], capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL)


PRIVATE_OK = {"REFUGE_ALLOW_PRIVATE_NETWORKS": "true"}


def test_add_list_capture_remove_roundtrip(tmp_path, fixture_site) -> None:
    data = tmp_path / "data"
    added = refuge(data, "add", fixture_site.abs("/km/"), "--name", "km", "--every", "6h", "--scope", "prefix",
                   "--max-pages", "20", "--exclude", "article-2", env=PRIVATE_OK)
    assert added.returncode == 0, added.stderr
    assert "added target km" in added.stdout

    listed = json.loads(refuge(data, "targets", "--json").stdout)
    assert [t["name"] for t in listed] == ["km"]
    assert listed[0]["schedule"] == "every 6h" and listed[0]["status"] == "never captured"

    done = refuge(data, "capture", "km", "--json", env=PRIVATE_OK)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "complete" and summary["pages"] >= 3 and summary["files"] >= 1
    assert {"id", "target", "started", "finished", "status", "pages", "bytes", "files", "seconds"} <= set(summary)
    assert not any("article-2" in p for p in fixture_site.hits.paths())  # --exclude held

    human = refuge(data, "targets")
    assert "km" in human.stdout and "complete" in human.stdout
    captures = json.loads(refuge(data, "captures", "km", "--json").stdout)
    assert [c["id"] for c in captures] == [summary["id"]]

    removed = refuge(data, "remove", "km")
    assert removed.returncode == 0
    assert json.loads(refuge(data, "targets", "--json").stdout) == []
    assert len(json.loads(refuge(data, "captures", "--json").stdout)) == 1  # captures are kept


@pytest.mark.parametrize("args, needle", [
    (["add", "not a url"], "URL 'not a url'"),
    (["add", "ftp://example.org/"], "only http and https"),
    (["add", "https://example.org/", "--cron", "0 0 * *"], "five fields"),
    (["add", "https://example.org/", "--every", "soon"], "--every 'soon'"),
    (["add", "https://example.org/", "--include", "("], "include pattern '('"),
    (["capture", "nobody"], "target 'nobody': no such target"),
    (["remove", "nobody"], "target 'nobody': no such target"),
    (["captures", "nobody"], "target 'nobody'"),
    (["add"], "required: url"),
    (["add", "https://example.org/", "--max-pages", "many"], "--max-pages: 'many'"),
    (["add", "https://example.org/", "--scope", "planet"], "--scope: invalid choice: 'planet'"),
])
def test_bad_input_exits_2_with_one_line_naming_it(tmp_path, args, needle) -> None:
    result = refuge(tmp_path / "data", *args)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert json.loads(refuge(tmp_path / "data", "targets", "--json").stdout) == []


def test_private_address_refused_unless_allowed(tmp_path, fixture_site) -> None:
    data = tmp_path / "data"
    refused = refuge(data, "add", fixture_site.url, "--name", "local")
    assert refused.returncode == 2
    assert "REFUGE_ALLOW_PRIVATE_NETWORKS" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert json.loads(refuge(data, "targets", "--json").stdout) == []
    # A target that points at loopback (added while allowed) is still refused at connect time.
    assert refuge(data, "add", fixture_site.url, "--name", "local", env=PRIVATE_OK).returncode == 0
    fixture_site.hits.clear()
    failed = refuge(data, "capture", "local", "--json")
    assert failed.returncode == 1
    assert "REFUGE_ALLOW_PRIVATE_NETWORKS" in json.loads(failed.stdout)["error"]
    assert len(fixture_site.hits) == 0


def test_unreachable_seed_exits_1_and_is_recorded(tmp_path) -> None:
    data = tmp_path / "data"
    port = free_port()  # nothing listens there
    assert refuge(data, "add", f"http://127.0.0.1:{port}/", "--name", "gone", env=PRIVATE_OK).returncode == 0
    result = refuge(data, "capture", "gone", env={**PRIVATE_OK, "REFUGE_RETRIES": "1"})
    assert result.returncode == 1
    assert result.stderr.startswith("refuge: failed: seed http://127.0.0.1:")
    captures = json.loads(refuge(data, "captures", "--json").stdout)
    assert captures[0]["status"] == "failed" and "network error" in captures[0]["error"]


def test_a_killed_capture_resumes_under_its_id_and_reindexes_what_the_catalog_lost(tmp_path, fixture_site) -> None:
    """SIGKILL during a capture, then the catalog loses the killed run's index (as if it died
    between sealing a file and indexing it): the next capture resumes the same capture, salvages
    the half-written file, indexes every file again, and every page it holds replays."""
    data = tmp_path / "data"
    env = {**PRIVATE_OK, "REFUGE_DELAY": "0.15", "REFUGE_WARC_MAX_BYTES": "20000", "REFUGE_PER_HOST": "1"}
    assert refuge(data, "add", fixture_site.url, "--name", "site", "--scope", "host", env=env).returncode == 0
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    full_env.update({"REFUGE_DATA": str(data), **env})
    proc = subprocess.Popen([REFUGE, "capture", "site"], env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    capture_dir = data / "archive" / "site"
    deadline = time.time() + 30
    while time.time() < deadline and (len(list(capture_dir.glob("*/*.warc.gz"))) < 2
                                      or not list(capture_dir.glob("*/*.open"))):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(capture_dir.glob("*/*.warc.gz"))) >= 2, "the capture should have sealed files before it was killed"
    assert list(capture_dir.glob("*/*.open")), "a file should have been open when it was killed"
    [killed_id] = [p.name for p in capture_dir.iterdir()]
    with sqlite3.connect(data / "catalog.sqlite") as db:
        db.execute("DELETE FROM cdx WHERE capture_id = ?", (killed_id,))
        db.execute("DELETE FROM files WHERE capture_id = ?", (killed_id,))

    again = refuge(data, "capture", "site", "--json", env=env)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert (doc["id"], doc["status"]) == (killed_id, "complete") and doc["resumed"] > 0
    assert [c["id"] for c in json.loads(refuge(data, "captures", "--json").stdout)] == [killed_id]
    assert not list(capture_dir.glob("*/*.open")) and not list(capture_dir.glob("*/*.jsonl"))
    warcs = sorted(capture_dir.glob("*/*.warc.gz"))
    check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", *map(str, warcs)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    engine = catalog.connect(f"sqlite:///{data / 'catalog.sqlite'}", create=False)
    hits = index.capture_hits(engine, killed_id)
    assert {h.filename for h in hits} == {w.name for w in warcs}, "every file, salvaged or sealed, is indexed"
    client = Client(make_app(load_settings(environ={"REFUGE_DATA": str(data)}), engine))
    for path in ("/", "/en/article-1.html", "/km/article-2.html", "/moved/final.html"):
        page = client.get(f"/web/{doc['started'][:4]}id_/{fixture_site.abs(path)}", follow_redirects=True)
        assert page.status_code == 200 and page.data == fixture_site.file_bytes(path), path
    fetches = fixture_site.hits.counts()
    assert max(fetches.values()) <= 2, {path: n for path, n in fetches.items() if n > 2}


def test_capture_pushes_and_publishes_and_names_a_store_that_is_down(tmp_path, fixture_site) -> None:
    """With [ipfs] set and its node down, the capture succeeds and says what could not be copied."""
    data = tmp_path / "data"
    dead = f"http://127.0.0.1:{free_port()}"
    env = {**PRIVATE_OK, "REFUGE_MAX_PAGES": "3", "REFUGE_RETRIES": "1", "REFUGE_IPFS_API": dead,
           "REFUGE_IPFS_GATEWAYS": dead}
    assert refuge(data, "add", fixture_site.url, "--name", "news", "--scope", "host", env=env).returncode == 0
    text = refuge(data, "capture", "news", env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].endswith(" of news: complete")
    pushed = next(i for i, ln in enumerate(lines) if ln.startswith("pushed 0 file(s), 0 B; 0 already there"))
    assert lines[pushed + 1].startswith(f"  ipfs: cannot reach ipfs.api = {dead}")
    assert lines[pushed + 2].endswith("copy(ies) still pending; `refuge push` or the scheduler retries them")
    assert lines[pushed + 3].startswith(f"  published to ipfs: ipfs: cannot reach ipfs.api = {dead}")

    doc = json.loads(refuge(data, "capture", "news", "--json", env=env).stdout)
    assert doc["status"] == "complete" and list(doc)[-2:] == ["replication", "publish"]
    assert doc["replication"]["ok"] is False and "ipfs" in doc["replication"]["store_errors"]
    assert doc["publish"]["ok"] is False and doc["publish"]["capture"] == doc["id"]

    # A capture that fails is pushed (what it sealed) but never published.
    port = free_port()
    assert refuge(data, "add", f"http://127.0.0.1:{port}/", "--name", "gone", env=env).returncode == 0
    failed = refuge(data, "capture", "gone", "--json", env=env)
    assert failed.returncode == 1 and failed.stderr.splitlines()[-1].startswith("refuge: failed: ")
    doc = json.loads(failed.stdout)
    assert doc["status"] == "failed" and "replication" in doc and "publish" not in doc
