"""Publishing a static mirror tree (a folder of HTML, CSS, images) to S3 and to IPFS.

The storage half of `refuge publish`: the caller exports a capture to a folder and
describes its files (:class:`TreeFile`, see :func:`tree_files`); this module puts them
in a bucket or on an IPFS node and builds the URLs a reader opens.

S3 (:func:`sync_to_s3`). ``key_prefix`` is the *full* key prefix, ``s3.prefix``
included (``f"{settings.prefix}mirrors/{name}/"``); this module never adds
``settings.prefix`` itself, and refuses a key_prefix that does not start with it, so a
sync can never delete outside the configured part of the bucket. An object's key is
``key_prefix + path``. Whether a file is already there is decided from one listing of
the prefix: same size and an ETag equal to the file's MD5 (a single-part upload), else
the ``sha256`` metadata of a HEAD (multipart uploads, encrypted buckets). Header-only
changes (Content-Type, Cache-Control) are not seen by that listing: pass
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

IPFS (:func:`add_tree_to_ipfs`). The folder goes up as one directory (CIDv1, raw
leaves, pinned recursively) and is linked into the node's MFS at ``mfs_path``. When
``mfs_path`` held another mirror before, that one is unpinned (unless listed in
``keep_pinned``): each published name keeps exactly one pinned version. A CID that is
still linked elsewhere in MFS survives garbage collection anyway. Symbolic links are
left out, on IPFS as by :func:`tree_files`.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import posixpath
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from refuge.config.store_settings import IpfsSettings, S3Settings
from refuge.storage.stores.cid import as_cidv1, same_cid
from refuge.storage.stores.s3 import SHA256_META, S3Store, _first_line
from refuge.storage.stores.interface import StoreError, StoreUnavailable, file_digest

SHORT_CACHE = "public, max-age=300"
LONG_CACHE = "public, max-age=86400"
# Files that change with every publish (or say where the other mirrors are): readers must
# see a new version within minutes.
SHORT_CACHE_NAMES = frozenset({"mirrors.json", "mirrors.json.minisig", "mirrors.html", "refuge.pub", "index.html"})
DELETE_BATCH = 1000  # the most one DeleteObjects request takes
_TEXT_TYPES = {"application/javascript", "application/json", "application/xml", "image/svg+xml",
               "application/xhtml+xml", "text/javascript"}
_ACL_REFUSED = {"AccessControlListNotSupported", "AccessDenied", "403", "NotImplemented", "UnsupportedOperation"}


@dataclass(frozen=True)
class TreeFile:
    path: str  # POSIX path relative to the tree root, e.g. "example.org/km/a.html"
    source: Path  # the file on disk
    sha256: str  # hex
    size: int
    content_type: str  # e.g. "text/html; charset=utf-8"
    cache_control: str  # e.g. "public, max-age=300"


@dataclass
class SyncReport:
    uploaded: list[str] = field(default_factory=list)  # paths
    unchanged: list[str] = field(default_factory=list)  # paths
    deleted: list[str] = field(default_factory=list)  # keys under the prefix no longer in the tree
    bytes_uploaded: int = 0


# -- what a file is ------------------------------------------------------------------------


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


def _wave(path: str) -> tuple[int, int]:
    """Upload order: assets, then pages, then index pages deepest first (the root's last)."""
    name = posixpath.basename(path).lower()
    if name == "index.html":
        return (2, -path.count("/"))
    if name.endswith((".html", ".htm", ".xhtml")):
        return (1, 0)
    return (0, 0)


# -- S3 ------------------------------------------------------------------------------------


def sync_to_s3(settings: S3Settings, files: list[TreeFile], key_prefix: str, *,
               recheck_headers: bool = False, delete_stale: bool = True) -> SyncReport:
    """Make the objects under KEY_PREFIX exactly FILES (see the module docstring); with
    DELETE_STALE false, only add and update (other objects under the prefix stay)."""
    _check_tree(settings, files, key_prefix)
    store = S3Store(settings)
    client = store.client  # built once, before the worker threads share it
    bucket = settings.bucket
    remote: dict[str, dict[str, Any]] = {}
    for page in store._call(lambda: list(client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=key_prefix))):
        for obj in page.get("Contents", []):
            remote[obj["Key"]] = obj

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
        head = store._head(key_prefix + f.path)
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
    for i in range(0, len(stale), DELETE_BATCH):
        batch = stale[i:i + DELETE_BATCH]
        answer = store._call(client.delete_objects, Bucket=bucket,
                             Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        if errors := answer.get("Errors"):
            first = errors[0]
            raise StoreError(f"s3: could not delete {len(errors)} stale object(s) under {key_prefix}, "
                             f"e.g. {first.get('Key')}: {first.get('Code')}: {first.get('Message')}")
        report.deleted += batch
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
    settings = store.settings
    if f.size > settings.part_size:
        from boto3.s3.transfer import TransferConfig

        store._abort_unfinished(key)
        config = TransferConfig(multipart_threshold=settings.part_size, multipart_chunksize=settings.part_size,
                                use_threads=False)  # the pool already runs s3.concurrency uploads
        store._call(store.client.upload_file, str(f.source), settings.bucket, key, ExtraArgs=extra, Config=config)
        now, size = file_digest(f.source)  # a second read, from the page cache
    else:
        data = f.source.read_bytes()
        now, size = hashlib.sha256(data).hexdigest(), len(data)
        if now == f.sha256:
            md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
            store._call(store.client.put_object, Bucket=settings.bucket, Key=key, Body=data, ContentMD5=md5, **extra)
    if now != f.sha256 or size != f.size:
        if f.size > settings.part_size:
            store._call(store.client.delete_object, Bucket=settings.bucket, Key=key)
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
    when it is, else one line saying what answered (or None when no s3.public_base_url)."""
    import requests

    base = s3_mirror_url(settings, key_prefix)
    if base is None:
        return None
    url = base + quote(path, safe="/~")
    try:
        answer = requests.get(url, timeout=timeout, stream=True)
        answer.close()
    except requests.RequestException as exc:
        return f"s3: cannot reach the mirror at {url} (setting s3.public_base_url): {_first_line(exc)}"
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


# -- IPFS ----------------------------------------------------------------------------------


def add_tree_to_ipfs(settings: IpfsSettings, root: Path, mfs_path: str, *,
                     keep_pinned: Collection[str] = ()) -> str:
    """Add the folder ROOT as one directory, pin it, link it at MFS_PATH; its CIDv1 (base32).

    The mirror MFS_PATH held before is unpinned when it differs, unless it is in
    KEEP_PINNED (say, the same tree published under another name)."""
    from refuge.storage.stores.ipfs import IpfsStore

    root = Path(root)
    if not root.is_dir():
        raise StoreError(f"ipfs: {root} is not a folder")
    if not mfs_path.startswith("/") or not mfs_path.strip("/") or "//" in mfs_path:
        raise StoreError(f"ipfs: MFS path {mfs_path!r} must be an absolute path like '/refuge/mirrors/NAME'")
    mfs_path = mfs_path.rstrip("/")
    store = IpfsStore(settings)
    client = store.client
    # period_special=False: dot-files (.well-known/...) are part of the mirror too.
    added = store._call(client.add, str(root), recursive=True, cid_version=1, raw_leaves=True, pin=True,
                        period_special=False, opts={"cid-base": "base32"})
    entries = added if isinstance(added, list) else [added]
    top = [e for e in entries if "/" not in str(e.get("Name", ""))]
    if len(top) != 1:
        raise StoreError(f"ipfs: the node's answer to adding {root} names no single top folder")
    cid = as_cidv1(str(top[0]["Hash"]))

    previous = store._mfs_hash(mfs_path)
    if previous is not None and same_cid(previous, cid):
        return cid
    if previous is not None:
        store._call(client.files.rm, mfs_path, recursive=True)
    parent = mfs_path.rsplit("/", 1)[0]
    if parent:
        store._call(client.files.mkdir, parent, parents=True)
    store._call(client.files.cp, f"/ipfs/{cid}", mfs_path)
    if previous is not None and not any(same_cid(previous, k) for k in keep_pinned) and store._pinned(previous):
        store._call(client.pin.rm, as_cidv1(previous))
    return cid


def ipfs_unpin(settings: IpfsSettings, cid: str) -> None:
    """Unpin CID if it is pinned (a mirror's previous directory: the garbage collector may
    then reclaim what no other pin or MFS entry holds)."""
    from refuge.storage.stores.ipfs import IpfsStore

    store = IpfsStore(settings)
    if store._pinned(cid):
        store._call(store.client.pin.rm, as_cidv1(cid))


def ipfs_pinned(settings: IpfsSettings, cid: str) -> bool:
    """Whether CID is pinned (recursively) on the node."""
    from refuge.storage.stores.ipfs import IpfsStore

    return IpfsStore(settings)._pinned(cid)


def ipfs_mirror_urls(gateways: Sequence[str], subdomain_gateways: Sequence[str], cid: str) -> list[tuple[str, str]]:
    """[(style, url)]: ("path", "https://GATEWAY/ipfs/<cid>/") for each of GATEWAYS, then
    ("subdomain", "https://<cid>.ipfs.HOST/") for each of SUBDOMAIN_GATEWAYS, in the order
    given, without repeats. The CID is written as lowercase base32 CIDv1 (a DNS label)."""
    cid = as_cidv1(cid)
    out: list[tuple[str, str]] = []
    for gateway in gateways:
        parts = urlsplit(_with_scheme(gateway))
        out.append(("path", f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/ipfs/{cid}/"))
    for gateway in subdomain_gateways:
        parts = urlsplit(_with_scheme(gateway))
        host = (parts.hostname or "").lower()
        if not host:
            raise StoreError(f"ipfs: gateway {gateway!r} has no host name")
        port = f":{parts.port}" if parts.port else ""
        out.append(("subdomain", f"{parts.scheme}://{cid}.ipfs.{host}{port}/"))
    return list(dict.fromkeys(out))


def _with_scheme(gateway: str) -> str:
    gateway = gateway.strip()
    return gateway if "://" in gateway else f"https://{gateway}"


__all__ = ["LONG_CACHE", "SHORT_CACHE", "StoreError", "StoreUnavailable", "SyncReport", "TreeFile",
           "add_tree_to_ipfs", "cache_control_for", "content_type_for", "ipfs_mirror_urls", "ipfs_pinned",
           "public_read_problem", "s3_index_url", "s3_mirror_url", "sync_to_s3", "tree_files"]
