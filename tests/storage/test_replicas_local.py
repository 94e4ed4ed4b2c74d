"""Manifests, local fixity and store settings: what works with no remote store at all."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import threading
from pathlib import Path

import pytest

from refuge.cli.main import main
from refuge.cli.scheduler import CaptureScheduler
from refuge.config.errors import BadInput
from refuge.config.settings import load_settings
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog, fixity
from refuge.storage.catalog import replicas
from refuge.storage.replicate import push
from refuge.storage.stores.cid import file_cid, same_cid
from replica_helpers import capture_files, flip_byte, make_capture
from werkzeug.test import Client


def test_every_capture_gets_a_manifest_that_sha256sum_can_check(tmp_settings) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    made = make_capture(tmp_settings.replace(warc_max_bytes=400_000), engine, records=3)
    folder = tmp_settings.archive_dir / made.target / made.capture_id
    check = subprocess.run(["sha256sum", "--strict", "-c", f"{made.capture_id}.sha256"], cwd=folder,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    manifest = json.loads((folder / f"{made.capture_id}.manifest.json").read_text())
    assert manifest["capture"]["id"] == made.capture_id and manifest["capture"]["status"] == "complete"
    data_files = [f for f in capture_files(tmp_settings, engine, made.capture_id) if f["kind"] in ("warc", "cdxj")]
    assert [m["name"] for m in manifest["files"]] == [f["name"] for f in data_files]
    for entry, f in zip(manifest["files"], data_files):
        assert entry["sha256"] == hashlib.sha256(f["local"].read_bytes()).hexdigest()
        assert entry["size"] == f["local"].stat().st_size
        assert same_cid(entry["cid"], file_cid(f["local"]))
        assert entry["locations"] == {"local": {"path": f"archive/{made.target}/{made.capture_id}/{f['name']}"}}
    # Written once: a second push leaves it byte for byte as it was.
    before = (folder / f"{made.capture_id}.manifest.json").read_bytes()
    assert main(["--data", str(tmp_settings.data), "push"]) == 0
    assert (folder / f"{made.capture_id}.manifest.json").read_bytes() == before


def test_local_rot_is_found_and_not_repaired_without_a_good_copy(tmp_settings, capsys) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    made = make_capture(tmp_settings.replace(warc_max_bytes=400_000), engine, records=3)
    assert main(["--data", str(tmp_settings.data), "verify", made.capture_id]) == 0
    files = len(capture_files(tmp_settings, engine, made.capture_id))
    assert f"checked {files} copies: {files} ok" in capsys.readouterr().out
    victim = sorted(made.warcs)[0]
    flip_byte(victim)
    gone = sorted(made.warcs)[1]
    gone.unlink()
    assert main(["--data", str(tmp_settings.data), "verify", "--all", "--repair", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"]["bad"] == 1 and doc["counts"]["missing"] == 1
    bad = {c["file"]: c for c in doc["copies"] if c["result"] != "ok"}
    assert "expected" in bad[victim.name]["reason"] and bad[victim.name]["repaired"] is False
    assert "no intact copy to repair from" in bad[victim.name]["reason"]
    assert "missing" in bad[gone.name]["reason"]
    # The bad file is untouched: nothing "repairs" from nowhere.
    assert victim.exists() and not list(victim.parent.glob("*.bad-*"))


def test_scheduled_audit_records_results_shown_in_targets_and_front_page(tmp_settings, capsys) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    made = make_capture(tmp_settings, engine, records=2)
    scheduler = CaptureScheduler(tmp_settings, engine, threading.Event())
    scheduler.actions.audit()
    target = catalog.get_target(engine, made.target)
    assert replicas.fixity_by_target(engine)[target.id]["status"] == "ok"
    page = Client(make_app(tmp_settings, engine)).get("/").get_data(as_text=True)
    assert "copies intact" in page
    flip_byte(made.warcs[0])
    scheduler.actions.audit()
    assert main(["--data", str(tmp_settings.data), "targets"]) == 0
    assert "1 BAD" in capsys.readouterr().out
    page = Client(make_app(tmp_settings, engine)).get("/").get_data(as_text=True)
    assert "copies bad or missing" in page


@pytest.mark.parametrize("content, needle", [
    ('[s3]\nbucket = "b"\nbukket = "c"\n', "unknown setting 'bukket' in [s3]"),
    ('[s3]\nprefix = "x/"\n', "s3.bucket is required"),
    ('[s3]\nbucket = "b"\naddressing_style = "dns"\n', "s3.addressing_style must be 'path' or 'virtual'"),
    ('[s3]\nbucket = "b"\nendpoint_url = "127.0.0.1:9000"\n', "s3.endpoint_url must be an http(s) URL"),
    ('[ipfs]\napi = "localhost:5001"\n', "ipfs.api must be a multiaddr"),
    ('[ipfs]\ngateways = "https://ipfs.io"\n', "ipfs.gateways: expected a list of strings"),
    ('s3 = "bucket"\n', "[s3] must be a table"),
    ('fixity_every = "often"\n', "setting fixity_every 'often': not a duration"),
])
def test_bad_store_settings_name_the_setting(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "refuge.toml"
    path.write_text(content)
    with pytest.raises(BadInput) as err:
        load_settings(path, environ={})
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_store_settings_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "refuge.toml"
    path.write_text('[s3]\nbucket = "refuge"\nprefix = "archive/"\n[ipfs]\ngateways = ["https://dweb.link"]\n')
    s = load_settings(path, environ={"REFUGE_S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    assert (s.s3.bucket, s.s3.prefix, s.s3.endpoint_url) == ("refuge", "archive/", "http://127.0.0.1:9000")
    assert s.ipfs.gateways == ("https://dweb.link",) and s.ipfs.api == "/ip4/127.0.0.1/tcp/5001/http"
    only_env = load_settings(None, environ={"REFUGE_DATA": str(tmp_path / "none"), "REFUGE_S3_BUCKET": "b"})
    assert only_env.s3.bucket == "b" and only_env.ipfs is None


def test_verify_refuses_a_store_that_is_not_configured(tmp_settings, capsys) -> None:
    assert main(["--data", str(tmp_settings.data), "verify", "--store", "s3"]) == 2
    assert "--store s3: not configured (configured: local)" in capsys.readouterr().err
    assert main(["--data", str(tmp_settings.data), "replicas", "nope"]) == 2
    assert "capture 'nope': no such capture" in capsys.readouterr().err


def test_stores_without_remote_stores_lists_the_local_one(tmp_settings, capsys) -> None:
    assert main(["--data", str(tmp_settings.data), "stores", "--json"]) == 0
    (local,) = json.loads(capsys.readouterr().out)
    assert local["store"] == "local" and local["reachable"] and local["free_bytes"] > 0
    assert fixity.summary([]) == {}


def test_a_running_capture_is_left_alone_until_it_ends(tmp_settings) -> None:
    from replay_helpers import ArchiveWriter

    settings = tmp_settings.replace(warc_max_bytes=100_000)
    engine = catalog.connect(settings.catalog_url)
    writer = ArchiveWriter(settings, engine, "live", "https://live.example/")
    for i in range(3):
        writer.response(f"https://live.example/{i}", random.Random(i).randbytes(150_000))
    assert catalog.capture_files(engine, writer.capture_id), "some files are sealed already"
    report = push(settings, engine)
    assert report.ok and report.failed == []
    assert not [f for f in catalog.capture_files(engine, writer.capture_id) if f["kind"] == "manifest"]
    writer.close()
    assert push(settings, engine).ok
    assert [f for f in catalog.capture_files(engine, writer.capture_id) if f["kind"] == "manifest"]


def test_two_processes_queueing_one_capture_at_once_make_one_manifest(tmp_settings) -> None:
    """The scheduler's tick, a capture ending and a CLI push may all reach a finished
    capture at the same moment: one manifest, one queue row per file and store."""
    from concurrent.futures import ThreadPoolExecutor

    from replay_helpers import ArchiveWriter
    from refuge.storage.replicate import queue_capture

    settings = tmp_settings.replace(warc_max_bytes=200_000)
    engine = catalog.connect(settings.catalog_url)
    with ArchiveWriter(settings, engine, "race", "https://race.example/") as w:
        for i in range(6):
            w.response(f"https://race.example/{i}", random.Random(i).randbytes(120_000))
    barrier = threading.Barrier(4)

    def queue() -> int:
        barrier.wait()
        return len(queue_capture(settings, engine, w.capture_id))

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: queue(), range(4)))
    files = catalog.capture_files(engine, w.capture_id)
    assert [f["kind"] for f in files].count("manifest") == 1 and [f["kind"] for f in files].count("sums") == 1
    assert set(counts) == {len(files)}
    rows = replicas.copies(engine, w.capture_id)
    assert len(rows) == len(files) and {r["store"] for r in rows} == {"local"}
    folder = settings.archive_dir / "race" / w.capture_id
    assert not list(folder.glob(".*.tmp"))
    check = subprocess.run(["sha256sum", "--strict", "-c", f"{w.capture_id}.sha256"], cwd=folder,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
