"""Publishing: a target's newest capture, exported as a static site, uploaded to S3 and
IPFS, and the mirror list updated and uploaded beside it.

    S3    PREFIX/mirrors/<target>/...   the export (the bucket's public URL is the mirror)
          PREFIX/mirrors/mirrors.json   the list for every target, with .minisig, .html, refuge.pub
    IPFS  one directory (CIDv1, pinned, in MFS at <mfs_root>/mirrors/<target>): a URL on
          every gateway, path style, and subdomain style where the gateway does that

With `bundles = ["zim"]`, the export also goes up as a ZIM file beside each mirror
(:mod:`refuge.mirror.publish.bundles`), named in the list with its size and SHA-256.

The export lives at DATA/mirrors/<target>/export/. Unchanged content uploads nothing:
S3 objects are compared by hash, and an IPFS directory whose export digest was
published before and is still pinned is not added again. An IPFS directory is
immutable, so the list inside it is the list as it stood when it was added (it cannot
name its own CID); the S3 copies and the replay server always carry the newest list.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.mirror.export.exporter import Export, Progress, export_capture
from refuge.mirror.publish import mirror_list
from refuge.storage import catalog, mirror_files
from refuge.storage.catalog import bundles, mirrors
from refuge.storage.catalog.locks import exclusive
from refuge.storage.catalog.mirrors import Published
from refuge.storage.stores.interface import StoreError

log = logging.getLogger(__name__)

SAMPLE_PAGES = 3  # pages a check compares, besides index.html and the seed page


@dataclass
class ChannelReport:
    channel: str
    urls: list[str] = field(default_factory=list)
    content: str = ""
    uploaded: int = 0
    unchanged: int = 0
    deleted: int = 0
    bytes_uploaded: int = 0
    error: str | None = None
    note: str | None = None


@dataclass
class PublishReport:
    target: str
    capture: str
    digest: str
    files: int
    channels: list[ChannelReport]
    bundles: list[Any] = field(default_factory=list)  # publish.bundles.BundleReport, with `bundles = [...]`

    @property
    def ok(self) -> bool:
        return all(c.error is None for c in self.channels) and all(b.error is None for b in self.bundles)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "capture": self.capture, "digest": self.digest, "files": self.files,
                "ok": self.ok, "channels": [asdict(c) for c in self.channels],
                "bundles": [asdict(b) for b in self.bundles]}


def channels(settings: Settings) -> list[str]:
    return [name for name in ("s3", "ipfs") if getattr(settings, name) is not None]


def mirrors_prefix(settings: Settings) -> str:
    """The S3 key prefix under which every mirror and the list go."""
    assert settings.s3 is not None
    return f"{settings.s3.prefix}mirrors/"


def export_dir(settings: Settings, target: str) -> Path:
    return settings.data / "mirrors" / target / "export"


def publish(settings: Settings, engine: Engine, target_name: str, capture_id: str | None = None,
            progress: Progress | None = None) -> PublishReport:
    """Export TARGET's newest (or given) capture and upload it to every configured channel.
    PROGRESS hears how the export goes (the uploads then send only what changed)."""
    names = channels(settings)
    if not names:
        raise BadInput("nothing to publish to: configure [s3] and/or [ipfs] in refuge.toml (see README, Publishing)")
    target = catalog.get_target(engine, target_name)
    # One publish of a target at a time (the scheduler's, a CLI's, any machine's): on one
    # machine they share the export folder; on many, the mirror's objects and catalog rows.
    with exclusive(engine, f"publish:{target_name}", settings.data / "mirrors" / target_name / ".publish.lock"):
        return _publish(settings, engine, target, names, capture_id, progress)


def _publish(settings: Settings, engine: Engine, target: Any, names: list[str],
             capture_id: str | None, progress: Progress | None) -> PublishReport:
    target_name = target.name
    files = mirror_list.build_files(settings, engine)
    exp = export_capture(settings, engine, target_name, export_dir(settings, target_name), capture_id,
                         extra_files=files, progress=progress)
    expected = sample(exp)
    report = PublishReport(target_name, exp.capture_id, exp.digest, len(exp.files), [])
    for name in names:
        ch = ChannelReport(name)
        report.channels.append(ch)
        try:
            if name == "s3":
                _to_s3(settings, engine, target.id, exp, expected, ch)
            else:
                _to_ipfs(settings, engine, target.id, exp, expected, ch)
        except StoreError as exc:
            ch.error = str(exc)
            log.error("publish %s to %s: %s", target_name, name, exc)
    bundles.forget_others(engine, target.id, settings.bundles)  # a kind no longer asked for leaves the list
    if settings.bundles:
        from refuge.mirror.publish.bundles import publish_bundles  # libzim, only when bundles are asked for

        report.bundles = publish_bundles(settings, engine, target, exp)
    update_list(settings, engine)
    return report


def sample(exp: Export) -> dict[str, str]:
    """What a check compares: index.html, the seed page, and a few pages picked by a
    stable hash of their path (the same ones every time, spread over the site)."""
    sha = {f.path: f.sha256 for f in exp.files}
    picked = {"index.html": sha["index.html"]}
    if exp.seed_path in sha:
        picked[exp.seed_path] = sha[exp.seed_path]
    others = sorted((p for p in exp.pages if p not in picked), key=lambda p: hashlib.sha256(p.encode()).digest())
    for path in others[:SAMPLE_PAGES]:
        picked[path] = sha[path]
    return picked


def _to_s3(settings: Settings, engine: Engine, target_id: int, exp: Export, expected: dict[str, str],
           ch: ChannelReport) -> None:
    from refuge.mirror.publish.upload_s3 import public_read_problem, s3_index_url, sync_to_s3

    assert settings.s3 is not None
    prefix = f"{mirrors_prefix(settings)}{exp.target}/"
    if not settings.s3.public_base_url:
        # A mirror nobody can open is no mirror; and the URL it had is no longer one.
        mirrors.record_publish(engine, target_id, exp.capture_id, exp.digest, "s3", [], expected)
        ch.note = "not published to S3: set s3.public_base_url (where readers reach the bucket)"
        return
    sync = sync_to_s3(settings.s3, tree_files(exp), prefix)
    ch.uploaded, ch.unchanged, ch.deleted = len(sync.uploaded), len(sync.unchanged), len(sync.deleted)
    ch.bytes_uploaded = sync.bytes_uploaded
    ch.content = f"sha256:{exp.digest}"
    url = s3_index_url(settings.s3, prefix)  # plain S3 serves no folder index
    assert url is not None
    ch.urls = [url]
    # Uploaded is not readable: a bucket without public access (or a service that ignores
    # the public-read ACL, as Swift does) answers readers 401/403. Say so now.
    ch.note = public_read_problem(settings.s3, prefix)
    mirrors.record_publish(engine, target_id, exp.capture_id, exp.digest, "s3",
                           [Published("s3", "bucket", url, ch.content)], expected)


def _to_ipfs(settings: Settings, engine: Engine, target_id: int, exp: Export, expected: dict[str, str],
             ch: ChannelReport) -> None:
    from refuge.mirror.publish.upload_ipfs import add_tree_to_ipfs, ipfs_mirror_urls, ipfs_pinned, ipfs_unpin

    ipfs = settings.ipfs
    assert ipfs is not None
    last = mirrors.last_publish(engine, target_id, "ipfs")
    if last is not None and last["digest"] == exp.digest and ipfs_pinned(ipfs, last["content"]):
        cid = last["content"]
        ch.unchanged = len(exp.files)
    else:
        # A CID another target's mirror still uses stays pinned (two targets can export alike).
        others = {r["content"] for r in mirrors.active(engine) if r["channel"] == "ipfs" and r["target_id"] != target_id}
        cid = add_tree_to_ipfs(ipfs, exp.root, f"{ipfs.mfs_root.rstrip('/')}/mirrors/{exp.target}",
                               keep_pinned=others)
        # The catalog's previous CID too: MFS may not have held it (an earlier add that failed midway).
        if last is not None and last["content"] != cid and last["content"] not in others:
            ipfs_unpin(ipfs, last["content"])
        ch.uploaded = len(exp.files)
        ch.bytes_uploaded = sum(f.size for f in exp.files)
    ch.content = cid
    urls = ipfs_mirror_urls(ipfs.gateways, ipfs.subdomain_gateways, cid)
    ch.urls = [u for _, u in urls]
    mirrors.record_publish(engine, target_id, exp.capture_id, exp.digest, "ipfs",
                           [Published("ipfs", style, u, cid) for style, u in urls], expected)


def tree_files(exp: Export) -> list[Any]:
    from refuge.mirror.publish.tree import TreeFile, cache_control_for

    return [TreeFile(f.path, exp.root / f.path, f.sha256, f.size, f.content_type, cache_control_for(f.path))
            for f in exp.files]


def update_list(settings: Settings, engine: Engine) -> dict[str, bytes]:
    """Rebuild the mirror list and, with S3 configured, upload it beside the mirrors and
    into each target's S3 mirror (only the files whose bytes changed go up).

    Under one lock, so two updates (a publish and a check, two processes or machines) never leave
    one's mirrors.json beside the other's signature; the signature goes up after its
    list, so a failed upload leaves the old pair, not a mismatched one."""
    with exclusive(engine, "mirror-list", mirror_files.list_dir(settings) / ".lock"):
        doc = mirror_list.document(settings, engine)
        files = mirror_list.refresh(settings, engine, doc)
        if settings.s3 is None:
            return files
        from refuge.mirror.publish.upload_s3 import upload_files

        export_files = mirror_list.build_files(settings, engine, doc)
        root = mirrors_prefix(settings)
        # Beside the mirrors, index.html is the list too, so its Home link leads somewhere.
        types = {**mirror_files.CONTENT_TYPES, "index.html": mirror_files.CONTENT_TYPES["mirrors.html"]}
        places = [(root, {**export_files, "index.html": export_files["mirrors.html"]})]
        places += [(f"{root}{t}/", export_files)
                   for t in sorted({r["target"] for r in mirrors.active(engine) if r["channel"] == "s3"})]
        try:
            for prefix, batch in places:
                signature = {"mirrors.json.minisig": batch["mirrors.json.minisig"]}
                upload_files(settings.s3, prefix, {k: v for k, v in batch.items() if k not in signature}, types)
                upload_files(settings.s3, prefix, signature, types)
        except StoreError as exc:
            log.error("could not upload the mirror list to S3: %s", exc)
        return files
