"""Which of a rendered page's requests the worker makes: the frontier's rules, in the worker.

Contract: `BrowserGate(exclude, obey_robots, user_agent, delay, robots)`; `gate.admit(url,
deadline, cancel)` returns None when URL may be fetched now (having waited its host's turn),
else the reason it is not (listed among the capture's failures; the request fails in the
browser). The rules are those the crawl applies to a page's requisites (crawl.py): the
target's exclude patterns, the trap rule (a URL over 2048 characters among them), robots.txt
of the URL's origin when the target obeys it, and `delay` (or the origin's Crawl-delay)
between the starts of this worker's requests to one host.

ROBOTS (origin -> Rules) fetches and records an origin's robots.txt; it is asked once per
origin per worker process, unless `learn` was told the origin's rules already (the worker's
own robots tasks).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from refuge.archiver.robots import Rules
from refuge.archiver.scope import MAX_URL_LENGTH, is_trap
from refuge.formats.urls import host_and_port


class BrowserGate:
    def __init__(self, exclude: Sequence[str], obey_robots: bool, user_agent: str, delay: float,
                 robots: Callable[[str], Rules]) -> None:
        self._exclude = [re.compile(p) for p in exclude]
        self.obey_robots = obey_robots
        self.user_agent = user_agent
        self.delay = delay
        self._fetch_rules = robots
        self._rules: dict[str, Rules] = {}
        self._origin_locks: dict[str, threading.Lock] = {}
        self._next_start: dict[str, float] = {}
        self._lock = threading.Lock()

    def learn(self, origin: str, rules: Rules) -> None:
        """ORIGIN's robots.txt rules, read by the worker's own robots task."""
        with self._lock:
            self._rules[origin] = rules

    def admit(self, url: str, deadline: float, cancel: threading.Event) -> str | None:
        """None once URL may be fetched (see the module doc), else why it is not."""
        if len(url) > MAX_URL_LENGTH:
            return f"URL longer than {MAX_URL_LENGTH} characters: not fetched"
        if is_trap(url):
            return "URL shaped like a crawler trap (too deep, a repeating path): not fetched"
        if any(p.search(url) for p in self._exclude):
            return "excluded by the target's exclude patterns: not fetched"
        parts = urlsplit(url)
        rules = self._rules_of(f"{parts.scheme}://{parts.netloc}") if self.obey_robots else None
        if rules is not None:
            refusal = rules.refusal(url, self.user_agent)
            if refusal:
                return refusal
        return self._wait_turn(url, max(self.delay, rules.crawl_delay(self.user_agent) if rules else 0.0),
                               deadline, cancel)

    def _rules_of(self, origin: str) -> Rules:
        with self._lock:
            rules = self._rules.get(origin)
            if rules is not None:
                return rules
            lock = self._origin_locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch of an origin's robots.txt; its other requests wait for it
            with self._lock:
                rules = self._rules.get(origin)
            if rules is None:
                rules = self._fetch_rules(origin)
                with self._lock:
                    self._rules[origin] = rules
            return rules

    def _wait_turn(self, url: str, delay: float, deadline: float, cancel: threading.Event) -> str | None:
        if delay <= 0:
            return None
        host = host_and_port(url)
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, 0.0))
            if start >= deadline:
                return f"not fetched within the page's time: requests to {host} are {delay:g} s apart"
            self._next_start[host] = start + delay
        if cancel.wait(start - now):
            return "capture stopped"
        return None
