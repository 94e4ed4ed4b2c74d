"""A manifest the replication tick writes for an interrupted capture while that capture
is being resumed must not outlive the resume: the manifest of the finished capture
describes it as it ended, every file of every run in it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tiny_site import Route, page, serve

from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.manifest import manifest_name
from refuge.storage.replicate import queue_capture


def test_a_manifest_written_while_the_capture_is_resumed_does_not_survive_it(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data", allow_private_networks=True, backoff=0.05, timeout=5, workers=1,
                        processes=1, per_host=1)
    routes = {"/robots.txt": Route(b"", 404, "text/plain"), "/": Route(page("/stop.html", "/later.html")),
              "/stop.html": Route(page(title="stop"), delay=0.8), "/later.html": Route(page(title="later"))}
    with serve(routes) as site:
        engine = catalog.connect(settings.catalog_url)
        catalog.save_target(engine, make_target(site.url("/"), name="tiny", scope="host"))
        # Killed while it fetches /stop.html, its first records sealed already (tiny files):
        # no manifest is written; the reaper marks it interrupted, and the tick may write one.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
        env.update({"REFUGE_DATA": str(settings.data), "REFUGE_ALLOW_PRIVATE_NETWORKS": "true",
                    "REFUGE_WORKERS": "1", "REFUGE_PROCESSES": "1", "REFUGE_PER_HOST": "1",
                    "REFUGE_WARC_MAX_BYTES": "1000"})
        killed = subprocess.Popen([str(Path(sys.executable).parent / "refuge"), "capture", "tiny"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        site.routes["/stop.html"].hook = lambda: os.kill(killed.pid, signal.SIGKILL)
        assert killed.wait(60) == -signal.SIGKILL
        site.routes["/stop.html"].hook = None
        [first] = [{"id": c} for c in catalog.reap_stale_captures(engine, 3600)]

        # The tick starts on the interrupted capture; it is held reading one of its files
        # (a FIFO standing in for it) until the resumed capture is under way.
        cdxjs = [settings.data / f["path"] for f in catalog.capture_files(engine, first["id"]) if f["kind"] == "cdxj"]
        cdxj = cdxjs[-1]
        content = cdxj.read_bytes()
        cdxj.unlink()
        os.mkfifo(cdxj)
        tick_errors: list[BaseException] = []

        def tick() -> None:
            try:
                queue_capture(settings, engine, first["id"])
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                tick_errors.append(exc)

        ticker = threading.Thread(target=tick, daemon=True)  # never keeps pytest from ending
        ticker.start()
        while True:  # the tick has read the capture's status and opened the file
            try:
                feed = os.open(cdxj, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                assert ticker.is_alive(), tick_errors
                ticker.join(0.01)

        fed = threading.Event()

        def let_the_tick_finish() -> None:
            if fed.is_set():
                return  # asked again after a retry: the tick was let go already
            fed.set()
            os.set_blocking(feed, True)
            try:
                os.write(feed, content)
            finally:
                os.close(feed)
            ticker.join(30)
            (cdxj.parent / "tmp-cdxj").write_bytes(content)
            os.replace(cdxj.parent / "tmp-cdxj", cdxj)

        site.routes["/later.html"].hook = let_the_tick_finish  # fetched only by the resumed run
        try:
            second = run_capture(settings, engine, "tiny")
        finally:
            if not fed.is_set():  # the resumed run never asked for /later.html: let the tick go
                fed.set()
                os.close(feed)
        assert not ticker.is_alive()
        assert second["id"] == first["id"] and second["status"] == "complete"

        files = catalog.capture_files(engine, second["id"])
        manifest_path = settings.archive_dir / "tiny" / second["id"] / manifest_name(second["id"])
        manifest = json.loads(manifest_path.read_bytes())
        assert manifest["capture"]["status"] == "complete"
        data_files = {f["name"] for f in files if f["kind"] in ("warc", "cdxj")}
        assert {f["name"] for f in manifest["files"]} == data_files
        assert len([f for f in files if f["kind"] == "warc"]) == second["files"] >= 2  # one per run
        [row] = [f for f in files if f["kind"] == "manifest"]
        assert row["sha256"] == hashlib.sha256(manifest_path.read_bytes()).hexdigest()
