"""URLs: resolving links, canonical forms for de-duplication, SURT keys, registered domains."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Bytes that never need percent-encoding; decoding them makes equal URLs compare equal.
_UNRESERVED = re.compile(r"%(2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa]|7[Ee])")
_PCT = re.compile(r"%[0-9a-fA-F]{2}")
_STRIP = " \t\n\r\f\x00"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def join(base: str, href: str) -> str | None:
    """The absolute http(s) URL that HREF means on a page whose base URL is BASE, read
    as a browser reads it: surrounding white space and any tab or newline inside are
    ignored, a backslash in the path is a slash, an empty path is '/'. The fragment is
    kept. None for other schemes, a fragment alone, or an empty link.
    """
    href = href.strip(_STRIP)
    if "\t" in href or "\n" in href or "\r" in href:
        href = href.replace("\t", "").replace("\n", "").replace("\r", "")
    if not href or href[0] == "#":
        return None
    m = _SCHEME.match(href)
    if m and m.group(1).lower() not in ("http", "https"):
        return None
    if "\\" in href:
        path, sep, rest = href.partition("?")
        href = path.replace("\\", "/") + sep + rest
    # Pages repeat their links (navigation, shared assets), and a link's target depends on
    # less than the whole base: join against the least that matters, and remember.
    if m:
        return _join("", href)
    scheme, root, directory = _base_parts(base)
    if href.startswith("//"):
        return _join(scheme, href)
    if href.startswith("/"):
        return root + href[1:] if _plain(href) and _join(root, "/") == root else _join(root, href)
    if href.startswith("?"):
        return _join(base, href)
    return directory + href if _plain(href) and _join(directory, "") == directory else _join(directory, href)


# A path urljoin appends as it is: no '.' or '..' segment, no empty one (it drops those),
# no ';' (it reads parameters there), nothing it would encode, no query or fragment (an
# empty one would be dropped). Most links on a page are such paths, and joining them took
# a tenth of an export's link work.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-_~!$&'()*+,=:@%/.]*\Z")


def _plain(path: str) -> bool:
    return (_PLAIN_PATH.match(path) is not None and not path.startswith(".") and "/." not in path
            and "//" not in path)


def resolve(base: str, href: str) -> str | None:
    """join() without the fragment: the URL a crawler fetches."""
    url = join(base, href)
    return url.split("#", 1)[0] if url else None


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
def _join(base: str, href: str) -> str | None:
    try:
        parts = urlsplit(urljoin(base, href))
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit(parts._replace(path=parts.path or "/"))


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
    try:
        port: int | str | None = parts.port
    except ValueError:  # not a number, or out of range: kept as written, it fetches nothing anyway
        port = parts.netloc.rpartition(":")[2]
    shown = host if ":" not in host or host.startswith("[") else f"[{host}]"
    netloc = shown if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{shown}:{port}"
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
    import surt  # imported when first needed: it brings tldextract and requests

    try:
        if urlsplit(url).hostname:
            return surt.surt(url)
    except ValueError:  # a port that is no port
        pass
    return canonical(url).lower()  # no URL of a host: a key of its own, which nothing else shares


@lru_cache(maxsize=1)
def _extractor() -> Any:
    import tldextract  # imported when first needed, like surt

    # The Public Suffix List snapshot shipped inside tldextract: no network at run time.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=4096)
def registered_domain(host: str) -> str:
    """'news.rfa.org' -> 'rfa.org'; an IP address or a bare suffix comes back unchanged."""
    result = _extractor()(host)
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


# Left as they are in a URL: reserved characters and existing percent-escapes.
_SAFE = "!#$%&'()*+,/:;=?@[]~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9\-._~!#$%&'()*+,/:;=?@\[\]]")


def quote_url(url: str) -> str:
    """URL as ASCII: unsafe and non-ASCII characters percent-encoded (UTF-8; bytes that
    were undecodable in the page, held as surrogate escapes, come back as themselves)."""
    if not _NEEDS_QUOTING.search(url):
        return url
    return quote(url, safe=_SAFE, errors="surrogateescape")
