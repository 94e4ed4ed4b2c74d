"""Bundles published beside each mirror when `bundles = ["zim"]` is set: the export just
published, as one ZIM file (mirror.export.zim) a reader downloads once, opens in Kiwix and
passes on; the signed mirror list names it with its size and SHA-256, so whoever gets a
copy can check it.

    disk  DATA/mirrors/<target>/bundle/<target>.zim   (made again only when the export's
          content changed: the same capture gives the same export digest)
    S3    PREFIX/mirrors/<target>.zim, beside the mirror's folder PREFIX/mirrors/<target>/
    IPFS  a folder holding only <target>.zim, pinned and linked in MFS at
          <mfs_root>/bundles/<target>; readers get https://GATEWAY/ipfs/<cid>/<target>.zim

On IPFS the ZIM goes beside the mirror's tree, not inside it: inside, every ZIM would
change the mirror's CID (a ZIM carries a fresh UUID, so its bytes differ each time it is
made), the mirror's address would no longer follow from its export alone, a CAR of the
mirror would carry the whole site twice, and a reader on a gateway would fetch a tree
twice the size. Beside, the mirror keeps its address and the ZIM gets its own, each
pinned and unpinned on its own. The folder around the file gives the download its name.

A bundle that cannot be made or uploaded is reported (BundleReport.error) without undoing
what was published; the mirror list keeps naming the URLs that were uploaded.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine

from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.mirror.export.exporter import Export
from refuge.mirror.export.zim import MIME, zim_from_export
from refuge.mirror.export.zim_metadata import ZimAbout
from refuge.mirror.publish.publisher import mirrors_prefix
from refuge.storage.catalog import bundles
from refuge.storage.catalog.bundles import BundleUrl
from refuge.storage.stores.interface import StoreError, file_digest

log = logging.getLogger(__name__)

ZIM = "zim"


@dataclass
class BundleReport:
    format: str
    name: str = ""
    size: int = 0
    sha256: str = ""
    made: bool = False  # made by this publish (False: the one made before still fits the export)
    urls: list[str] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)  # channels it was sent to this time
    error: str | None = None


def bundle_path(settings: Settings, target: str) -> Path:
    """Where a target's ZIM is kept on disk, alone in its folder."""
    return settings.data / "mirrors" / target / "bundle" / f"{target}.zim"


def publish_bundles(settings: Settings, engine: Engine, target: Any, exp: Export) -> list[BundleReport]:
    """Make and upload every bundle the settings ask for, for the export EXP of TARGET."""
    return [publish_zim(settings, engine, target, exp) for kind in settings.bundles if kind == ZIM]


def publish_zim(settings: Settings, engine: Engine, target: Any, exp: Export) -> BundleReport:
    report = BundleReport(ZIM, name=f"{exp.target}.zim")
    path = bundle_path(settings, exp.target)
    last = bundles.current(engine, target.id, ZIM)
    try:
        report.size, report.sha256, report.made = _made(settings, target, exp, path, last)
    except (Failure, OSError) as exc:
        report.error = f"zim: {exc}"
        log.error("publish %s: the ZIM could not be made: %s", exp.target, exc)
        return report
    urls: list[BundleUrl] = []
    for channel, upload in (("s3", _to_s3), ("ipfs", _to_ipfs)):
        if getattr(settings, channel) is None:
            continue
        try:
            got, sent = upload(settings, path, report, last)
        except StoreError as exc:
            report.error = report.error or f"zim to {channel}: {exc}"
            log.error("publish %s: the ZIM could not be uploaded to %s: %s", exp.target, channel, exc)
            continue
        urls += got
        if sent:
            report.uploaded.append(channel)
    report.urls = [u.url for u in urls]
    bundles.record_bundle(engine, target.id, ZIM, exp.capture_id, exp.digest, report.name, report.size,
                          report.sha256, urls)
    return report


def _made(settings: Settings, target: Any, exp: Export, path: Path,
          last: dict[str, Any] | None) -> tuple[int, str, bool]:
    """(size, sha256, made now): the ZIM at PATH, made from EXP unless the one there was made
    from the same content and is still the file recorded."""
    if last is not None and last["digest"] == exp.digest and path.is_file():
        digest, size = file_digest(path)
        if digest == last["sha256"] and size == last["size"]:
            return size, digest, False
    path.parent.mkdir(parents=True, exist_ok=True)
    about = ZimAbout(target=target.name, source_url=target.spec.url, capture_id=exp.capture_id,
                     operator=settings.operator)
    made = zim_from_export(exp, about, path)
    for other in path.parent.iterdir():  # what an interrupted write left: the folder goes to IPFS whole
        if other.is_dir() and not other.is_symlink():
            shutil.rmtree(other, ignore_errors=True)
        elif other != path:
            other.unlink(missing_ok=True)
    return made.size, made.sha256, True


def _to_s3(settings: Settings, path: Path, report: BundleReport,
           last: dict[str, Any] | None) -> tuple[list[BundleUrl], bool]:
    from refuge.mirror.publish.tree import SHORT_CACHE, TreeFile
    from refuge.mirror.publish.upload_s3 import s3_mirror_url, sync_to_s3

    assert settings.s3 is not None
    prefix = mirrors_prefix(settings)
    folder = s3_mirror_url(settings.s3, prefix)
    if folder is None:  # the mirror itself says why (s3.public_base_url): a file nobody can fetch is no channel
        return [], False
    # The same URL holds the next capture's ZIM: a cache must not keep an old one for long.
    tree = [TreeFile(report.name, path, report.sha256, report.size, MIME, SHORT_CACHE)]
    sync = sync_to_s3(settings.s3, tree, prefix, delete_stale=False)
    return [BundleUrl("s3", "bucket", folder + quote(report.name), f"sha256:{report.sha256}")], bool(sync.uploaded)


def _to_ipfs(settings: Settings, path: Path, report: BundleReport,
             last: dict[str, Any] | None) -> tuple[list[BundleUrl], bool]:
    from refuge.mirror.publish.upload_ipfs import add_tree_to_ipfs, ipfs_mirror_urls, ipfs_pinned

    ipfs = settings.ipfs
    assert ipfs is not None
    before = [u["content"] for u in (last or {}).get("urls", []) if u["channel"] == "ipfs"]
    if last is not None and last["sha256"] == report.sha256 and before and ipfs_pinned(ipfs, before[0]):
        cid, sent = before[0], False
    else:
        cid = add_tree_to_ipfs(ipfs, path.parent, f"{ipfs.mfs_root.rstrip('/')}/bundles/{path.stem}")
        sent = True
    urls = [BundleUrl("ipfs", style, base + quote(report.name), cid)
            for style, base in ipfs_mirror_urls(ipfs.gateways, ipfs.subdomain_gateways, cid)]
    return urls, sent
