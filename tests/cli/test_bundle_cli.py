"""`refuge bundle NAME --format zim --out FILE` as an operator runs it: the ZIM it writes is
the one it reports (path, size, SHA-256), libzim opens it and finds a Khmer word in it,
and bad input gets one line on stderr, exit status 2 and no file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from libzim.reader import Archive
from libzim.search import Query, Searcher
from tiny_site import Route, serve

from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog

REFUGE = str(Path(sys.executable).with_name("refuge"))
KHMER_PAGE = ("<!doctype html><html lang='km'><head><meta charset='utf-8'><title>ដីធ្លី</title></head><body>"
              "<p>ប្រជាពលរដ្ឋបានតវ៉ាអំពីជម្លោះដីធ្លីនៅខេត្តកំពង់ស្ពឺកាលពីម្សិលមិញ។</p>"
              "<p><a href='/en.html'>English</a></p></body></html>").encode()
ENGLISH_PAGE = b"<!doctype html><title>Land</title><p>Villagers protested a land dispute.</p><a href='/'>Khmer</a>"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle-cli")
    settings = Settings(data=root / "data", allow_private_networks=True, backoff=0.05, timeout=5.0)
    engine = catalog.connect(settings.catalog_url)
    with serve({"/": Route(KHMER_PAGE), "/en.html": Route(ENGLISH_PAGE)}) as site:
        catalog.save_target(engine, make_target(site.url("/"), name="land", scope="host"))
        run_capture(settings, engine, "land")
    catalog.save_target(engine, make_target("https://never.example/", name="empty"))
    return settings.data


def run(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([REFUGE, "--data", str(data), "bundle", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "REFUGE_ALLOW_PRIVATE_NETWORKS": "true"})


def test_refuge_bundle_writes_the_zim_it_reports(data, tmp_path) -> None:
    out = tmp_path / "carry" / "land.zim"
    done = run(data, "land", "--format", "zim", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # libzim's own progress lines stay out of the JSON
    body = out.read_bytes()
    assert doc["format"] == "zim" and doc["path"] == str(out) and doc["target"] == "land"
    assert doc["size"] == len(body) and doc["sha256"] == hashlib.sha256(body).hexdigest()
    archive = Archive(out)
    assert archive.get_metadata("Language") == b"khm,eng"
    found = Searcher(archive).search(Query().set_query("ជម្លោះ"))  # inside the sentence, not a word of its own
    assert [p.rsplit("/", 1)[-1] for p in found.getResults(0, 10)] == ["index.html"]

    text = run(data, "land", "--format", "zim", "--out", str(out))
    assert text.returncode == 0, text.stderr
    assert f"as ZIM: {out}" in text.stdout and "SHA-256 " in text.stdout and "Kiwix" in text.stdout


@pytest.mark.parametrize("args, message", [
    (["nope", "--format", "zim", "--out", "{tmp}/x.zim"], "target 'nope': no such target"),
    (["empty", "--format", "zim", "--out", "{tmp}/x.zim"], "nothing captured"),
    (["land", "--format", "zim", "--out", "{tmp}/a-file/x.zim"], "is a file, not a folder"),
    (["land", "--format", "zim", "--out", "{tmp}/x.html"], "must end in .zim"),
    (["land", "--format", "car", "--out", "{tmp}/x.car"], "land"),  # no IPFS mirror to carry
])
def test_bad_input_is_one_line_exit_2_and_no_file(data, tmp_path, args, message) -> None:
    (tmp_path / "a-file").write_bytes(b"a file, not a folder")
    done = run(data, *[a.format(tmp=tmp_path) for a in args])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("refuge: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["a-file"]


def test_an_unknown_format_is_refused_by_name(data, tmp_path) -> None:
    done = run(data, "land", "--format", "epub", "--out", str(tmp_path / "x.epub"))
    assert done.returncode == 2 and "invalid choice: 'epub'" in done.stderr
