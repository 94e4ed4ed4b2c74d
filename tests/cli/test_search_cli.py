"""`refuge search` as a person and a script use it: a capture of the fixture site searched in
Khmer, the JSON for scripts, one-line errors with exit status 2, and `--reindex`."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from search_corpus import LAND_GRAB, html, write_warc

REFUGE = str(Path(sys.executable).with_name("refuge"))
PRIVATE_OK = {"REFUGE_ALLOW_PRIVATE_NETWORKS": "true"}


def refuge(data: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    full_env.update({"REFUGE_DATA": str(data), "REFUGE_BACKOFF": "0.05", "REFUGE_TIMEOUT": "5", **(env or {})})
    return subprocess.run([REFUGE, *args], capture_output=True, text=True, timeout=120, env=full_env,
                          stdin=subprocess.DEVNULL)


def test_a_capture_is_searched_in_khmer_from_the_command_line(tmp_path, fixture_site) -> None:
    data = tmp_path / "data"
    assert refuge(data, "add", fixture_site.abs("/km/"), "--name", "km", "--max-pages", "20",
                  env=PRIVATE_OK).returncode == 0
    captured = refuge(data, "capture", "km", "--json", env=PRIVATE_OK)
    assert captured.returncode == 0, captured.stderr

    found = refuge(data, "search", "អ៊ីនធឺណិត")  # "internet", inside a sentence of article 1
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "1 page(s) found for អ៊ីនធឺណិត; page 1 of 1"
    assert lines[2] == "1. សេរីភាពសារព័ត៌មាននៅកម្ពុជា"
    url = fixture_site.abs("/km/article-1.html")
    replay, about, snippet = lines[3].strip(), lines[4].strip(), lines[5].strip()
    assert replay.startswith("http://127.0.0.1:8080/web/") and replay.endswith("/" + url)
    ts = replay.split("/web/")[1].split("/")[0]
    assert len(ts) == 14 and about == f"km · {ts[:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]} UTC · km"
    assert "សេវា[អ៊ីនធឺណិត]នៅកម្ពុជា" in snippet

    doc = json.loads(refuge(data, "search", "អ៊ីនធឺណិត", "--json").stdout)
    assert (doc["query"], doc["total"], doc["page"], doc["page_size"]) == ("អ៊ីនធឺណិត", 1, 1, 20)
    hit = doc["hits"][0]
    assert (hit["target"], hit["url"], hit["timestamp"], hit["lang"]) == ("km", url, ts, "km")
    assert hit["replay_url"] == replay and ["អ៊ីនធឺណិត", True] in hit["snippet"]

    today = datetime.date.today()
    assert json.loads(refuge(data, "search", "អ៊ីនធឺណិត", "--target", "km", "--since", str(today), "--until",
                             str(today + datetime.timedelta(days=1)), "--json").stdout)["total"] == 1
    after = refuge(data, "search", "អ៊ីនធឺណិត", "--since", str(today + datetime.timedelta(days=2)))
    assert after.returncode == 0 and after.stdout == "no page found for អ៊ីនធឺណិត\n"


@pytest.mark.parametrize(("args", "message"), [
    (["search", ""], "The search is empty: type a word to look for."),
    (["search", "ក" * 201], "The search is too long: at most 200 characters, this one has 201."),
    (["search", "a1 a2 a3 a4 a5 a6 a7 a8 a9"], "Too many words: at most 8 in one search, this one has 9."),
    (["search", "ដី"], "Every word of this search is shorter than 3 characters"),
    (["search"], "give a QUERY to search for (or --reindex to rebuild the index)"),
    (["search", "word", "--since", "2024-13-01"], "argument --since: '2024-13-01' is not a date (YYYY-MM-DD)"),
    (["search", "word", "--page", "0"], "argument --page: '0' is not a page number"),
    (["search", "word", "--reindex"], "--reindex rebuilds the index: give it a target's NAME, not a QUERY"),
])
def test_what_cannot_be_searched_is_one_line_and_exit_2(tmp_path, args, message) -> None:
    data = tmp_path / "data"
    done = refuge(data, *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("refuge: error: ") and message in done.stderr and done.stderr.count("\n") == 1
    assert not (data / "catalog.sqlite").exists()  # nothing was made for a query that cannot run


def test_reindex_and_what_a_page_cannot_print(tmp_path) -> None:
    data = tmp_path / "data"
    page = html("Fake \x1b[2J title \u202e", f"<p>{LAND_GRAB} \x1b[31mred\x1b[0m \x07bell</p>", "en")
    warc = write_warc(tmp_path / "a.warc.gz", "2023-01-02T03:04:05Z", {"https://x.example/a.html": page})
    assert refuge(data, "import", "imported", str(warc)).returncode == 0

    found = refuge(data, "search", LAND_GRAB)
    assert found.returncode == 0 and "[ការរំលោភយកដីធ្លី] [31mred[0m bell" in found.stdout
    assert not any(c in found.stdout for c in "\x1b\x07\u202e")
    assert "https://x.example/a.html" in found.stdout and "imported · 2023-01-02 03:04 UTC · en" in found.stdout

    rebuilt = refuge(data, "search", "--reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("reindexed 1 target(s): 1 pages of 1 capture(s), 1 in the index")
    doc = json.loads(refuge(data, "search", "--reindex", "imported", "--json").stdout)
    assert (doc["targets"], doc["captures"], doc["pages"], doc["rows"], doc["warning"]) == (1, 1, 1, 1, None)
    unknown = refuge(data, "search", "--reindex", "nope")
    assert unknown.returncode == 2 and "target 'nope': no such target" in unknown.stderr
    assert refuge(data, "search", LAND_GRAB, "--target", "nope").stderr == \
        "refuge: error: There is no target named 'nope'.\n"
