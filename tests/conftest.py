"""Shared fixtures: real servers (PostgreSQL, Chromium), the fixture news site, settings.

Fixtures:
    postgres_server   (session)  servers.PostgresServer: .url, .port, .create_database(name) -> url
    postgres_url      (session)  "postgresql+psycopg://postgres@127.0.0.1:PORT/refuge"
    browser           (session)  a Playwright Browser (headless Debian Chromium)
    page              (function) a fresh Page in its own BrowserContext, closed afterwards
    cdn_site          (function) fixture_site.FixtureSite for "another host" (CSS + images)
    fixture_site      (function) fixture_site.FixtureSite for the news site, wired to cdn_site
    tmp_settings      (function) refuge Settings on tmp_path, private networks allowed,
                                 backoff 0.05 s, timeout 5 s
    s3_server         (session)  store_servers.S3Server: Swift + s3api (see store_servers.py)
    s3_bucket         (function) a fresh bucket on it
    ipfs_node         (session)  store_servers.IpfsNode: js-ipfs with the Kubo RPC API and a gateway

Servers that cannot be had fail the test under CI=true and skip it locally.
Tests sit in folders that mirror ``src/refuge/`` (``tests/mirror/replay/`` tests
``refuge.mirror.replay``); the servers, fixture sites and helpers they share live in
``tests/support/``, which is put on sys.path below: ``from servers import free_port``,
``from fixture_site import ...``. Test file names are unique across folders (pytest's
default import mode needs it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests: a bounded number of examples, no per-example deadline (a loaded CI machine
# is slow, not wrong); under CI the same examples every run, so a failure reproduces.
hypothesis_settings.register_profile("refuge", max_examples=150, deadline=None)
hypothesis_settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True, database=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "refuge")

_SUPPORT = str(Path(__file__).resolve().parent / "support")
if _SUPPORT not in sys.path:
    sys.path.insert(0, _SUPPORT)

# The S3 server and IPFS node fixtures live in their own module.
pytest_plugins = ["store_servers", "refuge_cluster"]

import fixture_site as _site  # noqa: E402
import servers as _servers  # noqa: E402
from refuge.config.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server():
    server = _servers.start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    return postgres_server.url


@pytest.fixture(scope="session")
def browser():
    pw, browser = _servers.start_browser()
    try:
        yield browser
    finally:
        try:
            browser.close()
        finally:
            pw.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def cdn_site():
    with _site.serve(_site.CDN_ROOT, name="cdn") as site:
        yield site


@pytest.fixture
def fixture_site(cdn_site):
    with _site.serve(_site.ROOT, cdn_url=cdn_site.origin, name="site") as site:
        yield site


@pytest.fixture
def tmp_settings(tmp_path) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    return Settings(data=data, allow_private_networks=True, backoff=0.05, timeout=5.0)
