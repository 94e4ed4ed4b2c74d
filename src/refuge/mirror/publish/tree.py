"""A static mirror tree as publishing sees it: its files, what each one is, how long a
reader's browser or a CDN may cache it.

The caller exports a capture to a folder and describes its files (:class:`TreeFile`,
see :func:`tree_files`); :mod:`refuge.mirror.publish.upload_s3` puts them in a bucket,
:mod:`refuge.mirror.publish.upload_ipfs` on an IPFS node, and each builds the URLs a
reader opens. Symbolic links are left out, dot-files are not.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from refuge.storage.stores.interface import file_digest

SHORT_CACHE = "public, max-age=300"
LONG_CACHE = "public, max-age=86400"
# Files that change with every publish (or say where the other mirrors are): readers must
# see a new version within minutes.
SHORT_CACHE_NAMES = frozenset({"mirrors.json", "mirrors.json.minisig", "mirrors.html", "refuge.pub", "index.html"})
_TEXT_TYPES = {"application/javascript", "application/json", "application/xml", "image/svg+xml",
               "application/xhtml+xml", "text/javascript"}


@dataclass(frozen=True)
class TreeFile:
    path: str  # POSIX path relative to the tree root, e.g. "example.org/km/a.html"
    source: Path  # the file on disk
    sha256: str  # hex
    size: int
    content_type: str  # e.g. "text/html; charset=utf-8"
    cache_control: str  # e.g. "public, max-age=300"


def cache_control_for(path: str) -> str:
    """Short caching for HTML and the mirror-list files, long for everything else."""
    name = posixpath.basename(path).lower()
    if name in SHORT_CACHE_NAMES or name.endswith((".html", ".htm")):
        return SHORT_CACHE
    return LONG_CACHE


def content_type_for(path: str) -> str:
    """A Content-Type from the file name; text types say charset=utf-8 (the export's encoding)."""
    kind = mimetypes.guess_type(posixpath.basename(path), strict=False)[0] or "application/octet-stream"
    if kind == "application/javascript":
        kind = "text/javascript"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind in _TEXT_TYPES else kind


def tree_files(root: Path, content_type: Callable[[str], str] = content_type_for,
               cache_control: Callable[[str], str] = cache_control_for) -> list[TreeFile]:
    """Every regular file under ROOT (dot-files too, symlinks not), hashed, sorted by path."""
    out = []
    for source in sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.is_symlink()):
        path = source.relative_to(root).as_posix()
        digest, size = file_digest(source)
        out.append(TreeFile(path, source, digest, size, content_type(path), cache_control(path)))
    return out
