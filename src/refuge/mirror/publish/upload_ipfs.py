"""Publishing a static mirror tree (a folder, see :mod:`refuge.mirror.publish.tree`) to IPFS.

:func:`add_tree_to_ipfs`: the folder goes up as one directory (CIDv1, raw leaves, pinned
recursively) and is linked into the node's MFS at ``mfs_path``. When ``mfs_path`` held
another mirror before, that one is unpinned (unless listed in ``keep_pinned``): each
published name keeps exactly one pinned version. A CID that is still linked elsewhere
in MFS survives garbage collection anyway. Symbolic links are left out, on IPFS as by
:func:`~refuge.mirror.publish.tree.tree_files`. :func:`ipfs_mirror_urls` gives the URLs
a reader opens on gateways.

The node is reached only through the public operations of
:class:`~refuge.storage.stores.ipfs.IpfsStore`; every error is a one-line StoreError.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from refuge.config.store_settings import IpfsSettings
from refuge.storage.stores.cid import as_cidv1, same_cid
from refuge.storage.stores.interface import StoreError
from refuge.storage.stores.ipfs import IpfsStore


def add_tree_to_ipfs(settings: IpfsSettings, root: Path, mfs_path: str, *,
                     keep_pinned: Collection[str] = ()) -> str:
    """Add the folder ROOT as one directory, pin it, link it at MFS_PATH; its CIDv1 (base32).

    The mirror MFS_PATH held before is unpinned when it differs, unless it is in
    KEEP_PINNED (say, the same tree published under another name)."""
    root = Path(root)
    if not root.is_dir():
        raise StoreError(f"ipfs: {root} is not a folder")
    if not mfs_path.startswith("/") or not mfs_path.strip("/") or "//" in mfs_path:
        raise StoreError(f"ipfs: MFS path {mfs_path!r} must be an absolute path like '/refuge/mirrors/NAME'")
    store = IpfsStore(settings)
    cid = store.add_tree(root)
    previous = store.link(mfs_path.rstrip("/"), cid)
    if previous is not None and not same_cid(previous, cid) and not any(same_cid(previous, k) for k in keep_pinned):
        store.unpin(previous)
    return cid


def ipfs_unpin(settings: IpfsSettings, cid: str) -> None:
    """Unpin CID if it is pinned (a mirror's previous directory: the garbage collector may
    then reclaim what no other pin or MFS entry holds)."""
    IpfsStore(settings).unpin(cid)


def ipfs_pinned(settings: IpfsSettings, cid: str) -> bool:
    """Whether CID is pinned (recursively) on the node."""
    return IpfsStore(settings).pinned(cid)


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
