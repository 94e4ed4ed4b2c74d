"""An index row as a CDX server prints it: pywb's fields and values, in its three outputs.
Shared by /cdx (cdx_api) and the JSON TimeMaps (memento).

    row_fields(hit) -> dict[str, str]     urlkey, timestamp, url, mime, status, digest, length, offset, filename
    line(fields, output, names) -> str    one line of output text, json or cdxj (no newline)
    CONTENT_TYPES                         each output's media type (pywb's)
    HEADERS                               the headers of every answer made of rows (/cdx, TimeMaps)

Values are pywb's for the same record (its indexer's, as its CDX server prints them):
a revisit's mime is 'warc/revisit' and it has no status (the key is absent; '-' in text);
a missing Content-Type is 'unk'; a 'sha1:' digest loses its prefix (others keep theirs);
filename is the WARC file's name. A URL with non-ASCII characters is printed as a URI
(those characters percent-encoded as UTF-8), as pywb prints it; pywb also encodes the
reserved characters of such a URL ('?' as %3F), which is a different URL, so here they
stay as they are. Everything is a string, as in pywb.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from refuge.mirror.replay.cdx_params import ALIASES, CDX11
from refuge.storage.catalog.index import Hit

CONTENT_TYPES = {"text": "text/plain; charset=utf-8", "json": "text/x-ndjson; charset=utf-8",
                 "cdxj": "text/x-cdxj; charset=utf-8"}
# Open to other origins (archive tools read them from pages), never sniffed, and asked again
# each time: a takedown holds at once.
HEADERS = {"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


def printable_url(url: str) -> str:
    """URL as a URI: non-ASCII characters (and white space) percent-encoded as UTF-8."""
    if url.isascii() and " " not in url:
        return url
    return quote(url, safe=_PRINTABLE_ASCII, errors="surrogateescape")


def row_fields(hit: Hit) -> dict[str, str]:
    """HIT's fields as pywb's CDX server gives them (see the module's docstring)."""
    revisit = hit.rectype == "revisit"
    fields = {"urlkey": hit.urlkey, "timestamp": hit.timestamp, "url": printable_url(hit.url),
              "mime": "warc/revisit" if revisit else (hit.mime or "unk")}
    if not revisit:
        fields["status"] = str(hit.status) if hit.status is not None else "-"
    digest = hit.digest or "-"
    fields["digest"] = digest[len("sha1:"):] if digest.startswith("sha1:") else digest
    fields["length"] = str(hit.length)
    fields["offset"] = str(hit.offset)
    fields["filename"] = hit.filename
    return fields


def line(fields: dict[str, str], output: str, names: list[str] | None = None) -> str:
    """One output line for a row: text (CDX11, or NAMES, space-separated, '-' where a row
    has no such field), json (an object of the row's fields, or of NAMES it has) or cdxj
    ('urlkey timestamp {json}', pywb's own format)."""
    if output == "text":
        return " ".join(fields.get(ALIASES.get(n, n), "-") for n in (names or CDX11))
    if output == "json":
        chosen = fields if names is None else {n: fields[ALIASES.get(n, n)] for n in names
                                               if ALIASES.get(n, n) in fields}
        return json.dumps(chosen)
    rest = {k: v for k, v in fields.items() if k not in ("urlkey", "timestamp")}
    if names is not None:
        rest = {n: rest[ALIASES.get(n, n)] for n in names if ALIASES.get(n, n) in rest}
    return f"{fields['urlkey']} {fields['timestamp']} {json.dumps(rest)}"
