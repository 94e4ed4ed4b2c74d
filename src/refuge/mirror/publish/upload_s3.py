"""Publishing a static mirror tree (see :mod:`refuge.mirror.publish.tree`) to S3.

:func:`sync_to_s3`: ``key_prefix`` is the *full* key prefix, ``s3.prefix`` included
(``f"{settings.prefix}mirrors/{name}/"``); this module never adds ``settings.prefix``
itself, and refuses a key_prefix that does not start with it, so a sync can never
delete outside the configured part of the bucket. An object's key is ``key_prefix +
path``. Whether a file is already there is decided from one listing of the prefix: same
size and an ETag equal to the file's MD5 (a single-part upload), else the ``sha256``
metadata of a HEAD (multipart uploads, encrypted buckets). Header-only changes
(Content-Type, Cache-Control) are not seen by that listing: pass
``recheck_headers=True`` to HEAD every object and re-upload those that differ. Uploads
go in three waves, each finished before the next starts: files that are not HTML, then
HTML pages, then the ``index.html`` files (deepest first, the root's last), so a reader
never meets a link to a file that is not there yet; keys no longer in the tree are
deleted only after every upload succeeded. With ``s3.public_read`` each object is put
with ``ACL=public-read``; a bucket that refuses ACLs gives one error naming the setting.
Swift's s3api takes the ACL and ignores it (only a public container is readable):
:func:`public_read_problem` asks the public URL, as a reader would. Plain S3 serves no
folder index (``.../mirrors/NAME/`` is a 404): link ``index.html`` (:func:`s3_index_url`)
and have the exported pages link files, not folders.

The bucket is reached only through the public operations of
:class:`~refuge.storage.stores.s3.S3Store`; every error is a one-line StoreError.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from refuge.config.addresses import PrivateAddressRefused
from refuge.config.errors import first_line, redact_text
from refuge.config.settings import DIRECT
from refuge.config.store_settings import S3Settings
from refuge.mirror.publish.reach_watch import Watch, session_for
from refuge.mirror.publish.tree import TreeFile, content_type_for, tree_files
from refuge.storage.stores.interface import StoreError, file_digest
from refuge.storage.stores.s3 import SHA256_META, S3Store

_ACL_REFUSED = {"AccessControlListNotSupported", "AccessDenied", "403", "NotImplemented", "UnsupportedOperation"}


@dataclass
class SyncReport:
    uploaded: list[str] = field(default_factory=list)  # paths
    unchanged: list[str] = field(default_factory=list)  # paths
    deleted: list[str] = field(default_factory=list)  # keys under the prefix no longer in the tree
    bytes_uploaded: int = 0


def sync_to_s3(settings: S3Settings, files: list[TreeFile], key_prefix: str, *,
               recheck_headers: bool = False, delete_stale: bool = True) -> SyncReport:
    """Make the objects under KEY_PREFIX exactly FILES (see the module docstring); with
    DELETE_STALE false, only add and update (other objects under the prefix stay)."""
    _check_tree(settings, files, key_prefix)
    store = S3Store(settings)
    _ = store.client  # built once, before the worker threads share it
    remote = store.list_objects(key_prefix)

    report = SyncReport()
    to_upload: list[TreeFile] = []
    to_head: list[TreeFile] = []
    for f in files:
        obj = remote.get(key_prefix + f.path)
        etag = str(obj.get("ETag", "")).strip('"') if obj else ""
        if obj is None or obj.get("Size") != f.size:
            to_upload.append(f)
        elif recheck_headers or "-" in etag or etag != file_digest(f.source, "md5")[0]:
            to_head.append(f)  # multipart ETag, or a service whose ETag is not the MD5
        else:
            report.unchanged.append(f.path)

    def same(f: TreeFile) -> bool:
        head = store.head(key_prefix + f.path)
        return (head is not None and head.get("ContentLength") == f.size
                and head.get("Metadata", {}).get(SHA256_META) == f.sha256
                and (not recheck_headers or (head.get("ContentType") == f.content_type
                                             and head.get("CacheControl") == f.cache_control)))

    with ThreadPoolExecutor(settings.concurrency) as pool:
        for f, unchanged in zip(to_head, _all(pool, same, to_head)):
            if unchanged:
                report.unchanged.append(f.path)
            else:
                to_upload.append(f)
        for wave in sorted({_wave(f.path) for f in to_upload}):
            batch = [f for f in to_upload if _wave(f.path) == wave]
            _all(pool, lambda f: _put(store, f, key_prefix + f.path), batch)
            report.uploaded += [f.path for f in batch]
            report.bytes_uploaded += sum(f.size for f in batch)

    wanted = {key_prefix + f.path for f in files}
    stale = sorted(k for k in remote if k not in wanted) if delete_stale else []
    if errors := store.delete_keys(stale):
        first = errors[0]
        raise StoreError(f"s3: could not delete {len(errors)} stale object(s) under {key_prefix}, "
                         f"e.g. {first.get('Key')}: {first.get('Code')}: {first.get('Message')}")
    report.deleted += stale
    report.uploaded.sort()
    report.unchanged.sort()
    return report


def _check_tree(settings: S3Settings, files: list[TreeFile], key_prefix: str) -> None:
    if not key_prefix.endswith("/") or key_prefix.startswith("/") or not key_prefix.strip("/"):
        raise StoreError(f"s3: mirror key prefix {key_prefix!r} must be a folder like 'mirrors/NAME/'")
    if not key_prefix.startswith(settings.prefix):
        raise StoreError(f"s3: mirror key prefix {key_prefix!r} is outside s3.prefix = {settings.prefix!r}")
    if not files:
        # An empty tree would delete the published mirror: almost surely a failed export.
        raise StoreError(f"s3: refusing to publish an empty tree to {key_prefix}")
    seen: set[str] = set()
    for f in files:
        parts = f.path.split("/")
        if f.path in seen or f.path.startswith("/") or "\\" in f.path or any(p in ("", ".", "..") for p in parts):
            raise StoreError(f"s3: bad or repeated path in the mirror tree: {f.path!r}")
        seen.add(f.path)


def _wave(path: str) -> tuple[int, int]:
    """Upload order: assets, then pages, then index pages deepest first (the root's last)."""
    name = posixpath.basename(path).lower()
    if name == "index.html":
        return (2, -path.count("/"))
    if name.endswith((".html", ".htm", ".xhtml")):
        return (1, 0)
    return (0, 0)


def _all(pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """FN over ITEMS in POOL; the first error cancels what has not started and is raised."""
    futures = [pool.submit(fn, item) for item in items]
    _, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for fut in pending:
        fut.cancel()
    wait(pending)  # the ones already running finish (or fail) before we go on
    for fut in futures:
        if not fut.cancelled() and (exc := fut.exception()) is not None:
            raise exc
    return [fut.result() for fut in futures]


def _put(store: S3Store, f: TreeFile, key: str) -> None:
    settings = store.settings
    extra: dict[str, Any] = {"ContentType": f.content_type, "CacheControl": f.cache_control,
                             "Metadata": {SHA256_META: f.sha256}}
    if settings.public_read:
        extra["ACL"] = "public-read"
    try:
        _send(store, f, key, extra)
    except StoreError as exc:
        code = getattr(exc, "code", "")
        if "ACL" not in extra or code not in _ACL_REFUSED:
            raise
        if code in ("AccessDenied", "403"):
            # Wrong credentials, or S3 Block Public Access refusing the ACL: name both.
            err = type(exc)(f"{exc}; or the bucket blocks public ACLs: then set s3.public_read = false "
                            f"and make the mirror readable another way (a bucket policy or a CDN)")
            err.code = code  # type: ignore[attr-defined]
            raise err from None
        raise StoreError(f"s3: bucket {settings.bucket!r} refuses public-read objects ({code}): set "
                         f"s3.public_read = false and make the mirror readable another way "
                         f"(a bucket policy or a CDN)") from None


def _send(store: S3Store, f: TreeFile, key: str, extra: dict[str, Any]) -> None:
    if f.size > store.settings.part_size:
        store.abort_unfinished(key)
        # One part at a time: the pool already runs s3.concurrency uploads.
        store.put_file(key, f.source, extra, in_parallel=False)
        now, size = file_digest(f.source)  # a second read, from the page cache
    else:
        data = f.source.read_bytes()
        now, size = hashlib.sha256(data).hexdigest(), len(data)
        if now == f.sha256:
            store.put_bytes(key, data, extra)
    if now != f.sha256 or size != f.size:
        if f.size > store.settings.part_size:
            store.delete(key)
        raise StoreError(f"s3: not uploaded: {f.source} changed since the tree was listed "
                         f"(SHA-256 now {now}); export the mirror again")


def upload_files(settings: S3Settings, key_prefix: str, files: Mapping[str, bytes],
                 content_types: Mapping[str, str] | None = None) -> SyncReport:
    """Put a few small files (the mirror list) under KEY_PREFIX; only changed ones go up,
    and nothing else under the prefix is touched."""
    types = content_types or {}
    with tempfile.TemporaryDirectory(prefix="refuge-upload-") as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        tree = [f for f in tree_files(Path(tmp), lambda p: types.get(p) or content_type_for(p)) if f.path in files]
        return sync_to_s3(settings, tree, key_prefix, delete_stale=False)


def public_read_problem(settings: S3Settings, key_prefix: str, path: str = "index.html",
                        timeout: float = 10.0) -> str | None:
    """Whether PATH of the mirror is readable without credentials at its public URL: None
    when it is, else one line saying what answered (or None when no s3.public_base_url).

    Fetched as a mirror check fetches (reach_watch): a bucket found on a public address
    cannot redirect the check to a private one."""
    base = s3_mirror_url(settings, key_prefix)
    if base is None:
        return None
    url = base + quote(path, safe="/~")
    watch = Watch(timeout)
    session = session_for(DIRECT, watch)
    try:
        answer = session.get(url, timeout=timeout, stream=True)
        answer.close()
    except (requests.RequestException, PrivateAddressRefused) as exc:
        return redact_text(f"s3: cannot reach the mirror at {url} (setting s3.public_base_url): {first_line(exc)}")
    finally:
        session.close()
        watch.close()
    if answer.status_code == 200:
        return None
    return (f"s3: {url} answered HTTP {answer.status_code} to a reader without credentials: the bucket does "
            f"not serve the mirror publicly (check s3.public_base_url and the bucket's public access)")


def s3_mirror_url(settings: S3Settings, key_prefix: str) -> str | None:
    """The mirror's folder URL (ending in '/'), or None without s3.public_base_url.

    s3.public_base_url is where the bucket's root is served: the object KEY is at
    ``public_base_url/KEY``. Plain S3 serves no folder index: link :func:`s3_index_url`."""
    base = settings.public_base_url.strip().rstrip("/")
    if not base:
        return None
    return f"{base}/{quote(key_prefix.strip('/'), safe='/~')}/"


def s3_index_url(settings: S3Settings, key_prefix: str) -> str | None:
    """The mirror's front page URL (``.../index.html``), or None without s3.public_base_url."""
    folder = s3_mirror_url(settings, key_prefix)
    return None if folder is None else folder + "index.html"
