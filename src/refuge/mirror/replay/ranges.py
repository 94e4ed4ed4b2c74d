"""Byte ranges of a replayed file (RFC 9110, section 14): what lets a phone's video player
start, pause and seek an archived video (Safari plays none without them) and a PDF viewer
fetch the page it shows.

Contract: only a raw response (served as archived, not rewritten) of known length and
status 200 honours a Range; a request for one range gets 206 with that range, one for a
range past the end gets 416, anything else (several ranges, a malformed header, an
If-Range, which is not checked) gets the whole 200, as the RFC allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from werkzeug.http import parse_range_header

UNSATISFIABLE = (-1, -1)


def wanted_span(environ: dict[str, Any], length: int) -> tuple[int, int] | None:
    """The (start, stop) bytes of LENGTH the request asks for; None for the whole;
    UNSATISFIABLE for a single range that lies past the end."""
    if environ.get("HTTP_IF_RANGE"):
        return None
    wanted = parse_range_header(environ.get("HTTP_RANGE"))
    if wanted is None or wanted.units != "bytes" or len(wanted.ranges) != 1:
        return None
    span = wanted.range_for_length(length)
    return span if span is not None else UNSATISFIABLE


def window(chunks: Iterator[bytes], start: int, stop: int) -> Iterator[bytes]:
    """Bytes START to STOP of what CHUNKS yield (those before START read and dropped)."""
    at = 0
    for chunk in chunks:
        end = at + len(chunk)
        if end > start:
            yield chunk[max(0, start - at):stop - at]
        at = end
        if at >= stop:
            return
