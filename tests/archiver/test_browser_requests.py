"""Browser mode: what a page makes the browser ask for is governed like any URL of the
capture. Never-ending responses do not hold it, the frontier's rules (robots.txt, exclude
patterns, the trap rule) refuse what they refuse in a plain crawl, a URL no library accepts
fails alone, the failure list stays small, an oversized DOM never reaches Python, and a
selector the browser rejects is listed, not fatal. Pages in tests/support/js_site/hostile/.
"""

from __future__ import annotations

import json
import time

import js_site
import pytest
from browser_captures import browser_settings, capture_in_browser, uris

from refuge.archiver.warcwriter import RollingWarcWriter, WriterClosed
from refuge.config.settings import Settings

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(tmp_path) -> Settings:
    return browser_settings(tmp_path)


def capture(settings: Settings, url: str, **target) -> tuple[dict, list[tuple[str, str, bytes]], float]:
    return capture_in_browser(settings, url, "pages", **target)


def reasons(summary: dict) -> dict[str, str]:
    return {f["url"]: f["reason"] for f in summary["failures"]}


def test_endless_responses_neither_hold_the_capture_nor_write_after_it(settings) -> None:
    with js_site.serve_js_site() as site:
        page = site.abs("/hostile/live.html")
        summary, records, seconds = capture(settings, page, scope="host")
        hits = site.hits.paths()
        sealed_at = time.time()
        time.sleep(1)  # what a fetch left running would write now, it would write in this second
    failed = reasons(summary)
    assert summary["status"] == "complete"
    for i in range(3):
        assert "text/event-stream" in failed[site.abs(f"/api/events?stream={i}")]
    # Still trickling when the page was taken: given up when the worker closed, not recorded.
    assert "/api/trickle" in hits and site.abs("/api/trickle") not in uris(records, "response")
    assert f"urn:dom:{page}" in uris(records, "resource")
    assert f"urn:dom:{site.abs('/about.html')}" in uris(records, "resource")  # the capture went on
    files = list((settings.archive_dir / "pages").rglob("*"))
    assert not [f for f in files if f.name.endswith(".open")], "a file was opened after the capture was sealed"
    assert all(f.stat().st_mtime <= sealed_at for f in files if f.is_file())
    assert seconds < settings.browser_page_seconds  # the page budget bounds the trickle, not max_response_bytes


def test_a_closed_writer_refuses_records_and_opens_no_file(tmp_path) -> None:
    writer = RollingWarcWriter(tmp_path, "w", 1 << 20, {"software": "test"}, on_seal=lambda warc: None)
    writer.write_resource("urn:dom:http://a.example/", "2026-01-01T00:00:00Z", "text/html", b"<p>a</p>")
    writer.close()
    with pytest.raises(WriterClosed):
        writer.write_resource("urn:dom:http://b.example/", "2026-01-01T00:00:00Z", "text/html", b"<p>b</p>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w-00001.warc.gz"]


def test_robots_exclude_and_trap_rules_govern_the_browsers_requests(settings) -> None:
    with js_site.serve_js_site() as site:
        site.robots = "User-agent: *\nDisallow: /private/\n"
        page = site.abs("/hostile/requests.html")
        summary, records, _ = capture(settings, page, scope="page", exclude=[r"skip\.png$"])
        hits = site.hits.paths()
    assert summary["status"] == "complete"
    assert not [h for h in hits if h.startswith("/private/") or "skip.png" in h or "px=" in h], hits
    assert "/api/ping?n=1" in hits  # what no rule refuses is fetched
    failed = reasons(summary)
    assert failed[site.abs("/private/a.png")] == "disallowed by robots.txt"
    assert failed[site.abs("/static/skip.png")].startswith("excluded by the target's exclude patterns")
    [long] = [f for f in summary["failures"] if "px=" in f["url"]]
    assert long["reason"].startswith("URL longer than 2048 characters") and len(long["url"]) < 400
    assert not [u for u in uris(records, "response") if "/private/" in u or "skip.png" in u or "px=" in u]
    assert f"urn:dom:{page}" in uris(records, "resource")


def test_a_url_no_library_takes_fails_alone(settings) -> None:
    with js_site.serve_js_site() as site:
        page = site.abs("/hostile/badurl.html")
        summary, records, _ = capture(settings, page, scope="page")
    assert summary["status"] == "complete"
    assert [f["url"] for f in summary["failures"]] == ["http://.example.com/x.js"]
    assert summary["failures"][0]["reason"].startswith("not fetched: InvalidURL")
    dom = next(body for kind, url, body in records if kind == "resource" and url == f"urn:dom:{page}")
    assert b'<p id="result">failed</p>' in dom  # the page saw a failed fetch, and was rendered
    assert f"urn:screenshot:{page}" in uris(records, "resource")


def test_the_failure_list_of_a_page_is_bounded(settings) -> None:
    with js_site.serve_js_site() as site:
        page = site.abs("/hostile/beacons.html")
        summary, _, _ = capture(settings, page, scope="page")
    failures = summary["failures"]
    assert summary["status"] == "complete"
    assert len(failures) <= 102 and len(json.dumps(failures)) < 100_000
    assert all(len(f["url"]) < 400 for f in failures)
    assert any(f["reason"].endswith("more failures of this page not listed") for f in failures)
    # The POSTs count against the page's requests like any other.
    assert any(f["reason"] == "the page made more than 1000 requests; the rest were not made" for f in failures)


def test_an_oversized_dom_is_measured_in_the_page_and_left_there(settings) -> None:
    settings = settings.replace(max_response_bytes=200_000)
    with js_site.serve_js_site() as site:
        page = site.abs("/hostile/bigdom.html")
        summary, records, _ = capture(settings, page, scope="host")
        hits = site.hits.paths()
    assert summary["status"] == "complete"
    [failure] = summary["failures"]
    assert failure["url"] == f"urn:dom:{page}"
    assert failure["reason"].startswith("rendered DOM of ") and "characters exceeds max_response_bytes" in \
        failure["reason"]
    assert f"urn:dom:{page}" not in uris(records, "resource")
    assert f"urn:screenshot:{page}" in uris(records, "resource")
    assert "/about.html" not in hits  # its only link was in the DOM left unread


def test_playwright_selectors_press_and_a_rejected_one_is_listed(settings) -> None:
    with js_site.serve_js_site() as site:
        summary, records, _ = capture(settings, site.url, scope="page", click=[
            "button:::not-a-selector", 'button:has-text("បន្ថែមទៀត")'], max_clicks=2)
    assert summary["status"] == "complete"
    [failure] = summary["failures"]
    assert failure["url"] == site.url and failure["reason"].startswith("click selector 'button:::not-a-selector'")
    dom = next(body for kind, url, body in records if kind == "resource" and url == f"urn:dom:{site.url}")
    for title in js_site.BATCH_2:  # the Khmer :has-text() selector pressed "Load more"
        assert title.encode() in dom
