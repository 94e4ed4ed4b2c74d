"""The one small interface every replica store implements: local disk, S3, IPFS.

A store knows where a file's copy lives, whether an intact-looking copy is already
there (cheaply, from metadata), how to put one there, and how to stream one back.
Whether a copy is *really* intact is decided by :mod:`refuge.storage.fixity`, which
re-reads it, never by a store's own word.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from refuge.config.errors import Failure, redact_text
from refuge.config.settings import Settings

READ_CHUNK = 1024 * 1024

CONTENT_TYPES = {
    # No Content-Encoding: a client must get the gzip bytes we hashed, not a decoded body.
    ".warc.gz": "application/gzip",
    ".warc": "application/warc",
    ".cdxj": "text/plain; charset=utf-8",
    ".manifest.json": "application/json",
    ".sha256": "text/plain; charset=utf-8",
}


def file_digest(path: Path, algorithm: str = "sha256") -> tuple[str, int]:
    """Hex digest and size of the file at PATH, read in chunks."""
    digest, size = hashlib.new(algorithm), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class FileRef:
    """A sealed file as the catalog knows it."""

    file_id: int
    target: str
    capture: str
    name: str
    kind: str
    sha256: str
    size: int
    local_path: Path
    cid: str | None = None
    data_path: str = ""  # the local copy's path inside the data directory


    @property
    def relative(self) -> str:
        """`<target>/<capture>/<file>`: the same readable path in every store."""
        return f"{self.target}/{self.capture}/{self.name}"

    @property
    def content_type(self) -> str:
        for suffix, kind in CONTENT_TYPES.items():
            if self.name.endswith(suffix):
                return kind
        return "application/octet-stream"


class StoreError(Failure):
    """A store could not do what was asked, for this file. The message is one line, with
    the credentials of any URL in it (an endpoint's, as the library quoted it) redacted."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_text(message))


class StoreUnavailable(StoreError):
    """The store as a whole cannot be used now (unreachable, refused credentials, bad
    setting): no point trying its other files in this run."""


class Missing(StoreError):
    """The store has no copy of the file."""


class Store(Protocol):
    name: str

    def location(self, f: FileRef) -> str:
        """Where F's copy lives (or will): a path, a key, or for IPFS its CID."""

    def has(self, f: FileRef) -> bool:
        """Whether a copy that claims to be F (same size and SHA-256, or CID) is there."""

    def put(self, f: FileRef, source: Path) -> str:
        """Copy SOURCE (F's bytes) into the store, replacing what is at F's place; return
        the location."""

    def read(self, f: FileRef) -> Iterator[bytes]:
        """Stream F's copy back, in bounded chunks. Raises Missing when there is none."""

    def status(self) -> dict[str, Any]:
        """Reachable? Which version? How much room? For `refuge stores`."""

    def describe(self, f: FileRef) -> dict[str, Any]:
        """How a person finds F's copy in this store (for the manifest and `refuge replicas`)."""


def configured_store_names(settings: Settings) -> list[str]:
    names = ["local"]
    if settings.s3 is not None:
        names.append("s3")
    if settings.ipfs is not None:
        names.append("ipfs")
    return names


def open_store(settings: Settings, name: str) -> Store:
    """The store NAME as configured; connecting waits until it is first used."""
    if name == "local":
        from refuge.storage.stores.local import LocalStore
        return LocalStore(settings.data)
    if name == "s3" and settings.s3 is not None:
        from refuge.storage.stores.s3 import S3Store
        return S3Store(settings.s3)
    if name == "ipfs" and settings.ipfs is not None:
        from refuge.storage.stores.ipfs import IpfsStore
        return IpfsStore(settings.ipfs)
    raise StoreError(f"store {name!r} is not configured (configured: {', '.join(configured_store_names(settings))})")
