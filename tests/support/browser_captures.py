"""Browser-mode captures for the tests of pages that fight back: settings with short
budgets, and one capture of one URL read back with warcio's digest checks.

    browser_settings(data) -> Settings                     (a missing Chromium fails under CI)
    capture_in_browser(settings, url, name, **target) -> (summary, records, seconds)
    uris(records, kind) -> list[str]                       WARC-Target-URIs of records of KIND
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import servers
from warcio.archiveiterator import ArchiveIterator

from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog


def browser_settings(data: Path) -> Settings:
    """One worker, no retries of fetches, and settle and page budgets short enough for tests."""
    servers.need_chromium()
    return Settings(data=data, allow_private_networks=True, backoff=0.05, timeout=5, retries=0, workers=1,
                    processes=1, browser_settle_seconds=2, browser_page_seconds=30,
                    browser_executable=servers.CHROMIUM)


def capture_in_browser(settings: Settings, url: str, name: str,
                       **target: Any) -> tuple[dict, list[tuple[str, str, bytes]], float]:
    """A browser-mode capture of URL as target NAME: its summary, every record as (type, URI,
    content) read with digests checked, and the seconds it took."""
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(url, name=name, browser=True, **target))
    began = time.monotonic()
    summary = run_capture(settings, engine, name)
    seconds = time.monotonic() - began
    records = []
    for path in summary["warcs"]:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, check_digests="raise"):
                records.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"),
                                rec.content_stream().read()))
    return summary, records, seconds


def uris(records: list[tuple[str, str, bytes]], kind: str) -> list[str]:
    return [url for rec_type, url, _ in records if rec_type == kind]
