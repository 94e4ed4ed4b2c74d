"""The frontier journal holds every outcome a resumed crawl needs, and a torn tail is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from refuge.archiver.journal import Journal, decode, encode, read_journal
from refuge.archiver.worker import Outcome, Task
from refuge.formats.dbextract import ApiResult, ListingResult

OUTCOMES = [
    Outcome(Task("https://kh.example/", "page", seed=True), status=200, recorded="response",
            links=[("https://kh.example/km/ព័ត៌មាន", "page"), ("https://cdn.example/a.css", "requisite")]),
    Outcome(Task("https://kh.example/old", "page", 1), status=301, recorded="response",
            redirect="https://kh.example/new"),
    Outcome(Task("https://kh.example/robots.txt", "robots"), status=200, recorded="response",
            robots_txt="User-agent: *\nDisallow: /private/\n"),
    Outcome(Task("https://kh.example/gone", "requisite", 2, chain=1), error="network error after 4 attempts"),
    Outcome(Task("https://kh.example/list?page=2", "listing", page=2), status=200, recorded="response",
            found=ListingResult(["https://kh.example/doc/1", "https://kh.example/doc/2"], None, 40)),
    Outcome(Task("https://kh.example/api?page=1", "api", page=1), status=200, recorded="revisit",
            found=ApiResult([("7", None), ("8", None)], "https://kh.example/api?page=2", None, 1)),
    Outcome(Task("https://kh.example/doc/1?lang=km", "record", record="1", lang="km"), status=200,
            recorded="response", found=["https://kh.example/files/1.pdf"]),
    Outcome(Task("https://kh.example/doc/2", "record", record="2", lang="en"), status=200, recorded="response",
            found={"error": "cannot decode Content-Encoding 'zstd'"}),
]


@pytest.mark.parametrize("out", OUTCOMES, ids=lambda o: o.task.role)
def test_every_kind_of_outcome_reads_back_as_it_was_handled(out: Outcome) -> None:
    line = encode(out, out.links)
    assert "\n" not in line
    assert decode(line) == out


def test_a_line_torn_by_a_kill_ends_the_journal_there(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    for out in OUTCOMES[:3]:
        journal.write(out, out.links)
    journal.close()
    whole = path.read_bytes()
    path.write_bytes(whole + encode(OUTCOMES[3], []).encode()[:25])
    assert list(read_journal(path)) == OUTCOMES[:3]
    assert list(read_journal(tmp_path / "none.jsonl")) == []


def test_lines_appended_after_a_torn_one_are_read_back(tmp_path: Path) -> None:
    """A resumed run appends to the journal a killed run tore: the fragment is cut first,
    so the new lines do not vanish with it at the next resume."""
    path = tmp_path / "journal.jsonl"
    path.write_bytes((encode(OUTCOMES[0], OUTCOMES[0].links) + "\n").encode() + encode(OUTCOMES[1], []).encode()[:30])
    journal = Journal(path)
    for out in OUTCOMES[2:5]:
        journal.write(out, out.links)
    journal.close()
    assert list(read_journal(path)) == [OUTCOMES[0], *OUTCOMES[2:5]]


def test_where_an_earlier_record_lies_is_not_journaled() -> None:
    from dataclasses import replace

    out = replace(OUTCOMES[0], task=replace(OUTCOMES[0].task, archived=("/data/x.warc.gz", 10, 20)))
    assert decode(encode(out, out.links)).task.archived is None
