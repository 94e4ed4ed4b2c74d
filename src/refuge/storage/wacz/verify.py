"""Checking a WACZ package offline (`refuge verify FILE.wacz`, and `refuge import` before it
takes one): verify_wacz(path, name=None) -> WaczCheck.

What is checked, each problem one line naming the file inside the package:

1. the zip itself (storage.wacz.zipcheck): its directory's size, every member's name
   (nothing absolute, no '..'), method and sizes, and how much its deflated members claim;
2. datapackage.json: JSON (at most MAX_JSON bytes), `resources` each with `path`, a
   "sha256:<hex>" `hash` and `bytes`; every resource is in the package with that SHA-256 and
   size, and every file in the package is listed (but datapackage.json and its digest).
   A package hashed otherwise (py-wacz's `--hash-type md5`) is refused as such: an MD5
   proves nothing against someone who can edit the package;
3. the WARC files under archive/: read through warcio, records and digests, one gzip member
   per record (storage.wacz.warccheck), in the same pass as their hash;
4. datapackage-digest.json, when there is one: its `hash` is datapackage.json's SHA-256;
   with `signedData`, the signature (storage.wacz.signing) over that same hash, and its
   `created` equal to datapackage.json's (as `wacz validate` requires).

A package with no signedData is unsigned, not wrong: `ok` speaks of its hashes. Nothing
the package holds makes verify_wacz raise or read more than a bounded amount into memory
(each JSON file at most MAX_JSON bytes; members are streamed): a zip bomb, a huge member,
JSON that is not JSON or a '../' name is a problem line.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refuge.config.errors import first_line
from refuge.storage.wacz.signing import check_signature
from refuge.storage.wacz.warccheck import check_warc_member
from refuge.storage.wacz.zipcheck import central_directory_problem, inflation_problem, member_problems

DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
MAX_JSON = 16 * 1024 * 1024
CHUNK = 1024 * 1024
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_OTHER_HASH = re.compile(r"(?!sha256:)[a-z0-9-]{1,20}:[0-9a-fA-F]+")  # md5:<hex>, as py-wacz writes another


@dataclass(frozen=True)
class WaczCheck:
    ok: bool                    # every hash, size and (if signed) the signature check out
    problems: list[str]         # one line each, naming the file inside the package
    signed: bool
    signature_ok: bool | None   # None when unsigned
    public_key: str | None      # the signer's public key as in the package (base64), when signed
    software: str | None
    created: str | None


def verify_wacz(path: Path, name: str | None = None) -> WaczCheck:
    """Check the WACZ package at PATH (see the module's docstring); NAME names it in problems
    (default: PATH's file name). Never raises."""
    found = _Found()
    name = name or Path(path).name
    try:
        _check(Path(path), name, found)
    except Exception as exc:  # noqa: BLE001 - the promise is a problem line, whatever the bytes do
        found.problems.append(f"{name}: cannot be checked ({first_line(exc)})")
    return WaczCheck(ok=not found.problems and found.signature_ok is not False, problems=found.problems,
                     signed=found.signed, signature_ok=found.signature_ok if found.signed else None,
                     public_key=found.public_key, software=found.software, created=found.created)


class _Found:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.signed = False
        self.signature_ok: bool | None = None
        self.public_key: str | None = None
        self.software: str | None = None
        self.created: str | None = None


def _check(path: Path, name: str, found: _Found) -> None:
    problems = found.problems
    try:
        fh = open(path, "rb")
    except OSError as exc:
        problems.append(f"{name}: cannot be read ({exc.strerror or exc})")
        return
    with fh:
        size = fh.seek(0, 2)
        why = central_directory_problem(fh)
        if why is not None:
            problems.append(f"{name}: {why}")
            return
        try:
            package = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
            problems.append(f"{name}: not a zip file that can be read ({first_line(exc)})")
            return
        with package:
            members = _members(package, size, name, problems)
            doc = _json(package, members, DATAPACKAGE, problems)
            if doc is None:
                return
            found.created = doc.get("created") if isinstance(doc.get("created"), str) else None
            found.software = doc.get("software") if isinstance(doc.get("software"), str) else None
            other = _other_hash(doc)
            if other is not None:
                problems.append(f"{DATAPACKAGE}: its files are hashed with {other}; Refuge checks sha256 "
                                f"packages only (`wacz create` makes one unless given --hash-type)")
                return
            listed = _resources(doc, problems)
            _check_files(package, members, listed, problems)
            _check_digest(package, members, doc, found)


def _members(package: zipfile.ZipFile, size: int, name: str, problems: list[str]) -> dict[str, zipfile.ZipInfo]:
    """The package's files by name, the ones safe to read (directories left out)."""
    infos = package.infolist()
    safe: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        bad = member_problems(info, size)
        if bad:
            problems.extend(bad)
        elif info.filename in safe:
            problems.append(f"{info.filename}: in the package twice")
        elif not info.is_dir():
            safe[info.filename] = info
    why = inflation_problem(infos, size)
    if why is not None:
        problems.append(f"{name}: {why}")
        return {}
    return safe


def _json(package: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], name: str,
          problems: list[str]) -> dict[str, Any] | None:
    info = members.get(name)
    if info is None:
        problems.append(f"{name}: not in the package" + ("" if name == DIGEST else " (not a WACZ package?)"))
        return None
    if info.file_size > MAX_JSON:
        problems.append(f"{name}: {info.file_size} bytes, over the {MAX_JSON} a WACZ's JSON is taken to have")
        return None
    try:
        with package.open(info) as fh:
            data = fh.read(MAX_JSON + 1)
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        problems.append(f"{name}: not JSON ({first_line(exc)})")
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged member (bad CRC, bad deflate stream)
        problems.append(f"{name}: cannot be read ({first_line(exc)})")
        return None
    if not isinstance(doc, dict):
        problems.append(f"{name}: not a JSON object")
        return None
    return doc


def _resources(doc: dict[str, Any], problems: list[str]) -> dict[str, tuple[str, int]]:
    """datapackage.json's resources: path -> (hash, bytes), the well-formed ones."""
    resources = doc.get("resources")
    if not isinstance(resources, list) or not resources:
        problems.append(f"{DATAPACKAGE}: no list of resources")
        return {}
    listed: dict[str, tuple[str, int]] = {}
    for number, item in enumerate(resources, 1):
        where = f"{DATAPACKAGE}: resource {number}"
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            problems.append(f"{where}: no path")
            continue
        digest, count = item.get("hash"), item.get("bytes")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            problems.append(f"{where} ({item['path'][:200]}): its hash is not \"sha256:\" and 64 hex digits")
        elif not isinstance(count, int) or isinstance(count, bool) or count < 0:
            problems.append(f"{where} ({item['path'][:200]}): its bytes is not a whole number")
        elif item["path"] in listed:
            problems.append(f"{where} ({item['path'][:200]}): listed twice")
        else:
            listed[item["path"]] = (digest, count)
    return listed


def _other_hash(doc: dict[str, Any]) -> str | None:
    """The algorithm of a resource hashed with another than SHA-256 ("md5:<hex>"), or None."""
    resources = doc.get("resources")
    for item in resources if isinstance(resources, list) else []:
        digest = item.get("hash") if isinstance(item, dict) else None
        if isinstance(digest, str) and _OTHER_HASH.fullmatch(digest):
            return digest.split(":", 1)[0]
    return None


def _check_files(package: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], listed: dict[str, tuple[str, int]],
                 problems: list[str]) -> None:
    for name in sorted(set(members) - set(listed) - {DATAPACKAGE, DIGEST}):
        problems.append(f"{name}: in the package but not listed in {DATAPACKAGE}")
    for name, (digest, count) in listed.items():
        info = members.get(name)
        if info is None:
            problems.append(f"{name[:200]}: listed in {DATAPACKAGE} but not in the package")
            continue
        if info.file_size != count:
            problems.append(f"{name}: {info.file_size} bytes, {DATAPACKAGE} says {count}")
            continue
        try:
            with package.open(info) as fh:
                if name.startswith("archive/") and name.endswith((".warc", ".warc.gz")):
                    checked = check_warc_member(fh, name)
                    problems.extend(checked.problems)
                    actual, read = checked.sha256, checked.size
                else:
                    actual, read = _hash(fh)
        except Exception as exc:  # noqa: BLE001 - a damaged member: zipfile raises for its CRC, zlib for its data
            problems.append(f"{name}: cannot be read ({first_line(exc)})")
            continue
        if read != count or f"sha256:{actual}" != digest:
            problems.append(f"{name}: its SHA-256 is not the one {DATAPACKAGE} lists")


def _check_digest(package: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], doc: dict[str, Any],
                  found: _Found) -> None:
    problems = found.problems
    if DIGEST not in members:
        return  # unsigned, and nothing to say datapackage.json is whole but its own listing
    digest_doc = _json(package, members, DIGEST, problems)
    if digest_doc is None:
        return
    with package.open(members[DATAPACKAGE]) as fh:
        actual = "sha256:" + _hash(fh)[0]
    if digest_doc.get("path") != DATAPACKAGE:
        problems.append(f"{DIGEST}: its path is not {DATAPACKAGE!r}")
    if digest_doc.get("hash") != actual:
        problems.append(f"{DIGEST}: its hash is not {DATAPACKAGE}'s SHA-256 ({DATAPACKAGE} changed?)")
    signed = digest_doc.get("signedData")
    if signed is None:
        return
    found.signed = True
    if not isinstance(signed, dict):
        found.signature_ok = False
        problems.append(f"{DIGEST}: signedData is not a JSON object")
        return
    found.software = signed.get("software") if isinstance(signed.get("software"), str) else found.software
    ok, found.public_key, why = check_signature(signed)
    found.signature_ok = ok
    if not ok:
        problems.append(f"{DIGEST}: signedData: {why}")
    if signed.get("hash") != actual:
        found.signature_ok = False
        problems.append(f"{DIGEST}: signedData.hash is not {DATAPACKAGE}'s SHA-256: the signature is for "
                        f"another {DATAPACKAGE}")
    if signed.get("created") != doc.get("created"):
        problems.append(f"{DIGEST}: signedData.created is not {DATAPACKAGE}'s created")
    elif isinstance(signed.get("created"), str):
        found.created = signed["created"]


def _hash(fh: Any) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
