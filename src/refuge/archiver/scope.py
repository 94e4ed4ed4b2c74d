"""Which URLs belong to a target: its scope, its include/exclude patterns, and trap rules.

Scopes: `page` the seed alone; `prefix` URLs under the seed's directory; `host` the
seed's host and port; `domain` its registered domain and every subdomain. Include
patterns narrow the scope (a URL must match one), exclude patterns cut it. When the
seed redirects (http -> https, / -> /km/), the redirect's target is in scope too, so
a seed typed the short way still captures the site.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from refuge.config.targets import TargetSpec
from refuge.formats.urls import canonical, registered_domain

MAX_URL_LENGTH = 2048
MAX_PATH_SEGMENTS = 32
MAX_SEGMENT_REPEATS = 2  # /a/a/a/ is a trap (Heritrix's PathologicalPath rule)


class Scope:
    def __init__(self, spec: TargetSpec) -> None:
        self.kind = spec.scope
        self._anchors: list[tuple[str, str, int | None, str, str]] = []
        self._include = [re.compile(p) for p in spec.include]
        self._exclude = [re.compile(p) for p in spec.exclude]
        self.add_seed(spec.url)

    def add_seed(self, url: str) -> None:
        """Anchor the scope on URL as well (used for the seed's redirect targets)."""
        c = canonical(url)
        parts = urlsplit(c)
        host = parts.hostname or ""
        directory = parts.path[: parts.path.rfind("/") + 1] or "/"
        # The Public Suffix List is loaded on first use: only a domain scope needs it.
        domain = registered_domain(host) if self.kind == "domain" else ""
        anchor = (c.split("://", 1)[1], host, _port(parts), domain, host + _port_text(parts) + directory)
        if anchor not in self._anchors:
            self._anchors.append(anchor)

    def in_scope(self, url: str, c: str | None = None) -> bool:
        """Whether a discovered link should be crawled as a page of this target (C: its
        canonical form, if the caller has it already)."""
        c = c or canonical(url)
        if self.excluded(c) or is_trap(c):
            return False
        parts = urlsplit(c)
        if not any(self._matches(anchor, c, parts) for anchor in self._anchors):
            return False
        return not self._include or any(p.search(url) or p.search(c) for p in self._include)

    def excluded(self, url: str) -> bool:
        """Exclude patterns apply to everything, page requisites included."""
        return any(p.search(url) for p in self._exclude)

    def _matches(self, anchor: tuple[str, str, int | None, str, str], c: str, parts) -> bool:  # type: ignore[no-untyped-def]
        seed_rest, host, port, domain, prefix = anchor
        chost = parts.hostname or ""
        if self.kind == "page":
            return c.split("://", 1)[1] == seed_rest
        if self.kind == "prefix":
            return (chost + _port_text(parts) + (parts.path or "/")).startswith(prefix)
        if self.kind == "host":
            return chost == host and _port(parts) == port
        return chost == domain or chost.endswith("." + domain)


def is_trap(url: str) -> bool:
    """Shapes no real site needs: endless URLs, very deep paths, a segment repeating itself."""
    if len(url) > MAX_URL_LENGTH:
        return True
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if len(segments) > MAX_PATH_SEGMENTS:
        return True
    run = 1
    for prev, cur in zip(segments, segments[1:]):
        run = run + 1 if cur == prev else 1
        if run > MAX_SEGMENT_REPEATS:
            return True
    return False


def _port(parts) -> int | None:  # type: ignore[no-untyped-def]
    # canonical() already dropped default ports, so None means "the scheme's default".
    return parts.port


def _port_text(parts) -> str:  # type: ignore[no-untyped-def]
    return f":{parts.port}" if parts.port else ""
