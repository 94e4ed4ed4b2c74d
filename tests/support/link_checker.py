"""A link checker for static mirrors: crawl a copy over HTTP from its index.html and say
what is broken, what leaves it, and what was reached.

    report = check_site("http://127.0.0.1:8000/a/b/c/mirror/", {"news.example", "127.0.0.1:41613"})
    assert report.broken == [] and report.external_refs == [] and report.forbidden_refs == []

The mirror is everything under the start URL's folder (its "base"). Every page (HTML)
reached is parsed with Lexbor (selectolax) for every URL a browser would fetch or
follow; stylesheets are read for url() and @import. Links under the base are fetched
(all of them, images too) and must answer 200; a page or stylesheet is crawled in turn.

- ``broken``: (where, url, why) for a reference inside the mirror that does not answer
  200, or a link out of the base onto the same server (a mirror must not rely on what
  sits beside it in a bucket or on a gateway).
- ``external_refs``: (where, url, what) for everything a browser would load, or be sent
  to without a click (a meta refresh), from outside the base: it would leave the mirror.
- ``leaving_links``: (where, url) for links a reader follows (``<a>``, ``<area>``, forms)
  that go outside the base: links to the original site, expected for what was not captured.
- ``forbidden_refs``: (where, url, what) for any reference, of any kind except the
  leaving links, whose host (``host`` or ``host:port``) is in FORBIDDEN_HOSTS.
- ``pages``: every page reached, in crawl order; ``fetched``: url -> body bytes;
  ``content_types``: url -> the Content-Type it was served with.

Also ``serve_directory(root, prefix)``: a plain static HTTP server for a folder mounted
under a path prefix, recording the paths it is asked for.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import requests
from selectolax.lexbor import LexborHTMLParser

# (tag, attribute) -> "nav" (a reader follows it), "auto" (the browser goes there by
# itself), "url" (the browser loads it), "srcset".
_ATTRS: dict[tuple[str, str], str] = {
    ("a", "href"): "nav", ("area", "href"): "nav", ("form", "action"): "nav", ("button", "formaction"): "nav",
    ("input", "formaction"): "nav",
    ("iframe", "src"): "auto", ("frame", "src"): "auto", ("base", "href"): "url",
    ("link", "href"): "url", ("script", "src"): "url", ("img", "src"): "url", ("img", "data-src"): "url",
    ("embed", "src"): "url", ("object", "data"): "url", ("video", "src"): "url", ("video", "poster"): "url",
    ("audio", "src"): "url", ("source", "src"): "url", ("track", "src"): "url", ("input", "src"): "url",
    ("image", "href"): "url", ("image", "xlink:href"): "url", ("use", "href"): "url", ("use", "xlink:href"): "url",
    ("body", "background"): "url", ("table", "background"): "url", ("td", "background"): "url",
    ("img", "srcset"): "srcset", ("img", "data-srcset"): "srcset", ("source", "srcset"): "srcset",
    ("link", "imagesrcset"): "srcset",
}
_SKIP = ("data:", "blob:", "javascript:", "mailto:", "tel:", "about:", "#")
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_REFRESH = re.compile(r"^\s*[\d.]+\s*[;,]?\s*(?:url\s*=\s*)?['\"]?([^'\"]*)", re.I)


@dataclass
class LinkReport:
    pages: list[str] = field(default_factory=list)
    broken: list[tuple[str, str, str]] = field(default_factory=list)
    external_refs: list[tuple[str, str, str]] = field(default_factory=list)
    leaving_links: list[tuple[str, str]] = field(default_factory=list)
    forbidden_refs: list[tuple[str, str, str]] = field(default_factory=list)
    fetched: dict[str, bytes] = field(default_factory=dict)
    content_types: dict[str, str] = field(default_factory=dict)


def _srcset_urls(value: str) -> list[str]:
    return [c.strip().split()[0] for c in re.split(r",\s+|,(?=\S*\s)", value) if c.strip()]


def html_refs(text: str) -> list[tuple[str, str, str]]:
    """(url as written, how: nav | auto | url, where: 'tag@attr') for every reference of a page."""
    refs: list[tuple[str, str, str]] = []
    tree = LexborHTMLParser(text)
    for node in tree.root.traverse(include_text=False):
        tag = node.tag
        if tag == "style":
            refs += [(u, "url", "style") for u in css_refs(node.text(deep=True))]
            continue
        attrs = node.attributes
        if not attrs:
            continue
        for name, value in attrs.items():
            if value is None:
                continue
            if name == "style":
                refs += [(u, "url", f"{tag}@style") for u in css_refs(value)]
                continue
            if tag == "meta" and name == "content" and (attrs.get("http-equiv") or "").lower() == "refresh":
                m = _REFRESH.match(value)
                if m and m.group(1).strip():
                    refs.append((m.group(1).strip(), "auto", "meta@refresh"))
                continue
            how = _ATTRS.get((tag, name))
            if how == "srcset":
                refs += [(u, "url", f"{tag}@{name}") for u in _srcset_urls(value)]
            elif how is not None and value.strip():
                refs.append((value.strip(), how, f"{tag}@{name}"))
    return refs


def css_refs(text: str) -> list[str]:
    text = _CSS_COMMENT.sub("", text)
    return [next(g for g in m.groups() if g is not None) for m in _CSS_URL.finditer(text)]


def _netloc(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return (parts.netloc.lower(), (parts.hostname or "").lower())


def check_site(start_url: str, forbidden_hosts: set[str], *, limit: int = 20_000,
               timeout: float = 10.0) -> LinkReport:
    """Crawl the mirror from START_URL (its index.html if it names a folder); see the module doc."""
    if start_url.endswith("/"):
        start_url += "index.html"
    base = start_url.rsplit("/", 1)[0] + "/"
    forbidden = {h.lower() for h in forbidden_hosts}
    report = LinkReport()
    session = requests.Session()
    queue: deque[tuple[str, str]] = deque([(start_url, "(start)")])
    seen = {start_url}
    while queue and len(seen) <= limit:
        url, source = queue.popleft()
        try:
            resp = session.get(url, timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            report.broken.append((source, url, f"request failed: {exc}"))
            continue
        if resp.status_code != 200:
            report.broken.append((source, url, f"HTTP {resp.status_code}"))
            continue
        body = resp.content
        ctype = resp.headers.get("Content-Type", "")
        report.fetched[url] = body
        report.content_types[url] = ctype
        path = urlsplit(url).path.lower()
        if "html" in ctype or path.endswith((".html", ".htm")):
            report.pages.append(url)
            refs = html_refs(body.decode(_charset(ctype, body), "replace"))
        elif "css" in ctype or path.endswith(".css"):
            refs = [(u, "url", "css") for u in css_refs(body.decode("utf-8", "replace"))]
        else:
            continue
        for written, how, where in refs:
            if written.lower().startswith(_SKIP):
                continue
            target = urljoin(url, written)
            scheme = urlsplit(target).scheme
            if scheme not in ("http", "https"):
                continue
            target = target.split("#", 1)[0]
            netloc, host = _netloc(target)
            inside = target.startswith(base)
            if not inside and how != "nav" and (netloc in forbidden or host in forbidden):
                report.forbidden_refs.append((url, target, where))
            if inside:
                if target not in seen:
                    seen.add(target)
                    queue.append((target, url))
            elif how == "nav":
                if _netloc(target)[0] == _netloc(base)[0]:
                    report.broken.append((url, target, "a link out of the mirror onto its own server"))
                else:
                    report.leaving_links.append((url, target))
            else:
                report.external_refs.append((url, target, where))
    return report


def _charset(ctype: str, body: bytes) -> str:
    m = re.search(r"charset=([\w-]+)", ctype, re.I) or re.search(rb"<meta[^>]+charset=\"?([\w-]+)", body[:2048], re.I)
    label = m.group(1) if m else "utf-8"
    label = label.decode("ascii") if isinstance(label, bytes) else label
    try:
        "".encode(label)
    except LookupError:
        return "utf-8"
    return label


class _Handler(http.server.SimpleHTTPRequestHandler):
    prefix = "/"
    log: list[str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def translate_path(self, path: str) -> str:
        self.log.append(path)
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if not clean.startswith(self.prefix):
            return "/nonexistent/refuge-outside-prefix"
        return super().translate_path("/" + clean[len(self.prefix):])


@dataclass
class StaticServer:
    url: str  # ends with the prefix and a slash
    origin: str
    requests: list[str]


@contextlib.contextmanager
def serve_directory(root: Path, prefix: str = "/") -> Iterator[StaticServer]:
    """A plain static file server (http.server) for ROOT at http://127.0.0.1:PORT/PREFIX/."""
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    log: list[str] = []
    handler = type("Handler", (_Handler,), {"prefix": prefix, "log": log})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield StaticServer(url=origin + prefix, origin=origin, requests=log)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def local_file(url: str, base: str, root: Path) -> Path:
    """The file under ROOT that a URL under BASE names."""
    return root / unquote(url[len(base):].split("?", 1)[0])
