"""WACZ packages for the tests: the fixture site captured twice (the second capture mostly
revisits of the first), and the ways a package can be damaged or forged."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fixture_site as fs
from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog

OPERATOR = "Kampuchea Records Project <archive@example.org>"


def capture_twice(data: Path) -> dict[str, Any]:
    """The fixture site captured twice by the real crawler (sites stopped afterwards)."""
    settings = Settings(data=data, allow_private_networks=True, backoff=0.05, timeout=5.0, max_pages=40,
                        max_response_bytes=1_000_000, operator=OPERATOR)
    engine = catalog.connect(settings.catalog_url)
    with fs.serve_with_cdn() as (site, _cdn):
        catalog.save_target(engine, make_target(site.url, name="news", scope="host"))
        first = run_capture(settings, engine, "news")
        second = run_capture(settings, engine, "news", fresh=True)
        seed = site.url
    return {"settings": settings, "engine": engine, "first": first["id"], "second": second["id"],
            "second_summary": second, "seed": seed}


def rezip(src: Path, dst: Path, edit: Callable[[str, bytes], bytes | None]) -> None:
    """SRC written again as DST, each member as EDIT(name, data) returns it (None drops it),
    with the same methods and correct CRCs: what someone who tampers with a package writes."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for info in old.infolist():
            data = edit(info.filename, old.read(info))
            if data is not None:
                copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                copy.compress_type = info.compress_type
                new.writestr(copy, data)


def flip_byte_in_member(path: Path, name: str) -> None:
    """One byte changed in the middle of member NAME's stored bytes, in place (bit rot: the
    zip's own CRC no longer matches)."""
    with zipfile.ZipFile(path) as package:
        info = package.getinfo(name)
    with open(path, "r+b") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 0x01]))


def set_declared_sizes(path: Path, name: str, compressed: int | None, uncompressed: int | None) -> None:
    """Make the central directory state other sizes for member NAME (a lying zip)."""
    data = bytearray(path.read_bytes())
    at = 0
    while True:
        at = data.index(b"PK\x01\x02", at)
        name_len = struct.unpack("<H", data[at + 28:at + 30])[0]
        if data[at + 46:at + 46 + name_len] == name.encode():
            break
        at += 4
    if compressed is not None:
        data[at + 20:at + 24] = struct.pack("<I", compressed)
    if uncompressed is not None:
        data[at + 24:at + 28] = struct.pack("<I", uncompressed)
    path.write_bytes(bytes(data))


def member_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as package:
        return package.namelist()
