"""robots.txt per host, fetched once per capture and kept in the WARC like any response."""

from __future__ import annotations

import threading
from typing import Callable
from urllib.parse import urlsplit

from protego import Protego

from refuge.archiver.fetch import Exchange, FetchError
from refuge.formats.urls import resolve

# Longest Crawl-delay honoured; a site asking for more still gets crawled, just at this pace.
MAX_CRAWL_DELAY = 30.0
MAX_REDIRECTS = 5
MAX_ROBOTS_BYTES = 500 * 1024  # RFC 9309: parse at least the first 500 KiB


class RobotsRules:
    """Answers for every host of one capture whether a URL may be fetched.

    RFC 9309: a 4xx robots.txt means no rules; a 5xx or an unreachable one means
    the whole host is disallowed for now.
    """

    def __init__(self, fetch: Callable[[str], Exchange], record: Callable[[Exchange], None], user_agent: str) -> None:
        self._fetch = fetch
        self._record = record
        self._user_agent = user_agent
        self._rules: dict[str, Protego | bool | str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def refusal(self, url: str) -> str | None:
        """None if robots.txt lets us fetch URL, else why not."""
        rules = self._for(url)
        if rules is True:
            return None
        if isinstance(rules, str):
            return rules
        return None if rules.can_fetch(url, self._user_agent) else "disallowed by robots.txt"

    def crawl_delay(self, url: str) -> float:
        rules = self._for(url)
        if not isinstance(rules, Protego):
            return 0.0
        delay = rules.crawl_delay(self._user_agent)
        return min(float(delay), MAX_CRAWL_DELAY) if delay else 0.0

    def _for(self, url: str) -> Protego | bool | str:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._guard:
            if origin in self._rules:
                return self._rules[origin]
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch per host even when several workers ask at once
            if origin not in self._rules:
                self._rules[origin] = self._load(origin + "/robots.txt")
            return self._rules[origin]

    def _load(self, robots_url: str) -> Protego | bool | str:
        """Rules, True for none, or the reason the whole host is off limits."""
        # RFC 9309 asks crawlers to follow at least five redirects for robots.txt.
        for _ in range(MAX_REDIRECTS + 1):
            try:
                ex = self._fetch(robots_url)
            except FetchError as exc:
                return f"robots.txt unreachable, so the host is treated as disallowed: {exc}"
            try:
                self._record(ex)
                if 300 <= ex.status < 400 and ex.header("Location"):
                    robots_url = resolve(robots_url, ex.header("Location") or "") or ""
                    if not robots_url:
                        return True
                    continue
                if 400 <= ex.status < 500:
                    return True
                if ex.status >= 500 or ex.status < 200:
                    return f"robots.txt answered HTTP {ex.status}, so the host is treated as disallowed"
                ex.body.seek(0)
                return Protego.parse(ex.body.read(MAX_ROBOTS_BYTES).decode("utf-8", "replace"))
            finally:
                ex.close()
        return True
