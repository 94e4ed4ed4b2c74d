"""A capture's journal: every outcome the coordinator handled, in order, one JSON line each.

The coordinator's state (what is queued and seen, robots.txt rules, a database's
enumeration, failures, counts) is a function of the outcomes it handled. Replaying the
journal through it rebuilds that state after a crash (Crawl resumes this way), so a
resumed capture fetches only what was still queued or in flight.

A line holds the task, what the worker found, and only the links handling it could
still take (Crawl._may_take: not considered before, and not refused for good or from
this very page, as a link past max_depth is), so the journal grows with the site, not
with its navigation. An outcome of a fetch the capture's own stop
cut short is not written: that URL is still to do.

Lines reach the operating system as each batch of outcomes is handled, so they survive
a killed process; after a power loss the tail may be missing and what it described is
fetched again. A torn last line is ignored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from refuge.archiver.worker import Outcome, Task
from refuge.formats.dbextract import ApiResult, ListingResult

log = logging.getLogger(__name__)

JOURNAL_NAME = "frontier.journal.jsonl"


class Journal:
    """Appends outcomes to the journal at PATH."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _cut_torn_tail(path)
        self._fh = open(path, "a", encoding="utf-8")

    def write(self, out: Outcome, new_links: list[tuple[str, str]]) -> None:
        self._fh.write(encode(out, new_links) + "\n")

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _cut_torn_tail(path: Path) -> None:
    """Cut a line a killed writer left half-written, so what is appended next starts a line
    of its own (glued to the fragment, it would be lost with it)."""
    try:
        fh = open(path, "r+b")
    except FileNotFoundError:
        return
    with fh:
        end = fh.seek(0, 2)
        pos = end
        while pos > 0:
            step = min(pos, 64 * 1024)
            fh.seek(pos - step)
            block = fh.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                pos = pos - step + newline + 1
                break
            pos -= step
        if pos != end:
            fh.truncate(pos)


def read_journal(path: Path) -> Iterator[Outcome]:
    """The outcomes journaled at PATH, in order; nothing if there is no journal."""
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with fh:
        for number, line in enumerate(fh, 1):
            try:
                yield decode(line)
            except (ValueError, KeyError, TypeError) as exc:
                # Only a process killed mid-write leaves a bad line, and only as the last one:
                # Journal cuts it before appending.
                log.warning("%s line %d: not a whole journal line (%s); what follows is fetched again",
                            path, number, exc)
                return


def encode(out: Outcome, new_links: list[tuple[str, str]]) -> str:
    # Where an earlier run's record lies is for that run's workers, not for the journal.
    line: dict[str, Any] = {"task": dataclasses.asdict(dataclasses.replace(out.task, archived=None))}
    for name in ("status", "recorded", "redirect", "error", "robots_txt"):
        value = getattr(out, name)
        if value is not None:
            line[name] = value
    for name in ("caused", "caused_revisits", "failures"):  # browser mode's
        if getattr(out, name):
            line[name] = getattr(out, name)
    if new_links:
        line["links"] = new_links
    if out.found is not None:
        line["found"] = _encode_found(out.found)
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> Outcome:
    line = json.loads(text)
    return Outcome(
        task=Task(**line["task"]), status=line.get("status"), recorded=line.get("recorded"),
        redirect=line.get("redirect"), error=line.get("error"), robots_txt=line.get("robots_txt"),
        links=[(url, kind) for url, kind in line.get("links", [])],
        found=_decode_found(line["found"]) if "found" in line else None,
        caused=line.get("caused", 0), caused_revisits=line.get("caused_revisits", 0),
        failures=list(line.get("failures", [])),
    )


# What a database page told the coordinator (dbpages.read_database_page): a listing, an
# API page (ids only), a record page's attachment URLs, or why it could not be read.

def _encode_found(found: Any) -> list[Any]:
    if isinstance(found, ListingResult):
        return ["listing", found.records, found.next, found.total]
    if isinstance(found, ApiResult):
        return ["api", [item_id for item_id, _ in found.items], found.next, found.total, found.skipped]
    if isinstance(found, list):
        return ["urls", found]
    if isinstance(found, dict):
        return ["error", found]
    raise TypeError(f"a worker found {type(found).__name__}, which the journal cannot hold")


def _decode_found(value: list[Any]) -> Any:
    kind, *fields = value
    if kind == "listing":
        return ListingResult(*fields)
    if kind == "api":
        ids, *rest = fields
        return ApiResult([(item_id, None) for item_id in ids], *rest)
    if kind == "urls":
        return fields[0]
    if kind == "error":
        return fields[0]
    raise ValueError(f"unknown finding {kind!r}")
