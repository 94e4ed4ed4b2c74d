"""Byte ranges of archived files, as a phone's video player and PDF viewer ask for them:
one range served as 206 with exactly those bytes, past the end 416, anything else the
whole file; rewritten pages never in part."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from refuge.config.settings import Settings
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from replay_helpers import ArchiveWriter

SITE = "https://news.example/"
T = "20261127234147"
VIDEO = os.urandom(300_000)  # incompressible: the stored gzip member is as long as the payload


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Client:
    data = tmp_path_factory.mktemp("ranges") / "data"
    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    with ArchiveWriter(settings, engine, seed=SITE) as w:
        w.response(SITE + "clip.mp4", VIDEO, ts=T, headers=(("Content-Type", "video/mp4"),))
        w.response(SITE, b"<html><body><a href='/clip.mp4'>clip</a></body></html>", ts=T)
    return Client(make_app(settings, engine))


def get(client: Client, path: str, **headers: str):
    return client.get(f"/web/{T}id_/{SITE}{path}", headers=headers)


def test_the_whole_file_says_ranges_are_accepted(client) -> None:
    whole = get(client, "clip.mp4")
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    assert whole.data == VIDEO and whole.headers["Content-Length"] == str(len(VIDEO))


@pytest.mark.parametrize(("asked", "start", "stop"), [
    ("bytes=0-0", 0, 1), ("bytes=1000-1999", 1000, 2000), ("bytes=299990-", 299_990, 300_000),
    ("bytes=-500", 299_500, 300_000), ("bytes=100-999999", 100, 300_000)])
def test_one_range_is_served_as_206_with_those_bytes(client, asked: str, start: int, stop: int) -> None:
    part = get(client, "clip.mp4", Range=asked)
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(VIDEO)}"
    assert part.data == VIDEO[start:stop] and part.headers["Content-Length"] == str(stop - start)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, len(VIDEO) - 1), st.integers(1, 70_000))
def test_any_range_across_read_boundaries_is_exact(client, start: int, size: int) -> None:
    stop = min(start + size, len(VIDEO))
    part = get(client, "clip.mp4", Range=f"bytes={start}-{stop - 1}")
    assert part.status_code == 206 and part.data == VIDEO[start:stop]


def test_a_range_past_the_end_is_416_with_the_length(client) -> None:
    past = get(client, "clip.mp4", Range=f"bytes={len(VIDEO)}-")
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(VIDEO)}"
    assert past.data == b""


@pytest.mark.parametrize("headers", [{"Range": "bytes=0-1,5-6"}, {"Range": "bytes=5-2"}, {"Range": "lines=1-2"},
                                     {"Range": "bytes=0-9", "If-Range": '"some-etag"'}])
def test_anything_else_gets_the_whole_file(client, headers: dict[str, str]) -> None:
    whole = get(client, "clip.mp4", **headers)
    assert whole.status_code == 200 and whole.data == VIDEO


def test_a_rewritten_page_is_never_served_in_part(client) -> None:
    page = client.get(f"/web/{T}/{SITE}", headers={"Range": "bytes=0-9"})
    assert page.status_code == 200 and "Accept-Ranges" not in page.headers
    assert b"/web/" in page.data and len(page.data) > 10  # rewritten, whole
