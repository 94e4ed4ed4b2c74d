"""Which hosts count as a site's own, for the scripts an export keeps (export.policy)."""

from __future__ import annotations

from refuge.formats.urls import host_and_port, registered_domain


class Site:
    """The seed's host and port, and hosts under the same registered domain (not for IP
    addresses); a page's own host counts too."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self._own = {host_and_port(seed)}
        self._domains = {_domain(seed)} - {None}

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
