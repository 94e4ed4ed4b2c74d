"""Browser mode against pages that fight back: one that never lets the network go idle,
one whose scripts never yield, one whose tab crashes (its renderer killed, as a crash or an
out-of-memory kill would), one whose browser dies, and one that tries to reach the local
network. Each capture ends in bounded time with the others' pages captured, and the
failures listed; nothing reaches the "inside" server on 127.0.0.2.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path

import guard_site
import js_site
import pytest
import servers
from browser_captures import browser_settings, capture_in_browser, uris

from refuge.archiver.browser import chromium_args
from refuge.config.settings import Settings

pytestmark = pytest.mark.browser
PROXY_MARK = "--proxy-bypass-list=<-loopback>"  # on the command line of every capture's Chromium


@pytest.fixture
def settings(tmp_path) -> Settings:
    return browser_settings(tmp_path)


def capture(settings: Settings, url: str, **target) -> tuple[dict, list[tuple[str, str, bytes]], float]:
    return capture_in_browser(settings, url, "hostile", **target)


# -- processes of the capture's Chromium, found in /proc ------------------------------------

def _processes() -> dict[int, tuple[int, list[str]]]:
    """pid -> (parent pid, command line) of every process there is."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        found[int(name)] = (int(stat.rsplit(")", 1)[1].split()[1]), [a.decode(errors="replace") for a in cmdline])
    return found


def _descends(pid: int, ancestor: int, procs: dict[int, tuple[int, list[str]]]) -> bool:
    while pid in procs and pid > 1:
        if pid == ancestor:
            return True
        pid = procs[pid][0]
    return False


def capture_chromium(kind: str) -> list[int]:
    """This test's capture browsers ("browser": their main process) or their tabs
    ("renderer"), never the session's own test browser (its command line has no proxy)."""
    procs, me = _processes(), os.getpid()
    # Chromium's children rewrite their argv as one string: match on the joined line.
    line = {pid: " ".join(cmd) for pid, (_, cmd) in procs.items()}
    mains = [pid for pid in procs if PROXY_MARK in line[pid] and "--type=" not in line[pid]
             and _descends(pid, me, procs)]
    if kind == "browser":
        return mains
    return [pid for pid in procs
            if "--type=renderer" in line[pid] and any(_descends(pid, main, procs) for main in mains)]


def killer(kind: str):
    def kill() -> None:
        for pid in capture_chromium(kind):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.3)  # the request stays unanswered while Chromium notices
    return kill


# -- the tests --------------------------------------------------------------------------

def test_a_page_that_never_goes_quiet_is_taken_at_the_settle_budget(settings) -> None:
    with js_site.serve_js_site() as site:
        summary, records, _ = capture(settings, site.abs("/hostile/endless.html"), scope="page")
        pings = [h for h in site.hits.paths() if h.startswith("/api/ping")]
    assert summary["status"] == "complete" and summary["failures"] == []
    dom = next(body for kind, url, body in records if kind == "resource" and url.startswith("urn:dom:"))
    ticks = int(re.search(rb'<p id="ticks">(\d+)</p>', dom).group(1))
    assert ticks >= 1  # its loop ran, and was answered
    assert 1 <= len(pings) < 100  # a 2 s settle at ten requests a second, not for ever
    assert len([u for u in uris(records, "response") if "/api/ping" in u]) == len(pings)


def test_a_page_that_never_ends_is_taken_within_its_budget(settings) -> None:
    settings = settings.replace(browser_page_seconds=12)
    with js_site.serve_js_site() as site:
        summary, records, _ = capture(settings, site.abs("/hostile/infinite.html"), scope="page", scroll=True)
        polled = [int(re.search(r"n=(\d+)", h).group(1)) for h in site.hits.paths() if h.startswith("/api/ping")]
    assert summary["status"] == "complete" and summary["failures"] == []
    dom = next(body for kind, url, body in records if kind == "resource" and url.startswith("urn:dom:"))
    items = len(re.findall(rb"<li [^>]*>Item \d+</li>", dom))
    assert items > 20  # scrolled, and fed more, until its share of the page budget was spent
    # One attempt, not two: the feed's counter only grows within a tab; a retry would start it over.
    assert polled and polled == sorted(polled) and polled[-1] > 20


def test_a_page_whose_scripts_never_yield_is_retried_then_listed(settings) -> None:
    with js_site.serve_js_site() as site:
        summary, records, seconds = capture(settings, site.abs("/hostile/index.html"), scope="host",
                                            exclude=["crash", "endless"])
        hits = site.hits.paths()
    busy = site.abs("/hostile/busy.html")
    assert summary["status"] == "complete"
    assert [(f["url"], f["reason"]) for f in summary["failures"]] == \
        [(busy, "browser: the page did not answer within 2 s (its scripts keep it busy) (tried twice)")]
    assert hits.count("/hostile/busy.html") == 1  # the retry renders the document already fetched
    assert busy in uris(records, "response") and f"urn:dom:{busy}" not in uris(records, "resource")
    assert f"urn:dom:{site.abs('/about.html')}" in uris(records, "resource")  # the capture went on
    assert seconds < 60


@pytest.mark.parametrize("kill, reason", [("renderer", "the browser tab crashed"),
                                          ("browser", "the browser died")])
def test_a_crashed_tab_or_a_dead_browser_is_retried_then_listed(settings, kill, reason) -> None:
    with js_site.serve_js_site() as site:
        site.hooks["/hostile/crash.js"] = killer(kill)
        summary, records, seconds = capture(settings, site.abs("/hostile/index.html"), scope="host",
                                            exclude=["busy", "endless"])
        hits = site.hits.paths()
    crash = site.abs("/hostile/crash.html")
    assert summary["status"] == "complete"
    assert [f["url"] for f in summary["failures"]] == [crash]
    assert summary["failures"][0]["reason"].startswith("browser: " + reason)
    assert summary["failures"][0]["reason"].endswith("(tried twice)")
    # Asked for by the tab, by the tab it was retried in, and as a requisite of the page
    # read as sent (its links are followed as in a plain capture).
    assert hits.count("/hostile/crash.js") == 3
    rendered = uris(records, "resource")
    assert f"urn:dom:{crash}" not in rendered
    for path in ("/hostile/index.html", "/about.html"):
        assert f"urn:dom:{site.abs(path)}" in rendered, path
    assert not capture_chromium("browser"), "the capture's Chromium outlived it"
    assert seconds < 90


def test_a_page_cannot_make_the_browser_reach_a_private_address(settings) -> None:
    settings = settings.replace(allow_private_networks=False, allow_networks=("127.0.0.1/32",))
    with guard_site.serve_inside() as inside, js_site.serve_js_site() as site:
        page = site.abs("/hostile/private.html?to=" + inside.url)
        summary, records, _ = capture(settings, page, scope="page")
        assert inside.connections == 0 and inside.hits == []
    assert summary["status"] == "complete"
    reasons = {f["url"]: f["reason"] for f in summary["failures"]}
    for name in ("secret.json", "pixel.png", "frame.html"):
        assert "127.0.0.2" in reasons[inside.url + name] and "private" in reasons[inside.url + name], name
    assert reasons[inside.url + "beacon"].startswith("POST request from the page not made")
    dom = next(body for kind, url, body in records if kind == "resource" and url == f"urn:dom:{page}")
    assert b'<p id="result">refused</p>' in dom
    assert not [u for u in uris(records, "response") if u.startswith(inside.url)]


def test_what_escapes_interception_fails_at_the_proxy(browser, browser_args_blackhole) -> None:
    """The second wall alone: Chromium with Refuge's switches and no interception at all
    cannot reach a server, loopback included."""
    from playwright.sync_api import Error

    args, blackhole = browser_args_blackhole
    with guard_site.serve_inside() as inside, js_site.serve_js_site() as site:
        # Launched by the session's Playwright: a second one in this thread would refuse to start.
        chromium = browser.browser_type.launch(executable_path=servers.CHROMIUM, headless=True, args=args)
        try:
            page = chromium.new_page()
            for url in (inside.url, site.url):
                with pytest.raises(Error, match="ERR_PROXY_CONNECTION_FAILED"):
                    page.goto(url, timeout=10_000)
        finally:
            chromium.close()
        assert inside.connections == 0 and site.hits.paths() == []


@pytest.fixture
def browser_args_blackhole():
    servers.need_chromium()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        servers.unavailable("Playwright", str(exc), "pip install -e '.[test]'")
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))  # bound, never listening: what BrowserHost holds
    try:
        yield chromium_args(hole.getsockname()[1]), hole
    finally:
        hole.close()
