"""Sealed files read from their S3 copy (storage.warc.files): the same records, byte for
byte, as from the disk, whether a record is fetched whole or streamed in ranges; and a
bucket out of reach is said to the reader as such. A real S3 server (Swift + s3api)."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import Client

from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from refuge.storage.catalog.index import capture_hits
from refuge.storage.replicate import push
from refuge.storage.warc import files as files_module
from refuge.storage.warc.files import LocalFiles, StoredFiles, Window, warc_files
from refuge.storage.warc.payloads import payload
from replica_helpers import make_capture, store_settings, use_credentials
from servers import free_port


@pytest.fixture
def in_s3(tmp_settings, s3_server, s3_bucket, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """Two captures, one of records read whole and one of records streamed, copied to S3."""
    use_credentials(monkeypatch, s3_server, tmp_path)
    settings = store_settings(tmp_settings, s3_server, s3_bucket)
    engine = catalog.connect(settings.catalog_url)
    ids = [make_capture(settings, engine, "small", records=5, payload_size=40_000).capture_id,
           make_capture(settings, engine, "big", records=2, payload_size=5_000_000, seed=2).capture_id]
    assert push(settings, engine).ok
    yield settings, engine, ids
    engine.dispose()


def every_payload(files, engine, ids) -> dict[str, tuple[bytes, str | None]]:  # type: ignore[no-untyped-def]
    return {hit.url: payload(engine, files, hit) for cid in ids for hit in capture_hits(engine, cid)}


def test_every_record_reads_the_same_from_s3_as_from_the_disk(in_s3, monkeypatch) -> None:
    settings, engine, ids = in_s3
    expected = every_payload(LocalFiles(settings.data), engine, ids)
    assert len(expected) == 7 and max(len(body) for body, _ in expected.values()) == 5_000_000
    shutil.rmtree(settings.archive_dir)  # this machine has none of the files now
    stored = warc_files(settings, engine)
    assert isinstance(stored, StoredFiles)
    gets: list[tuple[str, int, int]] = []
    read_range = stored.s3.read_range
    monkeypatch.setattr(stored.s3, "read_range", lambda key, a, b: gets.append((key, a, b)) or read_range(key, a, b))
    assert every_payload(stored, engine, ids) == expected
    assert len(gets) >= 7 and all(b - a < 5_100_000 for _, a, b in gets)  # records, not whole files
    first = len(gets)
    assert every_payload(stored, engine, ids) == expected
    # The second time the five small records come from the cache; the big ones are read again.
    assert len(gets) - first == first - 5
    # Every record streamed in ranges, not only those too big to read whole.
    monkeypatch.setattr(files_module, "WHOLE_WINDOW", 0)
    assert every_payload(warc_files(settings, engine), engine, ids) == expected


def test_a_bucket_out_of_reach_is_a_503_and_a_file_nowhere_is_named(in_s3) -> None:
    settings, engine, ids = in_s3
    hit = capture_hits(engine, ids[0])[0]
    shutil.rmtree(settings.archive_dir)
    dead = replace(settings, s3=replace(settings.s3, endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=2.0))
    page = Client(make_app(dead, engine)).get(f"/web/{hit.timestamp}id_/{hit.url}")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "cannot be reached right now" in page.get_data(as_text=True)

    with pytest.raises(files_module.Failure, match=r"not on this disk, and the catalog knows no S3 copy"):
        warc_files(settings, engine).open("archive/nowhere/x/none.warc.gz", 0, 10)


@given(data=st.binary(min_size=1, max_size=3000), start=st.integers(0, 500), reads=st.lists(
    st.tuples(st.integers(0, 3600), st.integers(1, 700)), min_size=1, max_size=8))
def test_a_window_reads_like_the_file_it_stands_for(data: bytes, start: int, reads: list[tuple[int, int]]) -> None:
    """Given bytes or fetched in ranges, a window reads what the file holds from START up to
    its end, and as the end of the file past it."""
    whole = bytes(start) + data
    end = len(whole)
    fetched: list[tuple[int, int]] = []

    def fetch(first: int, last: int):  # type: ignore[no-untyped-def]
        fetched.append((first, last))
        body = whole[first:last + 1]
        return iter([body[i:i + 97] for i in range(0, len(body), 97)])

    for raw in (Window("f", end, start, data), Window("f", end, start, end, fetch)):
        fh = io.BufferedReader(raw, buffer_size=64)
        assert fh.seek(0, 2) == end
        for pos, size in reads:
            fh.seek(pos)
            want = whole[pos:pos + size] if pos >= start else b""
            assert fh.read(size) == want
    # Sequential reads through the window are one request, not one per read.
    fh = io.BufferedReader(Window("f", end, start, end, fetch), buffer_size=64)
    fetched.clear()
    fh.seek(start)
    assert fh.read() == data and len(fetched) == 1


def test_files_no_copy_of_survived_are_forgotten_with_their_records(in_s3) -> None:
    """A capture resumed on another machine: files its first machine sealed but never
    copied to S3 are gone with that machine; the catalog must not keep pointing at them."""
    from refuge.archiver.checkpoint import forget_lost

    settings, engine, ids = in_s3
    lost = make_capture(settings, engine, "lost", records=2, payload_size=1000)  # never pushed
    shutil.rmtree(settings.archive_dir)  # the machine that held every local copy is gone
    assert len(capture_hits(engine, lost.capture_id)) == 2
    forgotten = forget_lost(settings, engine, lost.capture_id)
    assert {p.name for p in lost.warcs} <= set(forgotten)
    assert capture_hits(engine, lost.capture_id) == [] and not catalog.capture_files(engine, lost.capture_id)
    assert forget_lost(settings, engine, ids[0]) == []  # every file of this one is in S3
    assert len(capture_hits(engine, ids[0])) == 5
