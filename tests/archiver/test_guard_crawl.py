"""The private-address guard during a real capture, as an operator runs it: `refuge capture`
with REFUGE_ALLOW_NETWORKS=127.0.0.1/32, so the seed site on 127.0.0.1 is reachable and
nothing else that is not public is -- least of all 127.0.0.2, where a real server counts
connections. Over HTTP, and over HTTPS with a private CA given as REFUGE_CA_FILE.

Each capture's children run with tests/support/loopback_only on PYTHONPATH: the pages name
10.x, 169.254.169.254 and NAT64 addresses, and a broken guard must not send anything there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from warcio.archiveiterator import ArchiveIterator
from werkzeug.test import Client

import guard_site
from refuge.config.settings import load_settings
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog

REFUGE = str(Path(sys.executable).with_name("refuge"))
TRIPWIRE = str(Path(guard_site.__file__).with_name("loopback_only"))
TIMEOUT = 20.0  # per request
SEED_ONLY = "127.0.0.1/32"


def refuge(data: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    full.update({"REFUGE_DATA": str(data), "REFUGE_BACKOFF": "0.05", "REFUGE_TIMEOUT": str(TIMEOUT),
                 "PYTHONPATH": os.pathsep.join(filter(None, [TRIPWIRE, os.environ.get("PYTHONPATH")])), **env})
    return subprocess.run([REFUGE, *args], capture_output=True, text=True, env=full, timeout=300,
                          stdin=subprocess.DEVNULL)


def capture(data: Path, url: str, env: dict[str, str], robots: str = "obey") -> subprocess.CompletedProcess:
    """Add URL as a host-scoped target and capture it once: the --json run."""
    added = refuge(data, "add", url, "--name", "site", "--scope", "host", "--robots", robots, env=env)
    assert added.returncode == 0, added.stderr
    return refuge(data, "capture", "site", "--json", env=env)


def replayed(data: Path, year: str, url: str) -> bytes:
    """URL's body as the replay app serves it from the catalog (raw, id_ mode)."""
    engine = catalog.connect(f"sqlite:///{data / 'catalog.sqlite'}", create=False)
    client = Client(make_app(load_settings(environ={"REFUGE_DATA": str(data)}), engine))
    page = client.get(f"/web/{year}id_/{url}", follow_redirects=True)
    assert page.status_code == 200, (url, page.status_code)
    return page.data


def site_body(site: guard_site.SiteServer, path: str) -> bytes:
    """What the seed site serves at PATH (the home page names the inside server's port)."""
    assert site.inside is not None
    return guard_site.home_page(site.inside) if path == "/" else {
        "/about.html": guard_site.ABOUT, "/style.css": guard_site.STYLE}[path]


def target_uris(summary: dict) -> set[str]:
    uris = set()
    for path in summary["warcs"]:
        with open(path, "rb") as fh:
            uris |= {r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)
                     if r.rec_type == "response"}
    return uris


def assert_refused_by_the_guard(summary: dict, inside: guard_site.SiteServer) -> None:
    """Every off-limits URL the seed embeds failed with the guard's reason, naming its address."""
    reasons = {f["url"]: f["reason"] for f in summary["failures"]}
    for url, address in guard_site.refused_urls(inside).items():
        assert url in reasons, f"{url} was not recorded as failed: {summary['failures']}"
        assert f"resolves to {address}, a loopback, private, link-local or reserved address" in reasons[url], \
            reasons[url]
        assert "REFUGE_ALLOW_PRIVATE_NETWORKS" in reasons[url]


@pytest.fixture()
def ca() -> trustme.CA:
    return trustme.CA()


# Obeying robots.txt, the first fetch from each host is its robots.txt: that one meets the
# guard, and the host's files fail with its refusal. Ignoring it, each file meets the guard.
ROBOTS = pytest.mark.parametrize("robots", ["obey", "ignore"])


@ROBOTS
def test_a_crawl_never_connects_to_a_private_address_it_was_not_allowed(tmp_path, robots) -> None:
    with guard_site.serve_inside() as inside, guard_site.serve_site(inside) as site:
        done = capture(tmp_path / "data", site.url, {"REFUGE_ALLOW_NETWORKS": SEED_ONLY}, robots)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)

        assert (inside.connections, inside.hits) == (0, [])
        assert summary["status"] == "complete"
        assert_refused_by_the_guard(summary, inside)
        for path in ("/", "/about.html", "/style.css"):
            assert replayed(tmp_path / "data", summary["started"][:4], site.abs(path)) == \
                site_body(site, path), path


@ROBOTS
def test_with_the_loopback_network_allowed_the_inside_server_is_reached(tmp_path, robots) -> None:
    """The control: the same capture with 127.0.0.0/8 allowed fetches from 127.0.0.2, so the
    test above can see a guard that lets it through. The IPv6 forms of 127.0.0.2 stay
    refused: an allowed network admits its addresses as written, not wrapped."""
    with guard_site.serve_inside() as inside, guard_site.serve_site(inside) as site:
        done = capture(tmp_path / "data", site.url, {"REFUGE_ALLOW_NETWORKS": "127.0.0.0/8"}, robots)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        fetched = {"/embedded.css", "/embedded.js", "/embedded.png", "/redirected.png"}
        assert set(inside.hits) == fetched | ({"/robots.txt"} if robots == "obey" else set())
        failed = {f["url"] for f in summary["failures"]}
        assert not any(u.startswith("http://127.0.0.2:") for u in failed), failed
        assert f"http://[::ffff:127.0.0.2]:{inside.port}/mapped.png" in failed


def test_an_https_site_on_a_private_ca_is_captured_with_ca_file_and_the_guard_holds(tmp_path, ca) -> None:
    data = tmp_path / "data"
    env = {"REFUGE_ALLOW_NETWORKS": SEED_ONLY, "REFUGE_CA_FILE": str(guard_site.write_ca(ca, tmp_path))}
    with guard_site.serve_inside(tls=ca) as inside, guard_site.serve_site(inside, tls=ca) as site:
        done = capture(data, site.url, env)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)

        assert summary["status"] == "complete"
        assert (inside.connections, inside.hits) == (0, [])
        assert_refused_by_the_guard(summary, inside)
        assert {site.abs("/"), site.abs("/about.html"), site.abs("/style.css")} <= target_uris(summary)
        assert site.url.startswith("https://127.0.0.1:")
        for path in ("/", "/about.html"):
            assert replayed(data, summary["started"][:4], site.abs(path)) == site_body(site, path)


def test_without_the_ca_file_an_https_seed_fails_on_its_certificate(tmp_path, ca) -> None:
    data = tmp_path / "data"
    with guard_site.serve_inside(tls=ca) as inside, guard_site.serve_site(inside, tls=ca) as site:
        done = capture(data, site.url, {"REFUGE_ALLOW_NETWORKS": SEED_ONLY})  # retries as by default
        assert done.returncode == 1
        summary = json.loads(done.stdout)
        assert summary["status"] == "failed"
        # (robots.txt is the first thing asked for, so it is what fails)
        assert summary["error"].startswith(f"seed {site.url}: ") and "TLS certificate not accepted: " in summary["error"]
        assert "ca_file" in summary["error"] and "Pool" not in summary["error"]
        assert "Traceback" not in done.stderr and done.stderr.strip().splitlines()[-1].startswith("refuge: failed: ")
        # It connected once (the guard admitted 127.0.0.1; the same certificate would come
        # back on a retry), refused the certificate, asked for nothing.
        assert site.connections == 1 and site.hits == []
        assert summary["pages"] == 0 and target_uris(summary) == set()
        assert inside.connections == 0
