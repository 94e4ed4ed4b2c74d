"""What Kiwix shows about a ZIM bundle: its metadata (openZIM's names: Name, Title,
Description, Language, Creator, Publisher, Date, Source, Tags, ...) and its 48x48
illustration, drawn here as a PNG (a house, for refuge) by a few lines of zlib rather
than an image library.

Kiwix lists a book by Title (at most 30 characters) and Description (at most 80), so both
are cut to fit; LongDescription says the rest in Khmer, then English. Name is the same for
every bundle of a target, so a reader's library knows a newer one replaces it.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from refuge import __version__
from refuge.formats.urls import display_url
from refuge.mirror.pages.reader import ts_text

TITLE_MAX = 30
DESCRIPTION_MAX = 80
LANGUAGES = "khm,eng"  # ISO 639-3, Khmer first: the readers this is made for
ILLUSTRATION_SIZE = 48


@dataclass(frozen=True)
class ZimAbout:
    """What a bundle says about itself."""

    target: str
    source_url: str  # the target's seed URL
    capture_id: str
    operator: str  # settings.operator; "" when not set


def metadata(about: ZimAbout) -> dict[str, str]:
    """The metadata entries, name -> text."""
    host = urlsplit(about.source_url).hostname or about.target
    when = ts_text(about.capture_id[:14])
    date = when[:10]
    return {
        "Name": zim_name(about.target),
        "Title": _cut(f"{about.target} ({date})", TITLE_MAX),
        "Description": _cut(f"Archived copy of {host}, captured {date} by Refuge", DESCRIPTION_MAX),
        "LongDescription": (f"ច្បាប់ចម្លងបណ្ណសារនៃ {display_url(about.source_url)} ដែល Refuge ថតនៅ {when}។ "
                            f"An archived copy of {display_url(about.source_url)}, captured by Refuge at {when}: "
                            f"every page as it was captured, readable without contacting the original site."),
        "Language": LANGUAGES,
        "Creator": host,
        "Publisher": about.operator or "Refuge",
        "Date": date,
        "Source": about.source_url,
        "Tags": "refuge;web-archive;_ftindex:yes;_pictures:yes;_videos:no;_details:yes",
        "Flavour": "full",
        "Scraper": f"Refuge {__version__}",
    }


def zim_name(target: str) -> str:
    """The book's Name: the same for every bundle of TARGET (openZIM's `publisher_lang_selection`)."""
    return "refuge_mul_" + re.sub(r"[^a-z0-9-]", "-", target.lower())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


# -- the illustration ---------------------------------------------------------------------

NAVY = (23, 58, 110, 255)
WHITE = (255, 255, 255, 255)
GOLD = (242, 178, 51, 255)


@lru_cache(maxsize=1)
def illustration() -> bytes:
    """A 48x48 RGBA PNG: a white house with a gold door on navy."""
    n = ILLUSTRATION_SIZE
    rows = []
    for y in range(n):
        row = bytearray([0])  # filter type 0 (None) for each scanline
        for x in range(n):
            row += bytes(_pixel(x, y))
        rows.append(bytes(row))
    return png(n, n, b"".join(rows))


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    roof = 8 <= y < 24 and abs(x - 23.5) <= (y - 8) * 1.25 + 1
    walls = 24 <= y < 40 and 12 <= x < 36
    door = 30 <= y < 40 and 21 <= x < 27
    if door:
        return GOLD
    return WHITE if roof or walls else NAVY


def png(width: int, height: int, scanlines: bytes) -> bytes:
    """A PNG of 8-bit RGBA SCANLINES (each row led by its filter byte)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines, 9))
            + chunk(b"IEND", b""))
