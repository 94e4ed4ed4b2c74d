"""Published mirrors through the real servers: the fixture site captured, exported,
uploaded to Swift (S3) and js-ipfs, read back through the object store's public URL
and the node's gateway, listed in a signed mirror list that `minisign` verifies, and
checked for reachability while the IPFS node is stopped and started again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import requests

import fixture_site as fs
from link_checker import check_site
from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.store_settings import IpfsSettings, S3Settings
from refuge.config.targets import make_target
from refuge.mirror.publish import mirror_list
from refuge.mirror.replay.app import make_app
from refuge.mirror.publish.check import check_mirrors
from refuge.mirror.publish.publisher import publish
from refuge.mirror.publish.signing import verify
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog, mirror_files
from refuge.storage.catalog import mirrors
from replica_helpers import AWS_ENV
from server_procs import REPO_ROOT
from servers import free_port, read_lines_until, stop_process, unavailable

REFUGE = str(Path(sys.executable).with_name("refuge"))


@pytest.fixture(scope="module")
def published(tmp_path_factory, s3_server, ipfs_node):
    """The fixture site captured (site and CDN stopped afterwards), then published once."""
    root = tmp_path_factory.mktemp("publish")
    bucket = f"mirror-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    s3_server.make_public(bucket)
    s3 = S3Settings(bucket=bucket, endpoint_url=s3_server.endpoint_url, prefix="refuge/", region=s3_server.region,
                    timeout=10.0, public_base_url=s3_server.public_url(bucket, ""))
    ipfs = IpfsSettings(api=ipfs_node.api_url, gateways=(ipfs_node.gateway_url,), subdomain_gateways=(),
                        mfs_root=f"/refuge-pub-{uuid.uuid4().hex[:8]}", timeout=30.0)
    settings = Settings(data=root / "data", allow_private_networks=True, backoff=0.05, timeout=5, max_pages=150,
                        s3=s3, ipfs=ipfs, check_timeout=5.0)
    settings.data.mkdir()
    env = {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
           "AWS_CONFIG_FILE": str(root / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(root / "none"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    with pytest.MonkeyPatch.context() as mp:
        for name in AWS_ENV:
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        engine = catalog.connect(settings.catalog_url)
        with fs.serve_with_cdn() as (site, cdn):
            catalog.save_target(engine, make_target(site.url, name="fixture", scope="host"))
            summary = run_capture(settings, engine, "fixture")
            origins = {urlsplit(site.url).netloc, urlsplit(cdn.url).netloc}
        first = publish(settings, engine, "fixture")
        yield {"settings": settings, "engine": engine, "first": first, "origins": origins, "bucket": bucket,
               "capture": summary["id"], "env": env, "s3_server": s3_server, "ipfs_node": ipfs_node}


def _channel(report, name):
    return next(c for c in report.channels if c.channel == name)


def _forbidden(published) -> set[str]:
    return set(published["origins"])


def test_publish_gives_an_s3_url_and_an_ipfs_gateway_url(published) -> None:
    report = published["first"]
    assert report.ok, [c.error for c in report.channels]
    s3, ipfs = _channel(report, "s3"), _channel(report, "ipfs")
    assert s3.uploaded == report.files and s3.note is None
    assert s3.urls == [published["settings"].s3.public_base_url + "refuge/mirrors/fixture/index.html"]
    assert ipfs.content.startswith("bafy") and ipfs.urls == [f"{published['ipfs_node'].gateway_url}/ipfs/{ipfs.content}/"]


def test_ipfs_mirror_crawls_clean_through_the_gateway(published) -> None:
    url = _channel(published["first"], "ipfs").urls[0]
    report = check_site(url + "index.html", _forbidden(published))
    assert report.broken == [] and report.external_refs == []
    assert len(report.pages) >= 10
    exported = {p for p in _export_pages(published)}
    reached = {unquote(u[len(url):]) for u in report.pages}
    assert exported <= reached, sorted(exported - reached)


def test_s3_mirror_crawls_clean_through_the_public_url(published) -> None:
    url = _channel(published["first"], "s3").urls[0].removesuffix("index.html")
    anonymous = requests.get(url + "index.html", timeout=10)  # no credentials at all
    assert anonymous.status_code == 200 and anonymous.headers["Content-Type"].startswith("text/html")
    report = check_site(url + "index.html", _forbidden(published))
    assert report.broken == [] and report.external_refs == []
    reached = {unquote(u[len(url):]) for u in report.pages}
    assert set(_export_pages(published)) <= reached


@pytest.mark.browser
def test_ipfs_mirror_renders_in_chromium_without_javascript_and_stays_on_the_gateway(published, browser) -> None:
    url = _channel(published["first"], "ipfs").urls[0]
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(url))
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        seen: list[str] = []
        page.on("request", lambda req: seen.append(req.url))
        page.goto(url + "index.html", wait_until="load")  # the landing page opens the seed page
        page.wait_for_selector("#refuge-banner", timeout=15_000)
        page.wait_for_load_state("load")
        assert page.url != url + "index.html"
        sizes = page.evaluate("() => [...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        assert sizes and all(sizes), sizes
        outside = [u for u in seen if not u.startswith(origin) and not u.startswith("data:")]
        assert outside == [], outside
    finally:
        context.close()


def test_publishing_again_uploads_nothing(published) -> None:
    again = publish(published["settings"], published["engine"], "fixture")
    assert again.ok
    for ch in again.channels:
        assert ch.uploaded == 0 and ch.bytes_uploaded == 0, (ch.channel, ch)
    assert _channel(again, "ipfs").content == _channel(published["first"], "ipfs").content


def test_mirror_list_is_signed_and_minisign_verifies_it(published, tmp_path) -> None:
    minisign = shutil.which("minisign")
    if minisign is None:
        unavailable("minisign", "not on PATH", "run `make test` (it installs the Debian package minisign)")
    with running_server(make_app(published["settings"], published["engine"])) as base:
        doc = requests.get(f"{base}/mirrors.json", timeout=10)
        sig = requests.get(f"{base}/mirrors.json.minisig", timeout=10)
        pub = requests.get(f"{base}/refuge.pub", timeout=10)
        page = requests.get(f"{base}/mirrors", timeout=10)
    assert doc.status_code == sig.status_code == pub.status_code == page.status_code == 200
    listed = {m["url"] for t in doc.json()["targets"] for m in t["mirrors"]}
    assert set(_channel(published["first"], "s3").urls + _channel(published["first"], "ipfs").urls) <= listed
    for url in listed:
        assert url in page.text
    assert "កញ្ចក់" in page.text
    (tmp_path / "mirrors.json").write_bytes(doc.content)
    (tmp_path / "mirrors.json.minisig").write_bytes(sig.content)
    (tmp_path / "refuge.pub").write_bytes(pub.content)
    ok = subprocess.run([minisign, "-Vm", "mirrors.json", "-p", "refuge.pub"], cwd=tmp_path,
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    tampered = bytearray(doc.content)
    at = tampered.index(b"http")
    tampered[at + 4] ^= 0x01
    (tmp_path / "mirrors.json").write_bytes(bytes(tampered))
    bad = subprocess.run([minisign, "-Vm", "mirrors.json", "-p", "refuge.pub"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0
    key = subprocess.run([REFUGE, "--data", str(published["settings"].data), "key"], capture_output=True,
                         text=True, timeout=60)
    assert key.returncode == 0 and key.stdout.encode() == pub.content


def test_each_s3_mirror_carries_the_current_signed_list(published) -> None:
    base = _channel(published["first"], "s3").urls[0].removesuffix("index.html")
    current = mirror_list.build_files(published["settings"], published["engine"])
    assert _verified_list(published, base) == current["mirrors.json"]
    assert _verified_list(published, base.rsplit("fixture/", 1)[0]) == current["mirrors.json"]


def _verified_list(published, base: str) -> bytes:
    """mirrors.json as a reader fetches it from a mirror, its .minisig fetched beside it and
    verified with the operator's public key (`refuge key`); raises if it does not verify."""
    doc = requests.get(base + "mirrors.json", timeout=10)
    sig = requests.get(base + "mirrors.json.minisig", timeout=10)
    assert doc.status_code == sig.status_code == 200, base
    key = subprocess.run([REFUGE, "--data", str(published["settings"].data), "key"], capture_output=True,
                         text=True, timeout=60)
    assert key.returncode == 0, key.stderr
    verify(key.stdout, doc.content, sig.text)
    return doc.content


def test_check_marks_a_stopped_gateway_down_and_keeps_the_others_up(published) -> None:
    settings, engine = published["settings"], published["engine"]
    results = check_mirrors(settings, engine)
    assert {r["channel"]: r["status"] for r in results} == {"s3": "up", "ipfs": "up"}, results
    with published["ipfs_node"].down():
        results = check_mirrors(settings, engine, "fixture")
        status = {r["channel"]: r["status"] for r in results}
        assert status == {"s3": "up", "ipfs": "down"}, results
        listed = _run_json(published, "urls", "fixture")
        assert [r["status"] for r in listed] == ["up", "down"]
        targets = {t["name"]: t for t in _run_json(published, "targets")}
        assert targets["fixture"]["mirrors"] == {"up": 1, "down": 1, "unknown": 0}
        signed = json.loads(mirror_files.stored(settings)["mirrors.json"])
        assert {m["channel"]: m["status"] for m in signed["targets"][0]["mirrors"]} == {"s3": "up", "ipfs": "down"}
        # The check re-signed the list, and the S3 mirror serves the new list with a signature over it.
        s3_base = _channel(published["first"], "s3").urls[0].removesuffix("index.html")
        served = json.loads(_verified_list(published, s3_base))
        assert {m["channel"]: m["status"] for m in served["targets"][0]["mirrors"]} == {"s3": "up", "ipfs": "down"}
    results = check_mirrors(settings, engine)
    assert all(r["status"] == "up" for r in results), results
    history = _run_json(published, "urls", "fixture", "--history", "20")
    assert [h["status"] for h in history if h["url"].startswith(published["ipfs_node"].gateway_url)][:3] == \
        ["up", "down", "up"]


def test_a_changed_mirror_file_is_reported_down(published) -> None:
    settings, engine = published["settings"], published["engine"]
    s3 = settings.s3
    key = f"{s3.prefix}mirrors/fixture/index.html"
    client = published["s3_server"].client()
    original = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3.bucket, Key=key, Body=original + b"<!-- altered -->", ContentType="text/html")
    try:
        results = check_mirrors(settings, engine, "fixture")
        s3_result = next(r for r in results if r["channel"] == "s3")
        assert s3_result["status"] == "down" and "index.html" in s3_result["detail"]
    finally:
        client.put_object(Bucket=s3.bucket, Key=key, Body=original, ContentType="text/html; charset=utf-8")


def test_a_bucket_readers_cannot_read_is_reported_at_publish(published) -> None:
    # Last of the tests on `published`: it moves the target's S3 mirror to another bucket.
    private = f"private-{uuid.uuid4().hex[:12]}"
    published["s3_server"].create_bucket(private)
    s3 = published["settings"].s3
    settings = published["settings"].replace(
        ipfs=None, s3=S3Settings(bucket=private, endpoint_url=s3.endpoint_url, prefix=s3.prefix, region=s3.region,
                                 timeout=10.0, public_read=True,
                                 public_base_url=published["s3_server"].public_url(private, "")))
    with pytest.MonkeyPatch.context() as mp:
        for name, value in published["env"].items():
            mp.setenv(name, value)
        report = publish(settings, published["engine"], "fixture")
    note = _channel(report, "s3").note
    assert note and "without credentials" in note and "HTTP 40" in note, note
    # Without a public URL there is no mirror: nothing uploaded, and the old URL retired.
    unlisted = settings.replace(s3=S3Settings(bucket=private, endpoint_url=s3.endpoint_url, prefix=s3.prefix,
                                              region=s3.region, timeout=10.0))
    report = publish(unlisted, published["engine"], "fixture")
    assert "s3.public_base_url" in (_channel(report, "s3").note or "") and _channel(report, "s3").urls == []
    assert [r for r in mirrors.active(published["engine"], "fixture") if r["channel"] == "s3"] == []


def _export_pages(published) -> list[str]:
    manifest = json.loads((published["settings"].data / "mirrors" / "fixture" / "export" /
                           "refuge-export.json").read_text())
    return [f["path"] for f in manifest["files"] if f.get("role") == "page"]


def _run_json(published, *args: str):
    config = published["settings"].data / "refuge.toml"
    s = published["settings"]
    config.write_text(
        "allow_private_networks = true\n"
        f'[s3]\nbucket = "{s.s3.bucket}"\nendpoint_url = "{s.s3.endpoint_url}"\nprefix = "{s.s3.prefix}"\n'
        f'public_base_url = "{s.s3.public_base_url}"\n'
        f'[ipfs]\napi = "{s.ipfs.api}"\ngateways = ["{s.ipfs.gateways[0]}"]\nsubdomain_gateways = []\n'
        f'mfs_root = "{s.ipfs.mfs_root}"\n')
    env = {**{k: v for k, v in __import__("os").environ.items() if not k.startswith(("REFUGE_", "AWS_"))},
           **published["env"]}
    out = subprocess.run([REFUGE, "--data", str(s.data), *args, "--json"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_scheduler_publishes_after_a_capture_and_checks_every_hour(tmp_settings, fixture_site, ipfs_node) -> None:
    import threading

    from refuge.cli.scheduler import CHECK_JOB, CaptureScheduler

    ipfs = IpfsSettings(api=ipfs_node.api_url, gateways=(ipfs_node.gateway_url,), subdomain_gateways=(),
                        mfs_root=f"/refuge-sched-{uuid.uuid4().hex[:8]}", timeout=30.0)
    settings = tmp_settings.replace(ipfs=ipfs, max_pages=15)
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.url, name="news", scope="host", every="1d"))
    scheduler = CaptureScheduler(settings, engine, threading.Event())
    scheduler.actions.capture("news")
    capture = catalog.list_captures(engine, "news")[0]
    rows = mirrors.active(engine, "news")
    assert [(r["channel"], r["capture_id"]) for r in rows] == [("ipfs", capture["id"])]
    fixture_site.stop()
    assert requests.get(rows[0]["url"] + "index.html", timeout=10).status_code == 200
    scheduler.start()
    try:
        job = scheduler.scheduler.get_job(CHECK_JOB)
        assert job is not None and job.trigger.interval.total_seconds() == 3600
    finally:
        scheduler.shutdown()
    listed = json.loads(mirror_files.stored(settings)["mirrors.json"])
    assert [t["name"] for t in listed["targets"]] == ["news"]
    removed = subprocess.run([REFUGE, "--data", str(settings.data), "remove", "news"], capture_output=True,
                             text=True, timeout=60)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(mirror_files.stored(settings)["mirrors.json"])["targets"] == []


def test_make_demo_publishes_to_local_s3_and_ipfs_and_prints_every_mirror_url(tmp_path) -> None:
    """What `make demo` runs: scripts/demo.py starts its own Swift and js-ipfs."""
    import os
    import signal

    from store_servers import ipfs_missing, swift_missing

    for what, missing in (("S3 server (OpenStack Swift)", swift_missing()), ("IPFS node (js-ipfs)", ipfs_missing())):
        if missing:
            unavailable(what, missing, "run `make test` or `bash scripts/install-test-servers.sh`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFUGE_", "AWS_"))}
    env.update(REFUGE_DATA=str(tmp_path / "data"), REFUGE_PORT=str(free_port()))
    script = REPO_ROOT / "scripts" / "demo.py"
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = read_lines_until(proc, "Press Ctrl-C", timeout=120)
        mirror_urls = [ln.split("): ", 1)[1].strip() for ln in lines if ln.startswith("Mirror (")]
        assert {ln.split(",")[0] for ln in lines if ln.startswith("Mirror (")} == {"Mirror (s3", "Mirror (ipfs"}, \
            "".join(lines)
        for url in mirror_urls:
            page = requests.get(url, timeout=10)
            assert page.status_code == 200 and b"http-equiv=\"refresh\"" in page.content.lower(), url
        listing = next(ln for ln in lines if ln.startswith("Mirror list"))
        served = requests.get(listing.split(": ", 1)[1].split()[0], timeout=10)
        assert all(url in served.text for url in mirror_urls)
    finally:
        stop_process(proc, signal.SIGINT, 30)
