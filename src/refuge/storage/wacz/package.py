"""Writing one capture as a signed WACZ 1.1.1 package (`refuge wacz`).

    archive/<name>.warc.gz     the capture's sealed WARC files, byte for byte, ZIP_STORED
    archive/<capture>-originals.warc.gz   only when its revisits stand for records of earlier
                               captures: those records, copied byte for byte (storage.wacz.originals)
    indexes/index.cdxj         their CDXJ index (storage.wacz.index), deflated
    pages/pages.jsonl          the HTML pages with title and text (storage.wacz.pages), deflated
    datapackage.json           every file above with its name, path, "sha256:<hex>" and bytes;
                               title, description, created, software, mainPageURL, mainPageDate,
                               and `refuge` (target, capture, operator)
    datapackage-digest.json    datapackage.json's hash, signed (storage.wacz.signing)

Constant memory whatever the capture weighs: each WARC file is read once, in 1 MiB chunks,
through the WarcFiles seam (this disk, or its S3 copy when it is only there), hashed on
the way into the zip, and its SHA-256 and size compared with the ones the catalog recorded
when it was sealed: a file changed since is refused (Failure naming it) and no package is
left behind. Index and page list are streamed into their members as they are made, with
zip64 sizes always (their size is known only at their end, and a page list of a capture
of revisits, its text read from the originals, may far outweigh the WARC files). The zip
is written under a temporary name in the output's folder (`.NAME.<pid>-<hex>.tmp`),
flushed, then renamed: a package is there whole or not at all. Such a temporary file
left by a `refuge wacz` that was killed is removed by the next one writing to the same
folder, once its process is gone and it has not changed for STALE_TMP seconds (a writer
on another machine sharing the folder has a process id that means nothing here).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import re
import secrets
import struct
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from refuge import __version__
from refuge.config.errors import BadInput, Failure
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import hidden, replicas
from refuge.storage.catalog.index import Hit
from refuge.storage.out_file import checked_out
from refuge.storage.stores.interface import FileRef
from refuge.storage.wacz.index import index_lines
from refuge.storage.wacz.originals import copy_record, moved_line, originals_name, outside_originals, warcinfo
from refuge.storage.wacz.pages import PageList
from refuge.storage.wacz.signing import WaczKey, wacz_key
from refuge.storage.wacz.verify import DATAPACKAGE, DIGEST
from refuge.storage.warc.files import WarcFiles, warc_files
from refuge.storage.warc.sealed import fsync_dir

WACZ_VERSION = "1.1.1"
INDEX = "indexes/index.cdxj"
PAGES = "pages/pages.jsonl"
CHUNK = 1024 * 1024
STALE_TMP = 600  # seconds unchanged before a dead writer's temporary file goes (a live one writes on)
_TMP = re.compile(r"\..+\.wacz\.(\d+)-[0-9a-f]{8}\.tmp")  # what write_wacz names one


@dataclass(frozen=True)
class Packaged:
    """What write_wacz wrote."""

    path: Path
    target: str
    capture_id: str
    warcs: int
    warc_bytes: int
    records: int  # index lines
    originals: int  # records copied from earlier captures for the capture's revisits
    pages: int
    withheld: int  # pages left out of the page list (takedowns)
    size: int  # the package's bytes
    created: str
    digest: str  # "sha256:<hex>" of datapackage.json: what the signature covers
    public_key: str  # signedData.publicKey
    fingerprint: str

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.path), "target": self.target, "capture": self.capture_id, "warcs": self.warcs,
                "warc_bytes": self.warc_bytes, "records": self.records, "originals": self.originals,
                "pages": self.pages,
                "withheld": self.withheld, "bytes": self.size, "created": self.created, "digest": self.digest,
                "public_key": self.public_key, "fingerprint": self.fingerprint}


class _Hashed:
    """A member being written: what went in, hashed and counted."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.sha256, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.sha256.update(data)
        self.size += len(data)


def write_wacz(settings: Settings, engine: Engine, target_name: str, out: Path, capture_id: str | None = None,
               *, key: WaczKey | None = None) -> Packaged:
    """Write a capture of TARGET_NAME (the newest complete one unless CAPTURE_ID) to OUT, a
    .wacz file (replaced if there). BadInput for an unknown target or capture, a capture
    still running or with no WARC file, an OUT that is no .wacz file name; Failure when a
    WARC file cannot be read or is not what was sealed."""
    target = catalog.get_target(engine, target_name, include_removed=True)
    capture_id = catalog.pick_capture(engine, target_name, capture_id, "package")
    capture = catalog.get_capture(engine, capture_id)
    if capture["status"] == "running":
        raise BadInput(f"capture {capture_id} of {target_name!r} is still running: package it once it has ended")
    warcs = sorted((f for f in replicas.file_refs(engine, settings.data, [capture_id]) if f.kind == "warc"),
                   key=lambda f: f.name)
    if not warcs:
        raise BadInput(f"capture {capture_id} of {target_name!r}: no sealed WARC file to package")
    out = checked_out(Path(out), ".wacz", "a WACZ package")
    _remove_dead_tmp(out.parent)
    key = key or wacz_key(settings, engine)
    now = datetime.now(timezone.utc)
    created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp = now.timetuple()[:6]
    files = warc_files(settings, engine)
    originals = outside_originals(engine, capture_id)
    pages = PageList(engine, files, capture_id, target.spec.url, hidden.active(engine))
    tmp = out.with_name(f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as raw:
            with zipfile.ZipFile(raw, "w", allowZip64=True) as package:
                resources = [_add_warc(package, files, f, stamp) for f in warcs]
                moved: list[str] = []
                if originals:
                    resources.append(_add_originals(package, files, settings, target.name, capture_id,
                                                    originals, stamp, moved))
                records = [0]
                lines = heapq.merge(index_lines(engine, capture_id), sorted(moved))
                resources.append(_add_stream(package, INDEX, _counted(lines, records), stamp))
                resources.append(_add_stream(package, PAGES, pages.lines(), stamp))
                doc = _datapackage(settings, target, capture, resources, pages, created)
                body = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                signed = key.sign(digest, created, doc["software"])
                _add_bytes(package, DATAPACKAGE, body, stamp)
                _add_bytes(package, DIGEST, (json.dumps({"path": DATAPACKAGE, "hash": digest, "signedData": signed},
                                                        indent=2) + "\n").encode("utf-8"), stamp)
            raw.flush()
            os.fsync(raw.fileno())
            size = raw.tell()
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Packaged(path=out, target=target.name, capture_id=capture_id, warcs=len(warcs),
                    warc_bytes=sum(f.size for f in warcs), records=records[0], originals=len(originals), pages=pages.pages,
                    withheld=pages.withheld, size=size, created=created, digest=digest,
                    public_key=key.public_key_b64(), fingerprint=key.fingerprint())


def _remove_dead_tmp(folder: Path) -> None:
    """Remove from FOLDER the temporary packages of writers that died (see the module's docstring)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = _TMP.fullmatch(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and time.time() - entry.stat().st_mtime > STALE_TMP:
                os.unlink(entry.path)
        except OSError:
            pass  # someone else removed it, or may not: it is only litter


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's, or no answer: left alone
    return True


def _info(name: str, stamp: tuple[int, ...], compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    # An extra field in the central directory too (Info-ZIP's UTC modification time): a
    # reader that finds none there takes the local header to have none either (wabac.js,
    # ReplayWeb.page's, does), and reads a member whose local header has zip64 sizes (the
    # streamed ones) from the wrong offset.
    when = int(datetime(*stamp[:6], tzinfo=timezone.utc).timestamp())
    info.extra = struct.pack("<HHBI", 0x5455, 5, 1, when)
    return info


def _resource(name: str, digest: str, size: int) -> dict[str, Any]:
    # name: the file name in lower case, as py-wacz writes it (Frictionless wants it so)
    return {"name": name.rsplit("/", 1)[-1].lower(), "path": name, "hash": f"sha256:{digest}", "bytes": size}


def _add_warc(package: zipfile.ZipFile, files: WarcFiles, f: FileRef, stamp: tuple[int, ...]) -> dict[str, Any]:
    """F's bytes as stored, into archive/, checked against what was recorded when it was sealed."""
    name = f"archive/{f.name}"
    info = _info(name, stamp, zipfile.ZIP_STORED)
    info.file_size = f.size  # zipfile then writes zip64 sizes for a file that needs them
    with files.open(f.data_path, 0, f.size) as source, package.open(info, "w") as member:
        hashed = _Hashed(member)
        source.seek(0)
        while hashed.size < f.size and (chunk := source.read(min(CHUNK, f.size - hashed.size))):
            hashed.write(chunk)
        extra = source.read(1)
    if hashed.size != f.size or extra or hashed.sha256.hexdigest() != f.sha256:
        found = f"{hashed.size}{'+' if extra else ''} bytes"
        raise Failure(f"{f.local_path}: not the file sealed ({found} read, SHA-256 "
                      f"{'matches' if hashed.sha256.hexdigest() == f.sha256 else 'differs'}; sealed as "
                      f"{f.size} bytes): run `refuge verify {f.capture} --repair`")
    return _resource(name, f.sha256, f.size)


def _add_originals(package: zipfile.ZipFile, files: WarcFiles, settings: Settings, target: str, capture_id: str,
                   originals: list[Hit], stamp: tuple[int, ...], moved: list[str]) -> dict[str, Any]:
    """archive/<capture>-originals.warc.gz (storage.wacz.originals); MOVED gets their index lines."""
    name = originals_name(capture_id)
    head = warcinfo(target, capture_id, settings.operator, sorted({h.capture_id for h in originals}))
    info = _info(f"archive/{name}", stamp, zipfile.ZIP_STORED)
    info.file_size = len(head) + sum(h.length for h in originals)
    with package.open(info, "w") as member:
        hashed = _Hashed(member)
        hashed.write(head)
        for hit in originals:
            moved.append(moved_line(hit, hashed.size, name))
            for chunk in copy_record(files, hit):
                hashed.write(chunk)
    return _resource(f"archive/{name}", hashed.sha256.hexdigest(), hashed.size)


def _add_stream(package: zipfile.ZipFile, name: str, chunks: Iterable[bytes], stamp: tuple[int, ...]) -> dict[str, Any]:
    with package.open(_info(name, stamp, zipfile.ZIP_DEFLATED), "w", force_zip64=True) as member:
        hashed = _Hashed(member)
        for chunk in chunks:
            hashed.write(chunk)
    return _resource(name, hashed.sha256.hexdigest(), hashed.size)


def _add_bytes(package: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, ...]) -> None:
    package.writestr(_info(name, stamp, zipfile.ZIP_DEFLATED), data)


def _counted(lines: Iterable[str], count: list[int]) -> Iterable[bytes]:
    for line in lines:
        count[0] += 1
        yield (line + "\n").encode("utf-8")


def _datapackage(settings: Settings, target: Any, capture: dict[str, Any], resources: list[dict[str, Any]],
                 pages: PageList, created: str) -> dict[str, Any]:
    software = f"Refuge {__version__}"
    operator = settings.operator or None
    doc: dict[str, Any] = {
        "profile": "data-package",
        "wacz_version": WACZ_VERSION,
        "title": f"{target.name}: capture {capture['id']}",
        "description": (f"Capture {capture['id']} of {target.spec.url} ({capture['status']}, started "
                        f"{capture['started']}, finished {capture['finished'] or '-'}), made by {software}"
                        + (f" for {operator}" if operator else "") + "."),
        "created": created,
        "software": software,
    }
    if pages.main is not None:
        doc["mainPageURL"], doc["mainPageDate"] = pages.main
    doc["refuge"] = {"target": target.name, "url": target.spec.url, "capture": capture["id"],
                     "status": capture["status"], "started": capture["started"], "finished": capture["finished"],
                     "operator": operator}
    doc["resources"] = resources
    return doc
