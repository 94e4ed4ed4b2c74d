"""What a zip must be before anything in it is read: for checking packages from anywhere.

A hostile zip can make a reader use memory or time out of all proportion to its size: a
central directory of millions of entries (read whole by zipfile before anything else), a
member whose stated sizes reach past the file, a deflated member stating a size that no
deflate stream of its compressed bytes could reach, or a name that climbs out of the
folder it is extracted to (`../x`, `/etc/x`). Each is refused here, with a problem line,
from the file's end records and its central directory alone (no member is read):

- central_directory_problem(fh): the end of central directory record (and its zip64
  locator and record) read by hand, so that a directory over MAX_DIRECTORY bytes or
  MAX_MEMBERS entries is refused before zipfile loads it;
- member_problems(info, file_size): one member's name, flags, method and sizes.

- inflation_problem(infos, file_size): all deflated members together.

Everything zipfile then reads is bounded: a STORED member by its bytes in the file, a
DEFLATED one by MAX_RATIO times them (deflate cannot do better than about 1032 to 1), and
all of them together by MAX_INFLATION times the package.
"""

from __future__ import annotations

import re
import struct
import zipfile
from typing import BinaryIO

MAX_MEMBERS = 100_000
MAX_DIRECTORY = 64 * 1024 * 1024
MAX_RATIO = 1100  # deflate's best is a little over 1032:1; a member stating more is lying
MAX_INFLATION = 20  # text (index, pages) deflates about 5 to 10 times; WARC files are gzipped already
MAX_NAME = 1024

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_EOCD_SIZE = 22
_TAIL = _EOCD_SIZE + 65535  # the record and the longest comment it may carry
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\:]")


def central_directory_problem(fh: BinaryIO) -> str | None:
    """Why the zip in FH should not be opened (its directory too big, or no zip at all), or
    None. Reads at most the last 64 KiB and a few records."""
    size = fh.seek(0, 2)
    if size < _EOCD_SIZE:
        return "not a zip file (too short)"
    start = max(0, size - _TAIL)
    fh.seek(start)
    tail = fh.read(size - start)
    at = tail.rfind(_EOCD)
    while at >= 0 and at + _EOCD_SIZE + struct.unpack("<H", tail[at + 20:at + 22])[0] != len(tail):
        at = tail.rfind(_EOCD, 0, at)  # a signature inside the comment: look further back
    if at < 0:
        return "not a zip file (no end of central directory record)"
    entries, directory_size = struct.unpack("<H", tail[at + 10:at + 12])[0], struct.unpack("<I", tail[at + 12:at + 16])[0]
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        where = start + at - 20
        if where < 0:
            return "not a zip file (a zip64 end record is missing)"
        fh.seek(where)
        locator = fh.read(20)
        if locator[:4] != _ZIP64_LOCATOR:
            return "not a zip file (a zip64 end record is missing)"
        record_at = struct.unpack("<Q", locator[8:16])[0]
        if record_at + 56 > size:
            return "not a zip file (its zip64 end record lies past its end)"
        fh.seek(record_at)
        record = fh.read(56)
        if record[:4] != _ZIP64_EOCD:
            return "not a zip file (a zip64 end record is missing)"
        entries, directory_size = struct.unpack("<Q", record[32:40])[0], struct.unpack("<Q", record[40:48])[0]
    if entries > MAX_MEMBERS:
        return f"holds {entries} files, more than the {MAX_MEMBERS} a WACZ package is taken to have"
    if directory_size > MAX_DIRECTORY or directory_size > size:
        return f"its central directory claims {directory_size} bytes, more than a WACZ package is taken to have"
    return None


def member_problems(info: zipfile.ZipInfo, file_size: int) -> list[str]:
    """What is wrong with the member INFO of a zip FILE_SIZE bytes long (each line names it)."""
    name = info.orig_filename
    shown = repr(name[:80]) if _BAD_CHARS.search(name) or len(name) > 80 else name
    if not name or len(name) > MAX_NAME or _BAD_CHARS.search(name) or name.startswith("/") \
            or any(part in ("", ".", "..") for part in name.rstrip("/").split("/")):
        return [f"{shown}: an unsafe file name (absolute, '..', empty parts, backslashes or control characters)"]
    problems = []
    if info.flag_bits & 0x1:
        problems.append(f"{shown}: encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        problems.append(f"{shown}: compressed with method {info.compress_type}; a WACZ uses store or deflate")
    if info.header_offset + info.compress_size > file_size:
        problems.append(f"{shown}: its {info.compress_size} stored bytes would reach past the end of the package")
    elif info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        problems.append(f"{shown}: stored, yet its size ({info.file_size}) is not its stored size "
                        f"({info.compress_size})")
    elif info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > MAX_RATIO * info.compress_size + 1024:
        problems.append(f"{shown}: claims {info.file_size} bytes from {info.compress_size} deflated ones, more than "
                        f"deflate can give (a zip bomb?)")
    return problems


def inflation_problem(infos: list[zipfile.ZipInfo], file_size: int) -> str | None:
    """Why the deflated members, all together, claim too much (their sum is read in full to
    hash them): more than MAX_INFLATION times the package, or None."""
    total = sum(i.file_size for i in infos if i.compress_type == zipfile.ZIP_DEFLATED)
    if total > MAX_INFLATION * file_size + 64 * 1024 * 1024:
        return (f"its deflated files claim {total} bytes in all, over {MAX_INFLATION} times the package's "
                f"{file_size} (a zip bomb?)")
    return None
