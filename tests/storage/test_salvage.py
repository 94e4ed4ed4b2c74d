"""Salvaging the WARC file a killed capture left open: whole records kept, nothing torn served.

The file is written by the capture's own writer (replay_helpers.ArchiveWriter) and left
unsealed, as SIGKILL leaves it; copies cut at every interesting byte stand for the
moments the process could have died.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from refuge.storage import catalog
from refuge.storage.catalog import index
from refuge.storage.warc import sealed
from replay_helpers import ArchiveWriter

PAGES = [f"https://news.example/p/{i}.html" for i in range(5)]


@pytest.fixture
def left_open(tmp_settings):
    """An unsealed WARC file of five responses and a revisit, and the byte offset where
    each response ends."""
    engine = catalog.connect(tmp_settings.catalog_url)
    writer = ArchiveWriter(tmp_settings, engine)
    rows = [writer.response(url, f"<p>ទំព័រ {i}</p>".encode() * 50) for i, url in enumerate(PAGES)]
    rows.append(writer.revisit("https://news.example/again.html", rows[0], ts="20261127234150"))
    [path] = (tmp_settings.archive_dir / "site" / writer.capture_id).glob("*.warc.gz.open")
    ends = [r["offset"] + r["length"] for r in rows]
    return tmp_settings, engine, writer.capture_id, path, ends


def _cut_copy(path: Path, size: int, where: Path) -> Path:
    copy = where / path.name
    copy.write_bytes(path.read_bytes()[:size])
    return copy


def _whole_records(path: Path) -> list[tuple[str, str | None]]:
    """(type, URL) of every record, each with its digests checked, as `warcio check` reads them."""
    out = []
    with open(path, "rb") as fh:
        records = ArchiveIterator(fh, check_digests=True)
        for record in records:
            records.read_to_end(record)
            assert record.digest_checker.passed is not False, record.digest_checker.problems
            out.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI")))
    return out


def test_a_file_cut_anywhere_keeps_exactly_the_responses_written_whole(left_open, tmp_path) -> None:
    _, _, _, path, ends = left_open
    size = path.stat().st_size
    assert size == ends[-1], "the writer flushes each record as it ends"
    cuts = range(1, size + 1, 3)  # every third byte: a cut inside WARC headers fails warcio otherwise
    for cut in cuts:
        if cut > size:
            continue
        folder = tmp_path / str(cut)
        folder.mkdir()
        sealed_path = sealed.salvage(_cut_copy(path, cut, folder))
        whole = [end for end in ends if end <= cut]
        if not whole:
            assert sealed_path is None, cut
            continue
        assert sealed_path is not None and sealed_path.stat().st_size == whole[-1], cut
        kept = [url for kind, url in _whole_records(sealed_path) if kind in ("response", "revisit")]
        assert kept == (PAGES + ["https://news.example/again.html"])[:len(whole)], cut
        assert not list(folder.glob("*.open"))


def test_a_record_whose_bytes_changed_ends_what_is_kept(left_open, tmp_path) -> None:
    _, _, _, path, ends = left_open
    data = bytearray(path.read_bytes())
    data[ends[2] - 30] ^= 0x55  # inside the gzip member of the third response
    damaged = tmp_path / path.name
    damaged.write_bytes(bytes(data))
    sealed_path = sealed.salvage(damaged)
    assert sealed_path is not None and sealed_path.stat().st_size == ends[1]
    assert [url for kind, url in _whole_records(sealed_path) if kind == "response"] == PAGES[:2]


def test_recover_seals_and_indexes_the_killed_captures_file_so_its_pages_replay(left_open) -> None:
    settings, engine, capture_id, path, ends = left_open
    with open(path, "r+b") as fh:
        fh.truncate(ends[3] + 25)  # the kill came while the fifth response was being written
    catalog.finish_capture(engine, capture_id, "interrupted", {})  # as the reaper marks a dead capture
    # The pass over the whole archive at service start leaves an interrupted capture to
    # whoever resumes it (another process may be doing so now)...
    assert sealed.recover(engine, settings.data, settings.archive_dir) == {"incomplete": [], "indexed": [],
                                                                           "salvaged": [], "damaged": []}
    # ...which is the next capture of its target, holding the target.
    report = sealed.recover(engine, settings.data, settings.archive_dir, "site")
    sealed_path = path.with_name(path.name.removesuffix(".open"))
    assert report["salvaged"] == [str(sealed_path)] and report["indexed"] == [str(sealed_path)]
    hits = index.capture_hits(engine, capture_id)
    assert [h.url for h in hits] == PAGES[:4] and {h.filename for h in hits} == {sealed_path.name}
    assert sealed_path.with_name(sealed_path.name.replace(".warc.gz", ".cdxj")).exists()


def test_a_file_with_no_whole_response_is_set_aside_not_served(left_open) -> None:
    settings, engine, capture_id, path, ends = left_open
    with open(path, "r+b") as fh:
        fh.truncate(ends[0] - 1)
    catalog.finish_capture(engine, capture_id, "interrupted", {})
    report = sealed.recover(engine, settings.data, settings.archive_dir, "site")
    assert len(report["incomplete"]) == 1 and report["indexed"] == []
    assert index.capture_hits(engine, capture_id) == []
