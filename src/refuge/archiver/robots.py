"""robots.txt rules per origin, as the coordinator applies them.

A worker fetches each origin's robots.txt once per capture (and records it in the
WARC like any response); these rules then decide every URL of that origin.
"""

from __future__ import annotations

from protego import Protego

# Longest Crawl-delay honoured; a site asking for more still gets crawled, at this pace.
MAX_CRAWL_DELAY = 30.0


class Rules:
    def __init__(self, robots_txt: str | None, refusal: str | None = None) -> None:
        """robots_txt: the file's text ("" or None for no rules); refusal: why the whole
        origin is off limits (robots.txt unreachable or failing, per RFC 9309)."""
        self._refusal = refusal
        self._parsed = Protego.parse(robots_txt) if robots_txt and refusal is None else None

    def refusal(self, url: str, user_agent: str) -> str | None:
        """None if URL may be fetched, else why not."""
        if self._refusal:
            return self._refusal
        if self._parsed is not None and not self._parsed.can_fetch(url, user_agent):
            return "disallowed by robots.txt"
        return None

    def crawl_delay(self, user_agent: str) -> float:
        delay = self._parsed.crawl_delay(user_agent) if self._parsed is not None else None
        return min(float(delay), MAX_CRAWL_DELAY) if delay else 0.0
