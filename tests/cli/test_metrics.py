"""/metrics: the catalog's figures match a real capture, and requests made to a running
replay server (real `refuge serve` processes) show up in its request counts and latency
histogram, summed over its processes. Scrapes are parsed with prometheus-client's own parser."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from alert_receivers import wait_for
from refuge.archiver.capture import run_capture
from refuge.cli.admin.metrics import render
from refuge.config.settings import Settings
from refuge.config.store_settings import S3Settings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import mirrors, replicas
from refuge.storage.catalog.index import capture_hits
from refuge.storage.catalog.mirrors import Published
from refuge.storage.replicate import queue_capture
from servers import free_port

REFUGE = str(Path(sys.executable).with_name("refuge"))


def scrape(settings: Settings, engine) -> dict[tuple[str, frozenset], float]:
    body, content_type = render(settings, engine)
    assert content_type.startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


class _Check:
    def __init__(self, mirror_id: int, status: str) -> None:
        self.mirror_id, self.vantage, self.status = mirror_id, "direct", status
        self.detail, self.seconds, self.checked_at = f"{status}: by test", 0.1, catalog.now_iso()


def test_the_catalogs_figures_match_what_was_captured(tmp_settings, fixture_site) -> None:
    # [s3] on a port where nothing listens: copies wait for it, as for a store that is down.
    settings = tmp_settings.replace(max_pages=3,
                                    s3=S3Settings(bucket="b", endpoint_url=f"http://127.0.0.1:{free_port()}"))
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.abs("/km/"), name="site"))
    catalog.save_target(engine, make_target(f"http://127.0.0.1:{free_port()}/", name="down"))
    done = run_capture(settings, engine, "site")
    assert done["status"] == "complete" and done["pages"] > 0
    assert run_capture(settings, engine, "down")["status"] == "failed"
    refs = queue_capture(settings, engine, done["id"])
    replicas.mark_store_failed(engine, refs[:1], "s3", "connection refused")
    replicas.record_check(engine, refs[0], "local", "bad", "sha256 differs", "0" * 64, refs[0].size)
    target = catalog.get_target(engine, "site")
    [mirror_id] = mirrors.record_publish(engine, target.id, done["id"], "d" * 64, "s3",
                                         [Published("s3", "bucket", "https://bucket.example/site/", "sha256:d")], {})
    mirrors.record_checks(engine, [_Check(mirror_id, "down")], {mirror_id: "d" * 64})

    samples = scrape(settings, engine)
    assert value(samples, "refuge_targets") == 2
    assert value(samples, "refuge_captures", target="site", status="complete") == 1
    assert value(samples, "refuge_captures", target="down", status="failed") == 1
    assert value(samples, "refuge_captured_pages", target="site") == done["pages"]
    assert value(samples, "refuge_captured_bytes", target="site") == done["bytes"]
    assert value(samples, "refuge_last_complete_capture_pages", target="site") == done["pages"]
    assert value(samples, "refuge_last_complete_capture_bytes", target="site") == done["bytes"]
    finished = catalog.get_capture(engine, done["id"])["finished"]
    assert value(samples, "refuge_last_complete_capture_timestamp_seconds", target="site") == _unix(finished)
    assert value(samples, "refuge_last_complete_capture_pages", target="down") is None  # never complete
    # Every file of both captures waits for S3 (the failed one's manifest too).
    assert value(samples, "refuge_replication_pending", store="s3") == replicas.pending_count(engine, ["s3"])
    assert replicas.pending_count(engine, ["s3"]) >= len(refs)
    assert value(samples, "refuge_replication_failing", store="s3") == 1
    assert value(samples, "refuge_fixity_failures", target="site") == 1
    assert value(samples, "refuge_fixity_copies", target="site", result="bad") == 1
    assert value(samples, "refuge_mirror_up", target="site", channel="s3", style="bucket",
                 url="https://bucket.example/site/", vantage="direct") == 0
    # No replay server ran on this machine: no replay figures, and the scrape still works.
    assert not any(name.startswith("refuge_replay") for name, _ in samples)


def _unix(text: str) -> float:
    from datetime import datetime, timezone

    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def _serve(data: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFUGE_", "PROMETHEUS_"))}
    env.update(REFUGE_DATA=str(data))
    proc = subprocess.Popen([REFUGE, "serve", "--port", str(port), "--processes", "2"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        assert proc.poll() is None, "refuge serve exited"
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    wait_for(up, timeout=60, step=0.2)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


def test_replay_requests_across_processes_show_in_the_counts_and_histogram(tmp_settings, fixture_site) -> None:
    settings = tmp_settings.replace(max_pages=3)
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.abs("/km/"), name="site"))
    done = run_capture(settings, engine, "site")
    hits = [h for h in capture_hits(engine, done["id"]) if h.rectype == "response"][:4]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(settings.data, port)
    try:
        for hit in hits:  # a new connection each: the kernel spreads them over both processes
            assert requests.get(f"{base}/web/{hit.timestamp}id_/{hit.url}", timeout=10).status_code == 200
        assert requests.get(f"{base}/web/{hits[0].url}", timeout=10, allow_redirects=False).status_code == 302
        assert requests.get(f"{base}/data/no-such-target/", timeout=10).status_code == 404
        requests.get(f"{base}/mirrors", timeout=10)

        def counted() -> dict | None:
            samples = scrape(settings, engine)
            web = value(samples, "refuge_replay_request_seconds_count", kind="web")
            return samples if web == len(hits) + 1 else None

        samples = wait_for(counted, timeout=10)
        assert value(samples, "refuge_replay_requests_total", kind="web", status="2xx") == len(hits)
        assert value(samples, "refuge_replay_requests_total", kind="web", status="3xx") == 1
        assert value(samples, "refuge_replay_requests_total", kind="data", status="4xx") == 1
        assert sum(v for (name, labels), v in samples.items()
                   if name == "refuge_replay_requests_total" and ("kind", "mirrors") in labels) == 1
        assert value(samples, "refuge_replay_request_seconds_bucket", kind="web", le="+Inf") == len(hits) + 1
        assert value(samples, "refuge_replay_request_seconds_sum", kind="web") > 0
        assert value(samples, "refuge_replay_requests_total", kind="other", status="2xx") >= 1  # /healthz
        assert not any("site" in dict(labels).get("kind", "") or "http" in str(labels)
                       for (name, labels) in samples if name.startswith("refuge_replay"))  # never the URL
    finally:
        _stop(proc)
    proc = _serve(settings.data, port)  # a server that starts again counts from zero
    try:
        samples = scrape(settings, engine)
        assert value(samples, "refuge_replay_request_seconds_count", kind="web") == 0
    finally:
        _stop(proc)
