"""Where each captured URL lives in a static export, and the relative hrefs between files.

A URL becomes ``<host>[_<port>]/<segment>/.../<name>``: path segments percent-decoded
(Khmer names stay readable), characters that a file system, an S3 key, an IPFS
gateway or a URL would misread replaced by ``_``, dot segments and leading dots made
plain, overlong names cut and tagged with a hash. A page ends in ``.html``; any other
file gets an extension that fits its MIME type, so a static server, a bucket, a
gateway and file:// all serve it with the right type. A query string becomes a
``_q-<hash>`` suffix. Two URLs that would share a path (also on a case-insensitive
file system: a USB stick), or a file that would stand where another URL needs a
folder, are told apart deterministically. Every path is relative, normalised and
stays inside the export. (Which records become files: export.plan.)
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata
from functools import lru_cache
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MAX_NAME = 120  # bytes of UTF-8 per path segment: far below every file system's 255
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Preferred extension of each type, and the extensions each type is known by.
_TYPES: dict[str, tuple[str, ...]] = {
    "text/html": (".html", ".htm"), "application/xhtml+xml": (".xhtml", ".html", ".htm"),
    "text/css": (".css",), "text/javascript": (".js", ".mjs"), "application/json": (".json",),
    "application/ld+json": (".jsonld", ".json"), "application/manifest+json": (".webmanifest", ".json"),
    "image/png": (".png",), "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"), "image/gif": (".gif",),
    "image/webp": (".webp",), "image/avif": (".avif",), "image/svg+xml": (".svg", ".svgz"),
    "image/x-icon": (".ico",), "image/bmp": (".bmp",), "image/tiff": (".tif", ".tiff"),
    "font/woff": (".woff",), "font/woff2": (".woff2",), "font/ttf": (".ttf",), "font/otf": (".otf",),
    "application/vnd.ms-fontobject": (".eot",), "application/pdf": (".pdf",),
    "video/mp4": (".mp4", ".m4v"), "video/webm": (".webm",), "video/ogg": (".ogv",),
    "video/quicktime": (".mov",), "audio/mpeg": (".mp3",), "audio/ogg": (".ogg", ".oga", ".opus"),
    "audio/wav": (".wav",), "audio/mp4": (".m4a",), "audio/webm": (".weba",), "text/vtt": (".vtt",),
    "application/xml": (".xml",), "application/rss+xml": (".rss", ".xml"), "application/atom+xml": (".atom", ".xml"),
    "text/plain": (".txt", ".text"), "text/csv": (".csv",), "application/zip": (".zip",),
    "application/gzip": (".gz",), "application/wasm": (".wasm",), "application/epub+zip": (".epub",),
    "application/msword": (".doc",), "application/rtf": (".rtf",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.ms-excel": (".xls",), "application/x-shockwave-flash": (".swf",),
}
_ALIASES = {
    "application/javascript": "text/javascript", "application/x-javascript": "text/javascript",
    "application/ecmascript": "text/javascript", "text/ecmascript": "text/javascript",
    "text/x-javascript": "text/javascript", "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg",
    "image/vnd.microsoft.icon": "image/x-icon", "application/font-woff": "font/woff",
    "application/x-font-woff": "font/woff", "application/font-woff2": "font/woff2",
    "application/x-font-ttf": "font/ttf", "application/x-font-otf": "font/otf", "text/xml": "application/xml",
    "audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "text/json": "application/json",
    "application/x-pdf": "application/pdf", "application/x-gzip": "application/gzip",
}
_EXT_TYPE = {ext: mime for mime, exts in reversed(list(_TYPES.items())) for ext in exts}
_EXT_TYPE.update({".html": "text/html", ".htm": "text/html", ".json": "application/json", ".xml": "application/xml"})
_GENERIC = frozenset({"", "unk", "application/octet-stream", "binary/octet-stream", "application/unknown",
                      "application/x-unknown", "application/download", "application/force-download",
                      "warc/revisit", "content/unknown"})

_PLAIN = re.compile(r"[A-Za-z0-9_\-~]+(?:\.[A-Za-z0-9_\-~]+)*")  # needs no cleaning at all
_UNSAFE = frozenset('/\\:*?"<>|%#')
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                              *(f"lpt{i}" for i in range(10))})
# Left as they are in an href; everything else is percent-encoded (UTF-8).
_HREF_SAFE = "-._~!$&*+=@"


def media_type(value: str | None) -> str:
    """'Text/HTML; charset=x' -> 'text/html', aliases folded ('application/javascript' -> 'text/javascript')."""
    mime = (value or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(mime, mime)


def is_page(mime: str | None) -> bool:
    return media_type(mime) in PAGE_TYPES


def type_of_name(name: str) -> str | None:
    """The MIME type a static server gives a file name, from its extension (None if unknown)."""
    dot = name.rfind(".")
    return _EXT_TYPE.get(name[dot:].lower()) if dot > 0 else None


def served_type(header: str | None, mime: str, path: str) -> str:
    """The Content-Type to serve a copied file with: its captured type (with its charset),
    unless its name says otherwise (static hosts go by the name)."""
    named = type_of_name(path.rsplit("/", 1)[-1])
    if named is None or mime == named:
        chosen = mime if mime not in _GENERIC else (named or "application/octet-stream")
    else:
        chosen = named
    params = (header or "").split(";")[1:]
    charset = next((p.strip() for p in params if p.strip().lower().startswith("charset=")), "")
    if charset and (chosen.startswith("text/") or chosen.endswith(("javascript", "json", "xml"))):
        return f"{chosen}; {charset}"
    return chosen


def type_of_extra(name: str) -> str:
    """The Content-Type of a file put at the root (the mirror list, its signature, the key)."""
    if name.endswith((".minisig", ".pub", ".txt", ".sig", ".asc")):
        return "text/plain; charset=utf-8"
    mime = type_of_name(name) or "application/octet-stream"
    return f"{mime}; charset=utf-8" if mime == "text/html" else mime


def _digest(text: str, n: int = 10) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def _decoded(segment: str) -> str:
    if "%" not in segment:
        return segment
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return unquote_to_bytes(segment).decode("utf-8", "replace")


def _clean(segment: str) -> str:
    """One decoded path segment as a safe file name (may be empty)."""
    if _PLAIN.fullmatch(segment) and segment.lower().split(".", 1)[0] not in _WINDOWS_DEVICES:
        return segment
    out = []
    for ch in segment:
        if ch in _UNSAFE or ch in _BIDI or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp", "Zs"):
            out.append("_")
        else:
            out.append(ch)
    name = "".join(out)
    stripped = name.lstrip(".")
    name = "_" * (len(name) - len(stripped)) + stripped  # '..', '.git' -> '__', '_git'
    if name.endswith("."):  # Windows drops trailing dots (FAT on a USB stick)
        name = name[:-1] + "_"
    if name.lower().split(".", 1)[0] in _WINDOWS_DEVICES:
        name = "_" + name
    return name


def _fit(root: str, ext: str, original: str) -> str:
    """root + ext, cut to MAX_NAME bytes with a hash of ORIGINAL when too long."""
    name = root + ext
    if len(name.encode("utf-8")) <= MAX_NAME:
        return name
    tag = "_h-" + _digest(original)
    room = MAX_NAME - len(tag.encode()) - len(ext.encode("utf-8"))
    cut = root.encode("utf-8")[:max(room, 1)].decode("utf-8", "ignore")
    return cut + tag + ext


def _split_ext(name: str, mime: str, page: bool) -> tuple[str, str]:
    """(root, extension) of a file name, the extension made to fit the type."""
    dot = name.rfind(".")
    ext = name[dot:] if dot > 0 and len(name) - dot <= 16 else ""
    root = name[:len(name) - len(ext)]
    if page:
        return (root, ext) if ext.lower() in (".html", ".htm") else (name, ".html")
    if mime in _GENERIC or mime not in _TYPES:
        return root, ext
    if ext and _EXT_TYPE.get(ext.lower()) == mime:
        return root, ext
    return name, _TYPES[mime][0]


def desired_path(url: str, mime: str | None = None, page: bool | None = None) -> str:
    """The path URL would like to have in an export (before collisions are resolved)."""
    mime = media_type(mime)
    if page is None:
        page = mime in PAGE_TYPES
    parts = urlsplit(url)
    host = _clean((parts.hostname or "_").lower().strip("[]")) or "_"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}_{port}"
    raw = (parts.path or "/").split("/")[1:] or [""]
    dirs = []
    for seg in raw[:-1]:
        clean = _clean(_decoded(seg)) or "_"
        dirs.append(_fit(clean, "", seg))
    last = raw[-1]
    name = _clean(_decoded(last)) or "index"
    root, ext = _split_ext(name, mime, page)
    if parts.query:
        root += "_q-" + _digest(parts.query)
    return "/".join([host, *dirs, _fit(root, ext, last + "?" + parts.query)])


def _key(path: str) -> str:
    """What a case-insensitive, normalising file system (FAT, NTFS, APFS, HFS+) sees."""
    return unicodedata.normalize("NFC", path).casefold()


def assign_paths(wanted: list[tuple[str, str]], reserved: frozenset[str] = frozenset()) -> dict[str, str]:
    """{url: final path} for (url, desired path) pairs, told apart deterministically.

    RESERVED are root names (files and folders) no URL may take: a host folder that
    would take one gets a leading '_'. A path taken already (compared as a
    case-insensitive file system would) or that is a folder of another path gets a
    ``_c-<hash of url>`` suffix; folders are never renamed.
    """
    reserved_keys = {_key(r) for r in reserved}
    wanted = [(url, "_" + path if _key(path.split("/", 1)[0]) in reserved_keys else path) for url, path in wanted]
    taken: set[str] = set(reserved_keys)
    folders: set[str] = set()
    for _url, path in wanted:
        head = path
        while "/" in head:
            head = head.rsplit("/", 1)[0]
            folders.add(_key(head))
    out: dict[str, str] = {}
    for url, path in sorted(wanted, key=lambda p: (p[1], p[0])):
        if url in out:
            continue
        folder, _, name = path.rpartition("/")
        dot = name.rfind(".")
        root, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
        final, n = path, 0
        while _key(final) in taken or _key(final) in folders:
            n += 1
            tag = "_c-" + _digest(url if n == 1 else f"{url}#{n}", 8)
            room = MAX_NAME - len(tag.encode()) - len(ext.encode("utf-8"))
            cut = root.encode("utf-8")[:room].decode("utf-8", "ignore")
            final = (folder + "/" if folder else "") + cut + tag + ext
        check_safe(final)
        taken.add(_key(final))
        out[url] = final
    return out


def check_safe(path: str) -> str:
    """PATH itself if it is a plain relative path that stays inside the export; else ValueError."""
    if (not path or path.startswith("/") or "\\" in path or "\x00" in path
            or posixpath.normpath(path) != path
            or any(seg in ("", ".", "..") or seg.startswith(".") for seg in path.split("/"))):
        raise ValueError(f"unsafe export path {path!r}")
    return path


@lru_cache(maxsize=65536)
def _quoted(segment: str) -> str:
    return quote(segment, safe=_HREF_SAFE)


def rel_href(src: str, dst: str) -> str:
    """A percent-encoded relative URL from the file SRC to the file DST (both export paths)."""
    return _rel(src.rsplit("/", 1)[0] if "/" in src else "", dst)


@lru_cache(maxsize=65536)
def _rel(src_dir: str, dst: str) -> str:
    s = src_dir.split("/") if src_dir else []
    d = dst.split("/")
    i = 0
    while i < len(s) and i < len(d) - 1 and s[i] == d[i]:
        i += 1
    return "/".join([".."] * (len(s) - i) + [_quoted(p) for p in d[i:]])
