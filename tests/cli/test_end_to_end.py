"""The whole path as people meet it: capture with the real crawler, replay in a real browser,
`refuge run` as a long-lived service, and `refuge demo`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import fixture_site as fs
from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog
from replay_fixtures import without_urls
from servers import free_port, read_lines_until, stop_process

REFUGE = str(Path(sys.executable).with_name("refuge"))
KHMER_HEADLINE = "សេរីភាពសារព័ត៌មាន"


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """The fixture site captured by the real crawler; the site and its CDN are stopped
    before anything is replayed, so nothing can be fetched from the origin by mistake."""
    data = tmp_path_factory.mktemp("e2e")
    settings = Settings(data=data, allow_private_networks=True, backoff=0.05, timeout=5,
                        max_response_bytes=1_000_000, max_pages=150)
    engine = catalog.connect(settings.catalog_url)
    with fs.serve_with_cdn() as (site, cdn):
        catalog.save_target(engine, make_target(site.url, name="fixture", scope="host"))
        summary = run_capture(settings, engine, "fixture")
        urls = {"site": site.url, "cdn": cdn.url, "km": site.abs("/km/article-1.html"),
                "cp1251": site.abs("/legacy/cp1251.html")}
        km_bytes = site.file_bytes("/km/article-1.html")
    with running_server(make_app(settings, engine)) as base:
        yield {"base": base, "summary": summary, "urls": urls, "km_bytes": km_bytes, "ts": summary["id"][:14]}


def replay_get(archived, url: str) -> requests.Response:
    return requests.get(f"{archived['base']}/web/{archived['ts']}/{url}", timeout=10)


@pytest.mark.browser
def test_replayed_site_renders_without_javascript_and_never_leaves_the_mirror(archived, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        seen: list[str] = []
        page.on("request", lambda req: seen.append(req.url))
        page.goto(f"{archived['base']}/web/{archived['ts']}/{archived['urls']['site']}", wait_until="load")
        assert page.is_visible("#refuge-banner")
        # Every image shows, the one from the CDN host (out of scope) included: all from the archive.
        sizes = page.evaluate("() => [...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        assert len(sizes) >= 2 and all(sizes), sizes
        assert page.evaluate("() => getComputedStyle(document.body).backgroundImage").startswith(
            f'url("{archived["base"]}/web/')
        cdn_img = page.evaluate(f"() => [...document.images].some(i => i.src.includes('{archived['urls']['cdn']}') "
                                "&& i.naturalWidth > 0)")
        assert cdn_img, "the out-of-scope image from the CDN should replay from the archive"
        page.goto(f"{archived['base']}/web/{archived['ts']}/{archived['urls']['km']}", wait_until="load")
        assert KHMER_HEADLINE in page.inner_text("body")
        outside = [u for u in seen if not u.startswith(archived["base"] + "/") and not u.startswith("data:")]
        assert outside == [], outside
    finally:
        context.close()


def test_replayed_khmer_article_keeps_its_bytes(archived) -> None:
    resp = replay_get(archived, archived["urls"]["km"])
    assert resp.status_code == 200
    assert KHMER_HEADLINE.encode() in resp.content
    # The whole document comes through byte for byte but for its URLs and the banner.
    assert without_urls(resp.content) == without_urls(archived["km_bytes"])
    raw = requests.get(f"{archived['base']}/web/{archived['ts']}id_/{archived['urls']['km']}", timeout=10)
    assert raw.content == archived["km_bytes"]


def test_legacy_charset_page_served_in_its_own_charset(archived) -> None:
    resp = replay_get(archived, archived["urls"]["cp1251"])
    assert resp.status_code == 200
    assert "Свобода".encode("cp1251") in resp.content or "новости".encode("cp1251") in resp.content


def test_uncaptured_page_says_so(archived) -> None:
    resp = replay_get(archived, archived["urls"]["site"] + "never-linked.html")
    assert resp.status_code == 404
    assert "not captured" in resp.text.lower() or "not been captured" in resp.text.lower()


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    env.update({"REFUGE_DATA": str(data), "REFUGE_ALLOW_PRIVATE_NETWORKS": "true", "REFUGE_BACKOFF": "0.05",
                "REFUGE_TIMEOUT": "5"}, **extra)
    return env


def _wait(predicate, timeout: float = 60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
        except (requests.RequestException, json.JSONDecodeError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_refuge_run_captures_on_schedule_serves_and_stops_cleanly(tmp_path, fixture_site) -> None:
    data = tmp_path / "data"
    targets = tmp_path / "targets.toml"
    targets.write_text(f'[[target]]\nname = "km"\nurl = "{fixture_site.abs("/km/")}"\nevery = "1h"\n'
                       'max_pages = 5\n', encoding="utf-8")
    port, admin_port = free_port(), free_port()
    env = _env(data, REFUGE_TARGETS_FILE=str(targets), REFUGE_PORT=str(port), REFUGE_STARTUP_SPREAD="0",
               REFUGE_SYNC_SECONDS="1", REFUGE_ADMIN_PORT=str(admin_port))
    proc = subprocess.Popen([REFUGE, "run"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(f"{base}/healthz", timeout=2).ok, 30)
        # The admin console runs beside it, on its own port.
        _wait(lambda: requests.get(f"http://127.0.0.1:{admin_port}/login", timeout=2).ok, 30)

        def captures(name: str) -> list[dict]:
            out = subprocess.run([REFUGE, "captures", name, "--json"], env=env, capture_output=True, text=True)
            return [c for c in json.loads(out.stdout) if c["status"] == "complete"]

        first = _wait(lambda: captures("km"))[0]
        assert "km" in requests.get(base + "/", timeout=5).text
        # A target added from another process while the service runs is picked up.
        added = subprocess.run([REFUGE, "add", fixture_site.abs("/en/"), "--name", "en", "--every", "1h",
                                "--max-pages", "3"], env=env, capture_output=True, text=True)
        assert added.returncode == 0, added.stderr
        _wait(lambda: captures("en"))
        page = requests.get(f"{base}/web/{first['id'][:14]}/{fixture_site.abs('/km/article-1.html')}", timeout=10)
        assert page.status_code == 200 and KHMER_HEADLINE.encode() in page.content
    finally:
        stop_process(proc, signal.SIGTERM)
    assert proc.returncode == 0, proc.stdout.read() if proc.stdout else ""
    rows = json.loads(subprocess.run([REFUGE, "captures", "--json"], env=env, capture_output=True,
                                     text=True).stdout)
    assert rows and all(r["status"] != "running" for r in rows)


def test_demo_captures_the_sample_site_and_replays_a_khmer_article(tmp_path) -> None:
    port = free_port()
    proc = subprocess.Popen([REFUGE, "demo", "--port", str(port)], env=_env(tmp_path / "data"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = read_lines_until(proc, "Press Ctrl-C")
        urls = {k.strip(): v.strip() for k, _, v in (ln.partition(": ") for ln in lines) if v.startswith("http")}
        assert "Khmer article" in urls, "".join(lines)
        resp = requests.get(urls["Khmer article"], timeout=10)
        assert resp.status_code == 200
        assert "ព័ត៌មាន".encode() in resp.content and b"refuge-banner" in resp.content
        assert requests.get(urls["Replay server"], timeout=10).status_code == 200
    finally:
        stop_process(proc, signal.SIGINT)
