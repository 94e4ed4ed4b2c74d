"""`refuge import` as an archivist uses it: WARC files and a WACZ package made by other tools
(warcio as pywb's recorder writes, `wget --warc-file`, Webrecorder's `wacz create`) become
one capture, kept byte for byte, that replays, exports and verifies like any; damaged
input is refused with the file and offset named and leaves nothing behind; `--lenient`
keeps the good records and lists the bad."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import import_archives as ia
import pytest
import requests
from sqlalchemy import func, select
from tiny_site import Route, page, serve

from refuge.config.settings import Settings
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog
from refuge.storage.catalog import index
from refuge.storage.catalog.schema import captures, cdx, files, targets

REFUGE = str(Path(sys.executable).with_name("refuge"))
PLAIN_SITE = "https://plain.example/"
WACZ_SITE = "https://wacz.example/"


def refuge(data: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    full_env.update({"REFUGE_DATA": str(data), "REFUGE_BACKOFF": "0.05", "REFUGE_TIMEOUT": "5", **(env or {})})
    return subprocess.run([REFUGE, *args], capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The archives made elsewhere, and the bytes each holds by URL."""
    folder = tmp_path_factory.mktemp("inputs")
    held = dict(ia.recorder_warc(folder / "recorder.warc.gz"))
    held.update(ia.recorder_warc(folder / "plain.warc", compress=False, site=PLAIN_SITE))
    held.update(ia.recorder_warc(folder / "for-wacz.warc.gz", site=WACZ_SITE))
    wacz = ia.wacz_package(folder / "for-wacz.warc.gz", folder / "package.wacz")
    made = ia.wget_warc(folder)
    files = [folder / "recorder.warc.gz", folder / "plain.warc", wacz, made[0]]
    held.update(made[1])
    return SimpleNamespace(folder=folder, files=files, held=held, wacz=wacz, wget=made)


def _catalog_counts(data: Path) -> tuple[int, int, int, int]:
    engine = catalog.connect(Settings(data=data).catalog_url)
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (targets, captures, files, cdx))


def test_imported_files_are_kept_byte_for_byte_and_replay_export_and_verify(tmp_path: Path, inputs) -> None:
    data = tmp_path / "data"
    done = refuge(data, "import", "elsewhere", *map(str, inputs.files), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "complete" and summary["target_created"] and summary["left_out"] == []
    assert summary["id"].startswith(ia.TS0)  # dated by its earliest record, so it sits in history where it belongs
    assert summary["files"] == len(inputs.files) and summary["revisits"] == 3 and summary["failed"] == 0

    # Byte for byte: every kept file is the file given (or, from the WACZ, the member packed).
    folder = data / "archive" / "elsewhere" / summary["id"]
    given = {str(p): p.read_bytes() for p in inputs.files}
    with zipfile.ZipFile(inputs.wacz) as package:
        packed = package.read("archive/for-wacz.warc.gz")
    for source in summary["sources"]:
        assert source["sha256"] == sha256(given[source["file"]])
        for warc in source["warcs"]:
            expected = packed if source["kind"] == "wacz" else given[source["file"]]
            kept = (folder / warc["stored_as"]).read_bytes()
            assert kept == expected and warc["sha256"] == sha256(expected)
            assert (folder / (warc["stored_as"].removesuffix(".gz").removesuffix(".warc") + ".cdxj")).exists()
    wacz = next(s for s in summary["sources"] if s["kind"] == "wacz")
    assert wacz["signed"] is False and wacz["signature_ok"] is None  # `wacz create` without a signing server

    # The target: kind imported, never scheduled. Its URL: a WACZ's first listed page, else
    # the first HTML page of the first file; `wacz create` listed no pages in this package.
    listed = json.loads(refuge(data, "targets", "--json").stdout)
    assert [(t["name"], t["kind"], t["schedule"], t["url"]) for t in listed] == \
        [("elsewhere", "imported", "manual", ia.SITE)]
    refused = refuge(data, "capture", "elsewhere")
    assert refused.returncode == 2 and "imported" in refused.stderr

    # The manifest says where every file came from, and that the package was unsigned.
    manifest = json.loads((folder / f"{summary['id']}.manifest.json").read_text())
    assert manifest["capture"]["kind"] == "imported"
    by_member = {(s["source"], s["member"]): s for s in manifest["imported"]}
    assert by_member[("package.wacz", None)]["signed"] is False
    assert by_member[("package.wacz", "archive/for-wacz.warc.gz")]["sha256"] == sha256(packed)
    assert by_member[("plain.warc", None)]["stored_as"].endswith(".warc")

    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    with running_server(make_app(settings, engine)) as base:
        for url, body in inputs.held.items():
            hit = index.closest(engine, url, ia.TS0 if "example" in url else None)
            assert hit is not None, url
            got = requests.get(f"{base}/web/{hit.timestamp}id_/{url}", timeout=10)
            assert got.status_code == 200 and got.content == body, url
        # A revisit is served with the bytes of the response it stands for.
        revisit = requests.get(f"{base}/web/{ia.TS1}id_/{ia.SITE}logo.png", timeout=10)
        assert revisit.content == ia.PNG
        assert revisit.headers["Memento-Datetime"] == format_datetime(
            datetime(2024, 3, 8, 10, tzinfo=timezone.utc), usegmt=True)
        shown = requests.get(f"{base}/web/{ia.TS0}/{PLAIN_SITE}", timeout=10)
        assert shown.status_code == 200 and ia.PAGE_TEXT in shown.text and "refuge-banner" in shown.text

    out = tmp_path / "export"
    exported = refuge(data, "export", "elsewhere", "--out", str(out), "--json")
    assert exported.returncode == 0, exported.stderr
    texts = [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    assert any(ia.PAGE_TEXT.encode() in t for t in texts) and any(t == ia.NOTES for t in texts)
    assert any(t == b"".join(ia.CHUNKS) for t in texts)  # wget's chunked body, exported without its framing

    verified = refuge(data, "verify", summary["id"])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    events = json.loads(refuge(data, "audit", "--json").stdout)
    assert events[0]["action"] == "import" and events[0]["subject"] == "elsewhere"
    assert events[0]["detail"]["capture"] == summary["id"]


@pytest.mark.parametrize("damage", ["cut gzip member", "wrong payload digest", "wacz byte flipped", "not warc"])
def test_damaged_input_is_refused_with_file_and_offset_and_nothing_of_it_kept(
        tmp_path: Path, inputs, damage: str) -> None:
    source = inputs.folder / "recorder.warc.gz"
    bad = tmp_path / "bad.warc.gz"
    if damage == "cut gzip member":
        offset = ia.cut_inside(source, bad, ia.SITE + "logo.png")
        expected = f"{bad}: the record at offset {offset} is cut short"
    elif damage == "wrong payload digest":
        ia.recorder_warc(bad, wrong_payload_digest="sha1:" + "A" * 32)
        offset = next(o for t, u, o, _ in ia.record_offsets(bad) if t == "response" and u == ia.SITE + "style.css")
        expected = f"{bad}: the record at offset {offset} is corrupt: its payload does not match"
    elif damage == "wacz byte flipped":
        bad = tmp_path / "bad.wacz"
        ia.flip_in_wacz(inputs.wacz, bad, "archive/for-wacz.warc.gz")
        expected = f"{bad}: the WACZ package does not verify"
    else:
        bad = tmp_path / "bad.warc"
        bad.write_bytes(b"<html>a page saved by a browser, not an archive</html>\n")
        expected = f"{bad}: neither a WARC file (.warc, .warc.gz) nor a WACZ package"
    data = tmp_path / "data"
    # A good file beside it changes nothing: the import is one capture, whole or not at all.
    done = refuge(data, "import", "refused", str(inputs.folder / "plain.warc"), str(bad))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"refuge: error: {expected}"), lines
    assert _catalog_counts(data) == (0, 0, 0, 0)
    assert not (data / "archive" / "refused").exists()


def test_lenient_keeps_the_good_records_and_lists_the_bad(tmp_path: Path, inputs) -> None:
    source = inputs.folder / "recorder.warc.gz"
    cut = tmp_path / "cut.warc.gz"
    cut_offset = ia.cut_inside(source, cut, ia.SITE + "logo.png")
    digest = tmp_path / "digest.warc.gz"
    ia.recorder_warc(digest, wrong_payload_digest="sha1:" + "A" * 32, site=PLAIN_SITE)
    digest_offset = next(o for t, u, o, _ in ia.record_offsets(digest) if t == "response" and u.endswith("style.css"))
    junk = tmp_path / "junk.warc"
    junk.write_bytes(b"no archive here\n" * 4)
    data = tmp_path / "data"
    done = refuge(data, "import", "partly", str(cut), str(digest), str(junk), "--lenient", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    left = {(e["file"], e["offset"]) for e in summary["left_out"]}
    assert left == {(str(cut), cut_offset), (str(digest), digest_offset), (str(junk), None)}
    assert summary["failed"] == 3 and summary["files"] == 2
    # The damaged files are kept as they came (the bytes are the evidence); only good records are indexed.
    folder = data / "archive" / "partly" / summary["id"]
    kept = sorted(p.read_bytes() for p in folder.glob("*.warc*"))
    assert kept == sorted([cut.read_bytes(), digest.read_bytes()])
    engine = catalog.connect(Settings(data=data).catalog_url)
    urls = {h.url for h in index.capture_hits(engine, summary["id"])}
    assert urls == {ia.SITE, ia.SITE + "style.css", PLAIN_SITE, PLAIN_SITE + "logo.png", PLAIN_SITE + "notes.txt"}
    reasons = [f["reason"] for f in catalog.failures_of(engine, summary["id"])]
    assert any(f"offset {digest_offset} is corrupt" in r for r in reasons) and len(reasons) == 3
    human = refuge(tmp_path / "data2", "import", "partly", str(cut), "--lenient")
    assert human.returncode == 0 and f"offset {cut_offset}: " in human.stdout and "left out" in human.stdout


def test_an_import_into_a_captured_target_sits_beside_its_captures(tmp_path: Path, inputs) -> None:
    data = tmp_path / "data"
    with serve({"/": Route(page("/a.html", title="live")), "/a.html": Route(page(title="a"))}) as site:
        env = {"REFUGE_ALLOW_PRIVATE_NETWORKS": "true"}
        assert refuge(data, "add", site.url("/"), "--name", "live", env=env).returncode == 0
        crawled = refuge(data, "capture", "live", "--json", env=env)
        assert crawled.returncode == 0, crawled.stderr
    crawl_id = json.loads(crawled.stdout)["id"]
    done = refuge(data, "import", "live", str(inputs.folder / "recorder.warc.gz"), "--json")
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stdout)
    assert imported["target_created"] is False
    history = json.loads(refuge(data, "captures", "live", "--json").stdout)
    # Newest first: the crawl of today, then the archive of 2024 it was given.
    assert [c["id"] for c in history] == [crawl_id, imported["id"]]
    assert [t["kind"] for t in json.loads(refuge(data, "targets", "--json").stdout)] == ["site"]
    engine = catalog.connect(Settings(data=data).catalog_url)
    assert index.closest(engine, ia.SITE).capture_id == imported["id"]
    assert index.closest(engine, site.url("/")).capture_id == crawl_id


def test_the_admin_api_does_not_start_a_capture_of_an_imported_target(tmp_settings, inputs) -> None:
    from admin_helpers import running_admin

    settings = tmp_settings.replace(processes=1, workers=2, publish_after_capture=False)
    assert refuge(settings.data, "import", "elsewhere", str(inputs.folder / "recorder.warc.gz")).returncode == 0
    with running_admin(settings) as admin:
        r = admin.api("POST", "/targets/elsewhere/captures", admin.token("admin"))
        assert r.status_code == 409 and "holds imported archives" in r.json()["detail"]


def test_a_signed_wacz_is_imported_with_its_signature_recorded_and_a_forged_one_refused(
        tmp_path: Path, inputs) -> None:
    """A Refuge WACZ (signed) of an imported capture, taken into another archive: the check
    of its signature is kept in the catalog and the manifest; a forged signature is refused."""
    first, second = tmp_path / "first", tmp_path / "second"
    made = json.loads(refuge(first, "import", "origin", str(inputs.folder / "recorder.warc.gz"), "--json").stdout)
    package = tmp_path / "origin.wacz"
    packed = refuge(first, "wacz", "origin", "--out", str(package))
    assert packed.returncode == 0, packed.stderr
    key = json.loads(refuge(first, "key", "--json").stdout)["wacz"]["public_key"]

    done = refuge(second, "import", "copy", str(package), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    source = summary["sources"][0]
    assert (source["signed"], source["signature_ok"], source["public_key"]) == (True, True, key)
    kept = data_file(second, summary, source["warcs"][0]["stored_as"])
    assert kept.read_bytes() == data_file(first, made, made["sources"][0]["warcs"][0]["stored_as"]).read_bytes()
    manifest = json.loads(data_file(second, summary, f"{summary['id']}.manifest.json").read_text())
    wacz = next(s for s in manifest["imported"] if s["kind"] == "wacz")
    assert wacz["signed"] is True and wacz["signature_ok"] is True and wacz["wacz"]["public_key"] == key
    assert json.loads(wacz["wacz"]["datapackage_digest"])["signedData"]["publicKey"] == key

    forged = tmp_path / "forged.wacz"
    ia.forge_signature(package, forged)
    refused = refuge(tmp_path / "third", "import", "copy", str(forged))
    assert refused.returncode == 2 and refused.stderr.startswith(f"refuge: error: {forged}: the WACZ package "
                                                                 f"does not verify")
    assert _catalog_counts(tmp_path / "third") == (0, 0, 0, 0)


def data_file(data: Path, summary: dict, name: str) -> Path:
    return data / "archive" / summary["target"] / summary["id"] / name
