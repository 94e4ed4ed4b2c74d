"""URLs: resolving links, canonical forms for de-duplication, SURT keys, registered domains."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import surt as _surt
import tldextract

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Bytes that never need percent-encoding; decoding them makes equal URLs compare equal.
_UNRESERVED = re.compile(r"%(2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa]|7[Ee])")
_PCT = re.compile(r"%[0-9a-fA-F]{2}")
_SKIP_SCHEMES = ("javascript:", "data:", "mailto:", "tel:", "about:", "blob:", "#", "sms:", "geo:")
# The Public Suffix List snapshot shipped inside tldextract: no network at run time.
_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def resolve(base: str, href: str) -> str | None:
    """The absolute http(s) URL a link points to, without its fragment; None if not fetchable."""
    href = href.strip().replace("\t", "").replace("\n", "").replace("\r", "")
    if not href or href.lower().startswith(_SKIP_SCHEMES):
        return None
    # Pages repeat their links (navigation, shared assets), and a link's target depends on
    # less than the whole base: resolve against the least that matters, and remember.
    if href.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
        return _resolve("", href)
    scheme, root, directory = _base_parts(base)
    if href.startswith("//"):
        return _resolve(scheme, href)
    if href.startswith("/"):
        return _resolve(root, href)
    return _resolve(base if href.startswith("?") else directory, href)


@lru_cache(maxsize=1024)
def _base_parts(base: str) -> tuple[str, str, str]:
    """'http:', 'http://host/', 'http://host/dir/' for a base URL."""
    try:
        p = urlsplit(base)
    except ValueError:
        return base, base, base
    root = f"{p.scheme}://{p.netloc}/"
    return p.scheme + ":", root, root + p.path[1: p.path.rfind("/") + 1] if p.path else root


@lru_cache(maxsize=65536)
def _resolve(base: str, href: str) -> str | None:
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit(parts._replace(fragment=""))


def canonical(url: str) -> str:
    """A form under which equal resources compare equal: for de-duplicating the frontier.

    Lower-case scheme and host, no default port, no fragment, an empty path made '/',
    unreserved percent-escapes decoded and the rest upper-cased, IDNA host. The query
    keeps its order: servers may care about it.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        pass
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        netloc = f"[{host}]" + ("" if port in (None, _DEFAULT_PORTS.get(scheme)) else f":{port}")
    path = _normalise_escapes(parts.path or "/")
    query = _normalise_escapes(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _normalise_escapes(text: str) -> str:
    text = _UNRESERVED.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _PCT.sub(lambda m: m.group(0).upper(), text)
    # Non-ASCII characters written raw in a page are sent percent-encoded as UTF-8.
    if not text.isascii():
        text = quote(text, safe="!#$%&'()*+,/:;=?@[]~")
    return text


def surt_key(url: str) -> str:
    """The SURT sort key used in CDXJ indexes, as pywb and the Wayback Machine compute it."""
    return _surt.surt(url)


@lru_cache(maxsize=4096)
def registered_domain(host: str) -> str:
    """'news.rfa.org' -> 'rfa.org'; an IP address or a bare suffix comes back unchanged."""
    result = _extract(host)
    domain = result.top_domain_under_public_suffix if hasattr(result, "top_domain_under_public_suffix") \
        else result.registered_domain
    return domain or host


def host_and_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    return f"{(parts.hostname or '').lower()}:{port}"


def display_url(url: str) -> str:
    """A URL with its percent-escapes decoded for people to read (Khmer paths stay legible)."""
    try:
        return unquote(url, errors="strict")
    except UnicodeDecodeError:
        return url
