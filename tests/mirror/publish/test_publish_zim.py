"""`bundles = ["zim"]`: publishing also puts the export up as a ZIM file beside the mirror on
S3 and on IPFS (real Swift and js-ipfs on loopback), and the signed mirror list names it with
URLs, size and SHA-256 that match what a reader downloads; `minisign` still verifies the list."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from libzim.reader import Archive
from replica_helpers import AWS_ENV
from servers import unavailable
from tiny_site import Route, serve

from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.store_settings import IpfsSettings, S3Settings
from refuge.config.targets import make_target
from refuge.mirror.publish.bundles import bundle_path
from refuge.mirror.publish.publisher import publish
from refuge.storage import catalog, mirror_files

REFUGE = str(Path(sys.executable).with_name("refuge"))
PAGE = ("<!doctype html><html lang='km'><head><meta charset='utf-8'><title>ព័ត៌មាន</title></head>"
        "<body><p>ប្រជាពលរដ្ឋបានតវ៉ាអំពីជម្លោះដីធ្លីនៅខេត្តកំពង់ស្ពឺ។</p></body></html>").encode()


@pytest.fixture(scope="module")
def published(tmp_path_factory, s3_server, ipfs_node):
    root = tmp_path_factory.mktemp("publish-zim")
    bucket = f"zim-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    s3_server.make_public(bucket)
    s3 = S3Settings(bucket=bucket, endpoint_url=s3_server.endpoint_url, prefix="refuge/", region=s3_server.region,
                    timeout=10.0, public_base_url=s3_server.public_url(bucket, ""))
    ipfs = IpfsSettings(api=ipfs_node.api_url, gateways=(ipfs_node.gateway_url,), subdomain_gateways=(),
                        mfs_root=f"/refuge-zim-{uuid.uuid4().hex[:8]}", timeout=30.0)
    settings = Settings(data=root / "data", allow_private_networks=True, backoff=0.05, timeout=5, s3=s3, ipfs=ipfs,
                        bundles=("zim",))
    with pytest.MonkeyPatch.context() as mp:
        for name in AWS_ENV:
            mp.delenv(name, raising=False)
        for name, value in {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
                            "AWS_CONFIG_FILE": str(root / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(root / "none"),
                            "AWS_EC2_METADATA_DISABLED": "true"}.items():
            mp.setenv(name, value)
        engine = catalog.connect(settings.catalog_url)
        with serve({"/": Route(PAGE)}) as site:
            catalog.save_target(engine, make_target(site.url("/"), name="news", scope="host"))
            run_capture(settings, engine, "news")
        first = publish(settings, engine, "news")
        again = publish(settings, engine, "news")
        yield {"settings": settings, "first": first, "again": again, "gateway": ipfs_node.gateway_url}


def _listed(settings: Settings) -> dict:
    doc = json.loads((mirror_files.list_dir(settings) / "mirrors.json").read_bytes())
    (target,) = doc["targets"]
    (zim,) = target["bundles"]
    return zim


def test_the_zim_goes_up_beside_the_mirror_and_the_list_names_it(published) -> None:
    report, settings = published["first"], published["settings"]
    assert report.ok, report.as_dict()
    (made,) = report.bundles
    on_disk = bundle_path(settings, "news").read_bytes()
    assert made.made and made.size == len(on_disk) and made.sha256 == hashlib.sha256(on_disk).hexdigest()
    assert made.uploaded == ["s3", "ipfs"]
    zim = _listed(settings)
    assert zim["format"] == "zim" and zim["name"] == "news.zim" and zim["capture"] == report.capture
    assert (zim["size"], zim["sha256"]) == (made.size, made.sha256)
    urls = {u["channel"]: u["url"] for u in zim["urls"]}
    assert urls["s3"] == settings.s3.public_base_url + "refuge/mirrors/news.zim"  # beside refuge/mirrors/news/
    assert urls["ipfs"].startswith(published["gateway"] + "/ipfs/") and urls["ipfs"].endswith("/news.zim")
    mirror_cid = next(c.content for c in report.channels if c.channel == "ipfs")
    assert mirror_cid not in urls["ipfs"]  # its own CID: the mirror's address does not change with it
    for url in urls.values():  # what a reader downloads is what the list says
        body = requests.get(url, timeout=30).content
        assert (len(body), hashlib.sha256(body).hexdigest()) == (zim["size"], zim["sha256"]), url
    page = (mirror_files.list_dir(settings) / "mirrors.html").read_text("utf-8")
    assert urls["s3"] in page and zim["sha256"] in page and "Kiwix" in page
    archive = Archive(bundle_path(settings, "news"))
    assert archive.get_metadata("Source").decode().startswith("http://127.0.0.1:")


def test_publishing_the_same_capture_again_keeps_the_same_zim(published) -> None:
    (first,), (again,) = published["first"].bundles, published["again"].bundles
    assert not again.made and again.uploaded == [] and again.error is None
    assert (again.sha256, again.urls) == (first.sha256, first.urls)
    assert _listed(published["settings"])["sha256"] == first.sha256


def test_minisign_verifies_the_list_that_names_the_zim(published, tmp_path) -> None:
    minisign = shutil.which("minisign")
    if minisign is None:
        unavailable("minisign", "not on PATH", "run `make test` (it installs the Debian package minisign)")
    settings = published["settings"]
    beside = settings.s3.public_base_url + "refuge/mirrors/"
    for name in ("mirrors.json", "mirrors.json.minisig"):  # as a reader fetches them, beside the mirrors
        answer = requests.get(beside + name, timeout=10)
        assert answer.status_code == 200, name
        (tmp_path / name).write_bytes(answer.content)
    key = subprocess.run([REFUGE, "--data", str(settings.data), "key"], capture_output=True, text=True, timeout=60)
    assert key.returncode == 0, key.stderr
    (tmp_path / "refuge.pub").write_text(key.stdout)
    assert b'"bundles"' in (tmp_path / "mirrors.json").read_bytes()
    ok = subprocess.run([minisign, "-Vm", "mirrors.json", "-p", "refuge.pub"], cwd=tmp_path, capture_output=True,
                        text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr


def test_a_bundle_no_longer_asked_for_leaves_the_list(published) -> None:
    """Last in this module: it changes what the list says."""
    settings = published["settings"].replace(bundles=())
    report = publish(settings, catalog.connect(settings.catalog_url), "news")
    assert report.ok and report.bundles == []
    doc = json.loads((mirror_files.list_dir(settings) / "mirrors.json").read_bytes())
    (target,) = doc["targets"]
    assert "bundles" not in target and target["mirrors"]
