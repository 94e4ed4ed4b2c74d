"""The CDXJ writer and reader on generated rows and text (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from refusals import answered_or_refused

from refuge.config.errors import BadInput
from refuge.storage.catalog.cdxj import cdxj_line, parse_cdxj_line

_ROWS = st.fixed_dictionaries({
    "urlkey": st.text(st.characters(blacklist_characters=" \n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
                                    blacklist_categories=("Cs",)), min_size=1),
    "timestamp": st.from_regex(r"\A[0-9]{14}\Z"),
    "url": st.text(), "mime": st.text(), "status": st.one_of(st.none(), st.integers(100, 599)),
    "digest": st.text(), "length": st.integers(0, 2**40), "offset": st.integers(0, 2**40),
    "rectype": st.sampled_from(["response", "revisit"]),
})


@given(_ROWS, st.text(min_size=1))
def test_every_line_written_reads_back_as_its_row(row: dict, filename: str) -> None:
    line = cdxj_line(row, filename)
    assert line.splitlines() == [line]  # one record, one line, whatever the URL holds
    got = parse_cdxj_line(line)
    assert (got["urlkey"], got["timestamp"], got["url"], got["filename"]) == (
        row["urlkey"], row["timestamp"], row["url"], filename)
    assert got["status"] == ("-" if row["status"] is None else str(row["status"]))
    assert got["mime"] == ("warc/revisit" if row["rectype"] == "revisit" else row["mime"])
    assert (int(got["length"]), int(got["offset"])) == (row["length"], row["offset"])


@given(st.text(max_size=120))
def test_any_text_is_a_cdxj_line_or_a_one_line_error_naming_where(text: str) -> None:
    answered_or_refused(lambda: parse_cdxj_line(text, "x.cdxj line 7"), "x.cdxj line 7: ")


@pytest.mark.parametrize("line", ["", "com,example)/ 2024", "com,example)/ 20240101000000 [1]",
                                  'com,example)/ 2024010100000x {"url": "u"}', 'k 20240101000000 {"a": 1}'])
def test_lines_that_are_not_cdxj_are_refused(line: str) -> None:
    with pytest.raises(BadInput, match="^f.cdxj line 1: "):
        parse_cdxj_line(line, "f.cdxj line 1")
