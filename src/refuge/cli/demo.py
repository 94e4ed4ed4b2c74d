"""`refuge demo`: a bundled sample news site on loopback, captured and replayed.

Needs no internet. Its data lives in DATA/demo, replaced on every run: it is a
sandbox, not an archive. `refuge demo` never publishes, even with [s3] or [ipfs] in
refuge.toml; `make demo` (scripts/demo.py) starts a local S3 server and IPFS node when
they are installed and passes them in, and then the demo publishes its mirrors there.
"""

from __future__ import annotations

import functools
import shutil
import sys
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine

from refuge.archiver.capture import run_capture
from refuge.cli.service import install_stop_signals
from refuge.config.settings import Settings
from refuge.config.store_settings import IpfsSettings, S3Settings
from refuge.config.targets import make_target
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog
from refuge.storage.catalog.search import index_capture

SITE = Path(__file__).with_name("demo_site")
NAME = "demo-news"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def sample_site() -> Iterator[str]:
    """Serve the bundled site on a free loopback port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def run_demo(settings: Settings, *, publish_to: tuple[S3Settings | None, IpfsSettings | None] = (None, None)) -> int:
    """Capture the sample site and replay it; with PUBLISH_TO (local test servers, never
    the operator's own stores), publish it there too and print every mirror URL."""
    data = settings.data / "demo"
    if data.exists():
        shutil.rmtree(data)
    demo = settings.replace(data=data, database_url="", allow_private_networks=True, max_pages=100, max_depth=3,
                            s3=publish_to[0], ipfs=publish_to[1])
    engine = catalog.connect(demo.catalog_url)
    install_stop_signals()
    with sample_site() as site:
        print(f"Sample site (bundled, loopback only): {site}", flush=True)
        catalog.save_target(engine, make_target(site, name=NAME, scope="host"))
        summary = run_capture(demo, engine, NAME)
    index_capture(engine, demo, summary["id"])  # for /search, as the end of any capture does
    print(f"Captured {summary['pages']} pages and {summary['requisites']} requisites into "
          f"{summary['files']} WARC file(s) under {data}; the sample site is stopped now.", flush=True)
    if demo.s3 is not None or demo.ipfs is not None:
        _publish(demo, engine)
    with running_server(make_app(demo, engine), settings.host, settings.port) as base:
        ts = summary["id"][:14]
        print(f"Replay server: {base}/", flush=True)
        print(f"Khmer article: {base}/web/{ts}/{site}articles/blocking-2023-km.html", flush=True)
        print(f"English front page: {base}/web/{ts}/{site}", flush=True)
        print(f"Mirror list (signed): {base}/mirrors  ({base}/mirrors.json, {base}/refuge.pub)", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0


def _publish(demo: Settings, engine: Engine) -> None:
    from refuge.mirror.publish.check import check_mirrors
    from refuge.mirror.publish.publisher import publish

    report = publish(demo, engine, NAME)
    for ch in report.channels:
        if ch.error:
            print(f"Publishing to {ch.channel} failed: {ch.error}", flush=True)
    results = check_mirrors(demo, engine, NAME)
    for r in results:
        print(f"Mirror ({r['channel']}, {r['style']}, {r['status']}): {r['url']}", flush=True)
