"""Replicas in a real S3-compatible store (Swift + s3api) and a real IPFS node, started
on loopback by the test session: copy, copy again, outages, kills, rot and lies."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time

import pytest
import requests

from refuge.cli.main import main
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog, fixity
from refuge.storage.catalog import replicas
from refuge.storage.stores.cid import file_cid, same_cid
from refuge.storage.replicate import push
from refuge.storage.catalog.schema import replicas as replica_rows
from replica_helpers import (LyingNode, capture_files, flip_byte, iter_keys, make_capture, settings_toml,
                             store_settings, subprocess_env, use_credentials)


@pytest.fixture
def both(tmp_settings: Settings, s3_server, s3_bucket, ipfs_node, monkeypatch, tmp_path) -> Settings:
    use_credentials(monkeypatch, s3_server, tmp_path)
    return store_settings(tmp_settings, s3_server, s3_bucket, ipfs_node.api_multiaddr)


def _ipfs(ipfs_node, command: str, **params) -> requests.Response:
    answer = requests.post(f"{ipfs_node.api_url}/api/v0/{command}", params=params, timeout=30)
    return answer


def test_capture_is_copied_to_s3_and_ipfs_and_checkable_from_either_alone(
        both, s3_server, s3_bucket, ipfs_node, fixture_site, tmp_path, capsys) -> None:
    (both.data / "refuge.toml").write_text(settings_toml(both))
    engine = catalog.connect(both.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.abs("/"), name="news", scope="host"))
    assert main(["--data", str(both.data), "capture", "news", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "complete" and summary["replication"]["ok"]

    files = capture_files(both, engine, summary["id"])
    assert {f["kind"] for f in files} == {"warc", "cdxj", "manifest", "sums"}
    client = s3_server.client()
    for f in files:
        key = f"archive/news/{summary['id']}/{f['name']}"
        obj = client.get_object(Bucket=s3_bucket, Key=key)
        body = obj["Body"].read()
        assert body == f["local"].read_bytes(), key
        assert obj["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest() == f["sha256"]
        assert obj["ContentType"] != "binary/octet-stream"
        cid = file_cid(f["local"])
        assert _ipfs(ipfs_node, "cat", arg=cid).content == body
        pins = _ipfs(ipfs_node, "pin/ls", arg=cid, type="recursive").json()["Keys"]
        assert any(same_cid(k, cid) for k in pins)
    assert client.get_object(Bucket=s3_bucket, Key=f"archive/news/{summary['id']}/{files[0]['name']}")[
        "ContentType"] == "application/gzip"

    # An archivist with only the bucket: download the capture's folder, run sha256sum.
    from_s3 = tmp_path / "from-s3"
    from_s3.mkdir()
    for obj in iter_keys(client, s3_bucket, f"archive/news/{summary['id']}/"):
        (from_s3 / obj["Key"].rsplit("/", 1)[1]).write_bytes(
            client.get_object(Bucket=s3_bucket, Key=obj["Key"])["Body"].read())
    sums = f"{summary['id']}.sha256"
    check = subprocess.run(["sha256sum", "--strict", "-c", sums], cwd=from_s3, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(files) - 1  # every file but the list itself

    # ... or with only one CID: the capture's folder on IPFS, through the node's gateway.
    root = replicas.roots(engine, summary["id"])["ipfs"]
    from_ipfs = tmp_path / "from-ipfs"
    from_ipfs.mkdir()
    listing = _ipfs(ipfs_node, "ls", arg=root).json()["Objects"][0]["Links"]
    assert {link["Name"] for link in listing} == {f["name"] for f in files}
    for link in listing:
        answer = requests.get(f"{ipfs_node.gateway_url}/ipfs/{root}/{link['Name']}", timeout=30)
        (from_ipfs / link["Name"]).write_bytes(answer.content)
    check = subprocess.run(["sha256sum", "--strict", "-c", sums], cwd=from_ipfs, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    manifest = json.loads((from_ipfs / f"{summary['id']}.manifest.json").read_text())
    assert manifest["capture"]["url"] == fixture_site.abs("/")
    warc = next(m for m in manifest["files"] if m["kind"] == "warc")
    assert warc["locations"]["s3"]["key"] == f"archive/news/{summary['id']}/{warc['name']}"
    assert same_cid(warc["locations"]["ipfs"]["cid"], warc["cid"])

    # `refuge replicas` says where each copy is; every copy is recorded with its hash.
    assert main(["--data", str(both.data), "replicas", summary["id"], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {(c["file"], c["store"]) for c in doc["copies"]} == {(f["name"], s) for f in files
                                                                for s in ("local", "s3", "ipfs")}
    assert all(c["state"] == "copied" and c["sha256"] == c["expected_sha256"] and c["copied_at"]
               for c in doc["copies"])


def test_pushing_again_uploads_nothing(both, s3_server, s3_bucket, ipfs_node) -> None:
    engine = catalog.connect(both.catalog_url)
    made = make_capture(both, engine, records=4)
    first = push(both, engine)
    assert first.ok and len(first.uploaded) == 2 * len(capture_files(both, engine, made.capture_id))
    client = s3_server.client()
    before = {o["Key"]: (o["ETag"], o["LastModified"]) for o in iter_keys(client, s3_bucket, "archive/")}
    pins_before = _ipfs(ipfs_node, "pin/ls", type="recursive").json()["Keys"]

    again = push(both, engine, ignore_backoff=True)
    # Forget what the catalog knows and push again: the stores themselves say it's there.
    with engine.begin() as conn:
        conn.execute(replica_rows.update().where(replica_rows.c.store != "local").values(state="pending"))
    third = push(both, engine)
    assert again.ok and again.uploaded == [] and again.already_there == []
    assert third.ok and third.uploaded == [] and len(third.already_there) == len(first.uploaded)
    after = {o["Key"]: (o["ETag"], o["LastModified"]) for o in iter_keys(client, s3_bucket, "archive/")}
    assert after == before
    assert _ipfs(ipfs_node, "pin/ls", type="recursive").json()["Keys"] == pins_before


def test_store_down_during_push_then_up_gets_everything(both, s3_server, s3_bucket, ipfs_node) -> None:
    engine = catalog.connect(both.catalog_url)
    made = make_capture(both, engine, records=3)
    names = {f["name"] for f in capture_files(both, engine, made.capture_id)}
    with s3_server.down():
        report = push(both, engine)
        assert "cannot reach s3.endpoint_url" in report.store_errors["s3"]
        assert report.pending == len(names) and not report.ok
        assert {e["file"] for e in report.uploaded if e["store"] == "ipfs"} == names
        rows = [c for c in replicas.copies(engine, made.capture_id) if c["store"] == "s3"]
        assert all(r["state"] == "pending" and r["attempts"] == 1 and r["next_attempt_at"] for r in rows)
        # The scheduler's tick waits out the backoff instead of hammering a dead store.
        assert push(both, engine, ignore_backoff=False).uploaded == []
    report = push(both, engine)
    assert report.ok and {e["file"] for e in report.uploaded} == names
    keys = {o["Key"].rsplit("/", 1)[1] for o in iter_keys(s3_server.client(), s3_bucket, "archive/")}
    assert keys == names


def test_push_killed_midway_then_rerun_gets_everything_once(both, s3_server, s3_bucket, ipfs_node,
                                                           tmp_path) -> None:
    settings = both.replace(warc_max_bytes=2_000_000, s3=both.s3.__class__(
        **{**both.s3.__dict__, "part_size": 5 * 1024 * 1024, "concurrency": 1}))
    engine = catalog.connect(settings.catalog_url)
    made = make_capture(settings, engine, records=12, payload_size=2_500_000)
    expected = {f["name"] for f in capture_files(settings, engine, made.capture_id)}
    assert len(expected) >= 20
    (settings.data / "refuge.toml").write_text(settings_toml(settings))
    cmd = [sys.executable, "-m", "refuge.cli.main", "--data", str(settings.data), "push"]
    proc = subprocess.Popen(cmd, env=subprocess_env(s3_server, tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        copied = [c for c in replicas.copies(engine, made.capture_id) if c["store"] == "s3" and c["state"] == "copied"]
        if copied:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    done = [c for c in replicas.copies(engine, made.capture_id) if c["store"] != "local" and c["state"] == "copied"]
    assert 0 < len(done) < 2 * len(expected), "the kill should land midway"

    rerun = subprocess.run(cmd, env=subprocess_env(s3_server, tmp_path), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    client = s3_server.client()
    keys = [o["Key"].rsplit("/", 1)[1] for o in iter_keys(client, s3_bucket, "archive/")]
    assert sorted(keys) == sorted(expected)  # each once, none missing
    unfinished = client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert unfinished == []
    folder = f"{settings.ipfs.mfs_root}/{made.target}/{made.capture_id}"
    entries = _ipfs(ipfs_node, "files/ls", arg=folder).json()["Entries"]
    assert sorted(e["Name"] for e in entries) == sorted(expected)
    checks = fixity.verify(settings, engine, [made.capture_id])
    assert {c.result for c in checks} == {"ok"} and len(checks) == 3 * len(expected)


def test_flipped_bytes_in_s3_and_on_disk_are_found_and_repaired(both, s3_server, s3_bucket, capsys) -> None:
    settings = both.replace(ipfs=None, warc_max_bytes=400_000)
    engine = catalog.connect(settings.catalog_url)
    made = make_capture(settings, engine, records=3)
    assert push(settings, engine).ok
    (settings.data / "refuge.toml").write_text(settings_toml(settings))
    warcs = sorted(made.warcs)
    s3_victim, local_victim = warcs[0], warcs[1]
    key = f"archive/{made.target}/{made.capture_id}/{s3_victim.name}"
    flip_byte(s3_server.object_data_file(s3_bucket, key))
    flip_byte(local_victim)

    assert main(["--data", str(settings.data), "verify", made.capture_id]) == 1
    out = capsys.readouterr().out
    assert f"BAD: s3 {made.capture_id}/{s3_victim.name}: sha256" in out
    assert f"BAD: local {made.capture_id}/{local_victim.name}: sha256" in out
    assert out.count("BAD:") == 2

    client = s3_server.client()
    prefix = f"archive/{made.target}/{made.capture_id}/"
    good_local = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in warcs if p != local_victim}
    good_s3 = {o["Key"]: (o["LastModified"], o["ETag"]) for o in
               client.list_objects_v2(Bucket=s3_bucket, Prefix=prefix)["Contents"] if o["Key"] != key}
    assert good_local and good_s3

    assert main(["--data", str(settings.data), "verify", made.capture_id, "--repair", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # Only the bad copies were touched: every good one is the same file, the same object.
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in warcs if p != local_victim} == good_local
    assert {o["Key"]: (o["LastModified"], o["ETag"]) for o in
            client.list_objects_v2(Bucket=s3_bucket, Prefix=prefix)["Contents"] if o["Key"] != key} == good_s3
    fixed = {(c["store"], c["file"]): c["repaired_from"] for c in doc["copies"] if c["repaired"]}
    assert fixed == {("s3", s3_victim.name): "local", ("local", local_victim.name): "s3"}
    assert main(["--data", str(settings.data), "verify", made.capture_id]) == 0
    assert "checked" in capsys.readouterr().out
    original = hashlib.sha256(local_victim.read_bytes()).hexdigest()
    assert original == next(f["sha256"] for f in capture_files(settings, engine, made.capture_id)
                            if f["name"] == local_victim.name)
    assert list(local_victim.parent.glob(f"{local_victim.name}.bad-*")), "the bad copy is kept as evidence"
    body = s3_server.client().get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(s3_victim.read_bytes()).hexdigest()
    # The targets list shows the last fixity result.
    assert main(["--data", str(settings.data), "targets", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["fixity"]["status"] == "ok"


def test_a_node_serving_wrong_bytes_is_caught(tmp_settings, ipfs_node, monkeypatch, tmp_path) -> None:
    use_credentials(monkeypatch, None, tmp_path)
    settings = store_settings(tmp_settings, ipfs_api=ipfs_node.api_multiaddr)
    engine = catalog.connect(settings.catalog_url)
    made = make_capture(settings, engine, records=2)
    assert push(settings, engine).ok
    assert {c.result for c in fixity.verify(settings, engine, stores=["ipfs"])} == {"ok"}
    with LyingNode(ipfs_node.api_url) as liar:
        lied_to = settings.replace(ipfs=settings.ipfs.__class__(**{**settings.ipfs.__dict__, "api": liar.api}))
        checks = fixity.verify(lied_to, engine, stores=["ipfs"])
        # Repair cannot help: the node keeps lying, and the copy stays reported bad.
        repaired = fixity.verify(lied_to, engine, stores=["ipfs"], repair=True)
    bad = [c for c in checks if c.result == "bad"]
    assert len(bad) == len(capture_files(settings, engine, made.capture_id))
    assert all("the node served bytes whose CID is" in c.reason for c in bad)
    still_bad = [c for c in repaired if c.result == "bad"]
    assert len(still_bad) == len(bad) and all(c.repaired is False for c in still_bad)


def test_missing_credentials_or_wrong_endpoint_is_named_and_the_capture_still_succeeds(
        tmp_settings, s3_server, s3_bucket, fixture_site, monkeypatch, tmp_path, capsys) -> None:
    use_credentials(monkeypatch, None, tmp_path)  # no credentials anywhere
    settings = store_settings(tmp_settings, s3_server, s3_bucket)
    (settings.data / "refuge.toml").write_text(settings_toml(settings))
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.abs("/"), name="news", scope="host"))
    assert main(["--data", str(settings.data), "capture", "news"]) == 0
    out = capsys.readouterr().out
    assert "s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in out
    assert catalog.list_captures(engine, "news")[0]["status"] == "complete"
    assert main(["--data", str(settings.data), "verify", "--store", "local"]) == 0
    capsys.readouterr()

    wrong = store_settings(tmp_settings, s3_server, s3_bucket, endpoint_url="http://127.0.0.1:9")
    (settings.data / "refuge.toml").write_text(settings_toml(wrong))
    use_credentials(monkeypatch, s3_server, tmp_path)
    assert main(["--data", str(settings.data), "push"]) == 1
    assert "s3: cannot reach s3.endpoint_url = http://127.0.0.1:9" in capsys.readouterr().out
    assert main(["--data", str(settings.data), "stores"]) == 1
    out = capsys.readouterr().out
    assert "cannot reach s3.endpoint_url" in out and "local" in out

    (settings.data / "refuge.toml").write_text(settings_toml(settings))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    assert main(["--data", str(settings.data), "push"]) == 1
    assert "refused the credentials" in capsys.readouterr().out


def test_stores_reports_each_store(both, capsys) -> None:
    (both.data / "refuge.toml").write_text(settings_toml(both))
    assert main(["--data", str(both.data), "stores", "--json"]) == 0
    docs = {d["store"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(docs) == {"local", "s3", "ipfs"}
    assert all(d["reachable"] for d in docs.values())
    assert docs["ipfs"]["version"] and docs["local"]["free_bytes"] > 0


def test_the_scheduler_replicates_each_capture_and_retries_a_store_that_was_down(
        both, s3_server, s3_bucket, fixture_site) -> None:
    import threading

    from refuge.cli.scheduler import CaptureScheduler

    settings = both.replace(ipfs=None, startup_spread=0.0, sync_seconds=0.3, replicate_seconds=0.5)
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.abs("/km/"), name="km", every="1h", max_pages=3))
    scheduler = CaptureScheduler(settings, engine, threading.Event())
    with s3_server.down():
        scheduler.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not [
                    c for c in catalog.list_captures(engine, "km") if c["status"] == "complete"]:
                time.sleep(0.1)
            capture_id = catalog.list_captures(engine, "km")[0]["id"]

            def s3_rows() -> list[dict]:
                return [c for c in replicas.copies(engine, capture_id) if c["store"] == "s3"]

            # Wait for the post-capture push to meet the dead store and record why.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                    s3_rows() and all(c["last_error"] for c in s3_rows())):
                time.sleep(0.1)
            assert s3_rows() and all(c["state"] == "pending" and c["last_error"] for c in s3_rows())
        except BaseException:
            scheduler.shutdown()
            raise
    try:
        # Backoff: the first retry is due 30 s after the failure; make it due now.
        with engine.begin() as conn:
            conn.execute(replica_rows.update().values(next_attempt_at=None))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
                c["state"] == "pending" for c in replicas.copies(engine, capture_id)):
            time.sleep(0.2)
    finally:
        scheduler.shutdown()
    names = {f["name"] for f in capture_files(settings, engine, capture_id)}
    keys = {o["Key"].rsplit("/", 1)[1] for o in iter_keys(s3_server.client(), s3_bucket, "archive/")}
    assert keys == names


def test_a_file_damaged_before_its_push_never_reaches_the_bucket(both, s3_server, s3_bucket) -> None:
    """S3 was down for a while and a local file rotted meanwhile: the push refuses to put
    the damaged bytes in the bucket under the good hash, and says what to run."""
    settings = both.replace(ipfs=None, warc_max_bytes=400_000)
    engine = catalog.connect(settings.catalog_url)
    made = make_capture(settings, engine, records=3)
    victim = sorted(made.warcs)[0]
    flip_byte(victim)
    report = push(settings, engine)
    assert not report.ok
    (failure,) = [e for e in report.failed if e["file"] == victim.name]
    assert "no longer has the SHA-256 it was sealed with" in failure["error"]
    assert f"refuge verify {made.capture_id} --repair" in failure["error"]
    keys = {o["Key"].rsplit("/", 1)[1] for o in iter_keys(s3_server.client(), s3_bucket, "archive/")}
    assert victim.name not in keys and len(keys) == len(capture_files(settings, engine, made.capture_id)) - 1
