"""A capture's manifest: what an archivist needs to check it holding nothing else.

Two files, written once the capture is over and stored with it in every store:

- `<capture>.manifest.json`: the capture's metadata and every file with its size,
  SHA-256, IPFS CID and where each store keeps it, and the public key that signs this
  archive's WACZ packages of it;
- `<capture>.sha256`: the same hashes in `sha256sum` format, manifest included, so
  `sha256sum -c <capture>.sha256` in a folder downloaded from any store checks it all.

Both are deterministic for a given capture, store configuration and WACZ signing key.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from refuge import __version__
from refuge.config.errors import BadInput, Failure
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import replicas
from refuge.storage.catalog.captures import hold_unchanged
from refuge.storage.catalog.imports import sources_of
from refuge.storage.catalog.schema import files
from refuge.storage.stores.cid import CidBuilder, bytes_cid
from refuge.storage.stores.interface import READ_CHUNK, FileRef, configured_store_names, open_store

FORMAT = "refuge-capture-manifest/1"
MANIFEST_KINDS = ("manifest", "sums")


def manifest_name(capture_id: str) -> str:
    return f"{capture_id}.manifest.json"


def sums_name(capture_id: str) -> str:
    return f"{capture_id}.sha256"


ATTEMPTS = 3  # a capture resumed (or finished again) while its manifest is written: write it anew


class _Changed(Exception):
    """The capture is no longer what its manifest was written from."""


def ensure_manifest(settings: Settings, engine: Engine, capture_id: str) -> list[FileRef]:
    """Write the capture's manifest and checksum list unless they exist; return all its files.

    Reads each data file once to compute its CID and to re-check its SHA-256, so a file
    damaged on disk since it was sealed is caught before any store receives it.
    """
    for _ in range(ATTEMPTS):
        refs = replicas.file_refs(engine, settings.data, [capture_id])
        if any(f.kind == "manifest" for f in refs):
            return refs
        written = _write_manifest(settings, engine, capture_id, refs)
        if written is not None:
            return written
    raise Failure(f"capture {capture_id} kept changing while its manifest was written; try again")


def _write_manifest(settings: Settings, engine: Engine, capture_id: str,
                    refs: list[FileRef]) -> list[FileRef] | None:
    """The manifest of the capture's files REFS written and recorded: all its files now, or
    None if the capture changed meanwhile (nothing written then)."""
    capture = catalog.get_capture(engine, capture_id)
    if capture["status"] == "running":
        raise Failure(f"capture {capture_id} is still running; its manifest is written when it ends")
    target = catalog.get_target(engine, capture["target"], include_removed=True)
    cids = {f.file_id: f.cid or _checked_cid(settings, f) for f in refs}
    replicas.set_cids(engine, cids)
    refs = [FileRef(**{**f.__dict__, "cid": cids[f.file_id]}) for f in refs]

    stores = [open_store(settings, name) for name in configured_store_names(settings)]
    doc = {
        "format": FORMAT,
        "generated_by": f"refuge {__version__}",
        "signing_key": _signing_key(settings, engine),
        "capture": {
            "id": capture_id, "target": target.name, "url": target.spec.url, "kind": target.spec.kind,
            "status": capture["status"], "started": capture["started"], "finished": capture["finished"],
            "pages": capture["pages"], "requisites": capture["requisites"], "failed": capture["failed"],
            "revisits": capture["revisits"], "error": capture["error"],
        },
        "files": [{
            "name": f.name, "kind": f.kind, "size": f.size, "sha256": f.sha256, "cid": f.cid,
            "locations": {s.name: s.describe(f) for s in stores},
        } for f in refs],
        "verify": f"sha256sum -c {sums_name(capture_id)}   (in a folder holding this capture's files)",
    }
    imported = sources_of(engine, capture_id)
    if imported:  # an imported capture: the files it came from, a WACZ's signature check among them
        doc["imported"] = imported
    folder = settings.archive_dir / target.name / capture_id
    body = (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")
    manifest_path = folder / manifest_name(capture_id)
    manifest_sha = hashlib.sha256(body).hexdigest()
    lines = [f"{f.sha256}  {f.name}\n" for f in refs] + [f"{manifest_sha}  {manifest_path.name}\n"]
    sums_body = "".join(lines).encode("utf-8")
    sums_path = folder / sums_name(capture_id)
    written = [(manifest_path, _prepare(manifest_path, body)), (sums_path, _prepare(sums_path, sums_body))]

    try:
        with engine.begin() as conn:
            # Reading the files took a while: if the capture was resumed (or finished again)
            # meanwhile, this manifest describes files it no longer is.
            if not hold_unchanged(conn, capture_id, capture["status"], capture["finished"]):
                raise _Changed  # out of the transaction first, so nothing waits on its lock
            for path, tmp in written:  # in place only while the capture is held as described
                os.replace(tmp, path)
            for kind, path, data in (("manifest", manifest_path, body), ("sums", sums_path, sums_body)):
                file_id = conn.execute(insert(files).values(
                    capture_id=capture_id, name=path.name, kind=kind, path=_relative(path, settings.data),
                    sha256=hashlib.sha256(data).hexdigest(), size=len(data), records=0,
                    sealed_at=catalog.now_iso()).returning(files.c.id)).scalar_one()
                cids[file_id] = bytes_cid(data)
    except _Changed:
        for _, tmp in written:
            tmp.unlink(missing_ok=True)
        return None
    except IntegrityError:
        # Another process wrote the same manifest at the same moment (the same bytes: it is
        # a function of the capture and the configured stores) and recorded it first.
        return replicas.file_refs(engine, settings.data, [capture_id])
    replicas.set_cids(engine, cids)
    return replicas.file_refs(engine, settings.data, [capture_id])


def _signing_key(settings: Settings, engine: Engine) -> dict[str, str]:
    """The key that signs this archive's WACZ packages of the capture (`refuge wacz`): their
    signature covers these same files' SHA-256. A key that cannot be read fails this capture's
    manifest (Failure: the others go on), never the push."""
    from refuge.storage.wacz.signing import ALGORITHM, wacz_key  # the crypto stack, once per manifest

    try:
        key = wacz_key(settings, engine)
    except BadInput as exc:
        raise Failure(f"cannot write the manifest: {exc}") from None
    return {"public_key": key.public_key_b64(), "fingerprint": key.fingerprint(), "algorithm": ALGORITHM,
            "signs": "WACZ packages of this capture (datapackage-digest.json signedData); see `refuge key`"}


def _checked_cid(settings: Settings, f: FileRef) -> str:
    builder, digest = CidBuilder(), hashlib.sha256()
    for chunk in _file_bytes(settings, f):
        builder.update(chunk)
        digest.update(chunk)
    if digest.hexdigest() != f.sha256:
        raise Failure(f"{f.local_path}: its SHA-256 no longer matches the one recorded when it was sealed; "
                      f"run `refuge verify {f.capture} --repair`")
    return builder.cid()


def _file_bytes(settings: Settings, f: FileRef) -> Iterator[bytes]:
    """F's bytes: from this disk, or (a capture resumed on another machine, in distributed
    mode) from its S3 copy."""
    try:
        fh = open(f.local_path, "rb")
    except FileNotFoundError:
        if settings.s3 is None:
            raise Failure(f"{f.local_path}: cannot read it to write the manifest: no such file") from None
        yield from open_store(settings, "s3").read(f)
        return
    except OSError as exc:
        raise Failure(f"{f.local_path}: cannot read it to write the manifest: {exc.strerror or exc}") from None
    with fh:
        while chunk := fh.read(READ_CHUNK):
            yield chunk


def _prepare(path: Path, body: bytes) -> Path:
    """BODY written and flushed beside PATH, to be renamed to it: the temporary file's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer: two processes may write the same manifest at once.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _relative(path: Path, data: Path) -> str:
    try:
        return str(path.resolve().relative_to(data.resolve()))
    except ValueError:
        return str(path.resolve())
