"""The files given to `refuge import`, told apart by their first bytes (not their names) and
brought into the staging folder byte for byte.

- A WARC file, gzipped or not: copied as it is, its SHA-256 computed on the way, so what
  is checked and kept is exactly what was hashed (the file given may change meanwhile).
- A WACZ package: copied into the staging folder first (its SHA-256 computed on the way),
  then checked and extracted from that copy, so the check recorded is of the bytes
  extracted whatever happens to the file given meanwhile; the copy is removed after.
  Its hashes and signature are checked (storage.wacz.verify). A package that does not
  verify (a file whose hash is wrong, a signature that does not match) is refused; an
  unsigned one is taken, and said to be unsigned. Each WARC file under `archive/` is
  extracted byte for byte, streamed, and its SHA-256 compared again with the one
  `datapackage.json` states. The package's `datapackage.json` and
  `datapackage-digest.json` are kept as text with the result (what the signature covers),
  and its first page's URL is noted (read a line at a time, at most MAX_PAGE_LINE bytes
  each: a longer line is passed over).
- Anything else (an ARC file, a zip that is no WACZ, an empty file) is refused.

Every refusal is a BadInput naming the file (and, in a WACZ, the member). Memory holds
one chunk at a time. A WACZ needs room for itself and its WARC files in the staging
folder while it is extracted.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from refuge.config.errors import BadInput, first_line
from refuge.storage.warc.strict import GZIP_MAGIC

CHUNK = 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"
KEPT_JSON = 1024 * 1024  # a datapackage file bigger than this is not kept with the result
PAGES = "pages/pages.jsonl"
MAX_PAGE_LINE = 1024 * 1024  # a page line, its text and all (a Refuge page list's is at most ~300 KB)
PAGE_LINES = 1000  # lines of the page list read for its first page


@dataclass(frozen=True)
class StagedWarc:
    """One WARC file copied into the staging folder."""

    path: Path  # its copy in the staging folder
    label: str  # how messages name it: the path given, and in a WACZ the member too
    source: str  # the name of the file given, without its folders
    member: str | None  # its path inside a WACZ
    sha256: str
    size: int

    @property
    def gzipped(self) -> bool:
        return self.path.name.endswith(".gz")


@dataclass
class Source:
    """One file given: a WARC file, or a WACZ package and the WARC files it holds."""

    given: Path
    kind: str  # warc | wacz
    sha256: str
    size: int
    warcs: list[StagedWarc] = field(default_factory=list)
    wacz: dict[str, Any] | None = None  # the signature check and the datapackage files, for the record
    first_page: str | None = None  # a WACZ's first page URL

    @property
    def name(self) -> str:
        return self.given.name


def stage(given: Path, folder: Path, first_number: int) -> Source:
    """The file GIVEN, its WARC files copied into FOLDER as '<number>.warc[.gz]' from
    FIRST_NUMBER on. BadInput for a file that cannot be imported; then nothing of it is
    left in FOLDER (a WACZ refused at its second member leaves no copy of its first)."""
    try:
        return _stage(given, folder, first_number)
    except BaseException:
        for path in folder.iterdir():
            number = path.name.split(".", 1)[0]
            if number.isdigit() and int(number) >= first_number:
                path.unlink(missing_ok=True)
        raise


def _stage(given: Path, folder: Path, first_number: int) -> Source:
    try:
        with open(given, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise BadInput(f"{given}: cannot read it ({exc.strerror or exc})") from None
    if head.startswith(ZIP_MAGIC):
        return _stage_wacz(given, folder, first_number)
    if head.startswith((GZIP_MAGIC, b"WARC/")):
        suffix = ".warc.gz" if head.startswith(GZIP_MAGIC) else ".warc"
        target = folder / f"{first_number:03d}{suffix}"
        with open(given, "rb") as fh:
            digest, size = _copy(fh, target)
        warc = StagedWarc(target, str(given), given.name, None, digest, size)
        return Source(given, "warc", digest, size, [warc])
    if not head:
        raise BadInput(f"{given}: the file is empty")
    if head.startswith(b"filedesc"):
        raise BadInput(f"{given}: an ARC file; only WARC files and WACZ packages are imported "
                       f"(`warcio` or pywb's `arc2warc` converts one)")
    raise BadInput(f"{given}: neither a WARC file (.warc, .warc.gz) nor a WACZ package")


def _stage_wacz(given: Path, folder: Path, first_number: int) -> Source:
    copy = folder / f"{first_number:03d}.wacz"  # stage() removes it with the rest on failure
    try:
        with open(given, "rb") as fh:
            digest, size = _copy(fh, copy)
        return _extract_wacz(given, copy, Source(given, "wacz", digest, size), folder, first_number)
    finally:
        copy.unlink(missing_ok=True)


def _extract_wacz(given: Path, copy: Path, source: Source, folder: Path, first_number: int) -> Source:
    """SOURCE with the WARC files of COPY (GIVEN's copy) checked and extracted into FOLDER."""
    from refuge.storage.wacz.verify import verify_wacz  # its own stack, only for a WACZ

    check = verify_wacz(copy, given.name)
    if not check.ok or (check.signed and check.signature_ok is False):
        problems = "; ".join(check.problems) or "its signature does not verify"
        raise BadInput(f"{given}: the WACZ package does not verify: {problems}")
    try:
        with zipfile.ZipFile(copy) as package:
            stated = _stated_hashes(package, given)
            members = [i for i in package.infolist() if i.filename.startswith("archive/")
                       and i.filename.endswith((".warc.gz", ".warc")) and not i.is_dir()]
            if not members:
                raise BadInput(f"{given}: the WACZ package holds no WARC files under archive/")
            for number, info in enumerate(members, first_number):
                label = f"{given}: {info.filename}"
                with package.open(info) as member:
                    head = member.read(2)
                suffix = ".warc.gz" if head == GZIP_MAGIC else ".warc"
                target = folder / f"{number:03d}{suffix}"
                with package.open(info) as member:
                    warc_digest, warc_size = _copy(member, target)
                want = stated.get(info.filename)
                if want is not None and want != f"sha256:{warc_digest}":
                    raise BadInput(f"{label}: its SHA-256 is not the one datapackage.json states")
                source.warcs.append(StagedWarc(target, label, given.name, info.filename, warc_digest, warc_size))
            source.wacz = {
                "signed": check.signed, "signature_ok": check.signature_ok, "public_key": check.public_key,
                "software": check.software, "created": check.created,
                "datapackage": _kept_text(package, "datapackage.json"),
                "datapackage_digest": _kept_text(package, "datapackage-digest.json"),
            }
            source.first_page = _first_page(package)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise BadInput(f"{given}: the WACZ package cannot be read ({first_line(exc)})") from None
    return source


def _stated_hashes(package: zipfile.ZipFile, given: Path) -> dict[str, str]:
    """datapackage.json's hash of each resource, by path: "sha256:<hex>" (others left out)."""
    try:
        doc = json.loads(package.read("datapackage.json"))
    except KeyError:
        raise BadInput(f"{given}: not a WACZ package: it has no datapackage.json") from None
    except ValueError as exc:
        raise BadInput(f"{given}: its datapackage.json is not JSON ({first_line(exc)})") from None
    resources = doc.get("resources") if isinstance(doc, dict) else None
    stated: dict[str, str] = {}
    for item in resources if isinstance(resources, list) else []:
        if isinstance(item, dict) and isinstance(item.get("path"), str) and isinstance(item.get("hash"), str):
            if item["hash"].startswith("sha256:"):
                stated[item["path"]] = item["hash"].lower()
    return stated


def _kept_text(package: zipfile.ZipFile, name: str) -> str | None:
    try:
        info = package.getinfo(name)
    except KeyError:
        return None
    if info.file_size > KEPT_JSON:
        return None
    return package.read(info).decode("utf-8", "replace")


def _first_page(package: zipfile.ZipFile) -> str | None:
    """The URL of the first page pages/pages.jsonl lists (its first line is a header), in its
    first PAGE_LINES lines; a line over MAX_PAGE_LINE bytes is passed over, never held."""
    try:
        fh = package.open(PAGES)
    except KeyError:
        return None
    with fh:
        for _ in range(PAGE_LINES):
            line = fh.readline(MAX_PAGE_LINE)
            if not line:
                return None
            if len(line) == MAX_PAGE_LINE and not line.endswith(b"\n"):
                while (rest := fh.readline(MAX_PAGE_LINE)) and not rest.endswith(b"\n"):
                    pass  # the rest of the long line, a bounded piece at a time
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("url"), str) and "format" not in entry:
                return entry["url"]
    return None


def _copy(source: BinaryIO, target: Path) -> tuple[str, int]:
    """SOURCE's bytes written to TARGET (a new file), flushed to disk; their SHA-256 and size."""
    digest, size = hashlib.sha256(), 0
    with open(target, "xb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size
