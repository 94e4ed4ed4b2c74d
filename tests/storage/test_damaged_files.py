"""A WARC file cut short on disk: every reader says which file and offset, and none serves
or copies the cut record as if it were whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.test import Client

from refuge.config.settings import Settings
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from replay_helpers import ArchiveWriter

REFUGE = str(Path(sys.executable).with_name("refuge"))
SITE = "https://news.example/"
T = "20261127234147"


@pytest.fixture
def cut(tmp_path):
    """A capture of two pages whose WARC file lost its last 1,000 bytes."""
    data = tmp_path / "data"
    data.mkdir()
    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    with ArchiveWriter(settings, engine, seed=SITE) as w:
        w.response(SITE, "<html><title>ទំព័រ</title><p>first</p></html>".encode(), ts=T)
        last = w.response(SITE + "b.html", b"<html><p>" + os.urandom(100_000).hex().encode() + b"</p></html>", ts=T)
    [warc] = data.rglob("*.warc.gz")
    with open(warc, "r+b") as fh:
        fh.truncate(warc.stat().st_size - 1000)
    return settings, engine, warc, last["offset"]


def test_replay_serves_the_whole_record_and_refuses_the_cut_one_without_showing_paths(cut, caplog) -> None:
    settings, engine, warc, offset = cut
    client = Client(make_app(settings, engine))
    assert client.get(f"/web/{T}id_/{SITE}").status_code == 200
    for mod in ("", "id_"):
        page = client.get(f"/web/{T}{mod}/{SITE}b.html")
        assert page.status_code == 404 and "damaged or incomplete" in page.get_data(as_text=True)
        assert str(settings.data) not in page.get_data(as_text=True)
    assert f"{warc}: the record at offset {offset} is cut short" in caplog.text


def test_export_stops_with_the_file_and_offset_named(cut, tmp_path) -> None:
    settings, _, warc, offset = cut
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")} | {"REFUGE_DATA": str(settings.data)}
    out = subprocess.run([REFUGE, "export", "site", "--out", str(tmp_path / "out")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("refuge: failed: ") and f"{warc}: the record at offset {offset} is cut short" in line
