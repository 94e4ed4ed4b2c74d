"""What the pages of one export share (mirror.export_rewrite): which hosts are the site's own,
and the start tags already rewritten, by folder."""

from __future__ import annotations

from typing import Any

from refuge.formats.urls import host_and_port, registered_domain


class Site:
    """What the pages of one export share: which hosts count as the site's own (for scripts:
    the seed's and the page's host and port, and hosts under the same registered domain, not
    for IP addresses), and the start tags already rewritten, by folder."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        # See ExportRewriter._rewritten and _open_script; cached counts the entries of both.
        self.tag_cache: dict[tuple[str, str, str | None, str, bool], dict[str, str]] = {}
        self.script_cache: dict[tuple[str, str, str | None, bool], dict[str, tuple[str | None, str, str]]] = {}
        self.cached = 0
        self._own = {host_and_port(seed)}
        self._domains = {_domain(seed)} - {None}

    def tags(self, url_dir: str, path_dir: str, base: str | None, media: str,
             view: bool = False) -> dict[str, str]:
        """The remembered start tags of pages in URL_DIR exported into PATH_DIR, under BASE and
        inside MEDIA: text -> text as written (the same object when unchanged). VIEW: of pages
        read as formats.utf8_view's view, where the same characters can stand for other text."""
        return self._table(self.tag_cache, (url_dir, path_dir, base, media, view))

    def scripts(self, url_dir: str, path_dir: str, base: str | None,
                view: bool = False) -> dict[str, tuple[str | None, str, str]]:
        """The same for script start tags: text -> ExportRewriter._script_start's answer."""
        return self._table(self.script_cache, (url_dir, path_dir, base, view))

    def _table(self, cache: dict[Any, dict[str, Any]], key: Any) -> dict[str, Any]:
        if self.cached >= 200_000:  # a bound on memory for a huge site: start again
            self.tag_cache.clear()
            self.script_cache.clear()
            self.cached = 0
        found = cache.get(key)
        if found is None:
            found = cache[key] = {}
        return found

    def owns(self, url: str, page: str) -> bool:
        where = host_and_port(url)
        if where in self._own or where == host_and_port(page):
            return True
        domain = _domain(url)
        return domain is not None and (domain in self._domains or domain == _domain(page))


def _domain(url: str) -> str | None:
    host = host_and_port(url).rsplit(":", 1)[0].strip("[]")
    if not host or "." not in host or ":" in host or host.replace(".", "").isdigit():
        return None
    return registered_domain(host)
