"""`refuge wacz`, `refuge verify FILE.wacz` and `refuge key` as an archivist runs them, and
Webrecorder's own `wacz validate` and ReplayWeb.page on the same packages."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from guarded_browser import guarded_context
from playwright.sync_api import Error as PlaywrightError
from replaywebpage import open_viewer, serve_viewer
from wacz_helpers import capture_twice, flip_byte_in_member, rezip

REFUGE = str(Path(sys.executable).with_name("refuge"))
WACZ = str(Path(sys.executable).with_name("wacz"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("wacz-cli")
    captured = capture_twice(root / "data")
    data = str(captured["settings"].data)
    done = run(REFUGE, "--data", data, "wacz", "news", "--out", str(root / "news.wacz"), "--json")
    assert done.returncode == 0, done.stderr
    return {"root": root, "data": data, "doc": json.loads(done.stdout), "path": root / "news.wacz", **captured}


def test_refuge_wacz_packages_the_newest_capture_and_says_how_to_check_it(made) -> None:
    doc = made["doc"]
    assert doc["capture"] == made["second"] and doc["out"] == str(made["path"]) and doc["originals"] > 0
    assert doc["bytes"] == made["path"].stat().st_size and doc["fingerprint"].startswith("sha256:")
    text = run(REFUGE, "--data", made["data"], "wacz", "news", "--capture", made["first"],
               "--out", str(made["root"] / "first.wacz"))
    assert text.returncode == 0 and f"packaged capture {made['first']} of news" in text.stdout
    assert "refuge verify" in text.stdout and "wacz validate" in text.stdout


def test_wacz_validate_and_refuge_verify_accept_the_package(made) -> None:
    validated = run(WACZ, "validate", "-f", str(made["path"]))
    assert validated.returncode == 0 and "Validation succeeded" in validated.stdout, validated.stdout
    verified = run(REFUGE, "--data", made["data"], "verify", str(made["path"]))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: every file's SHA-256 and size" in verified.stdout
    assert f"signed by {made['doc']['fingerprint']} (this archive's own WACZ key)" in verified.stdout
    doc = json.loads(run(REFUGE, "--data", made["data"], "verify", str(made["path"]), "--json").stdout)
    assert doc["ok"] and doc["signature_ok"] and doc["own_key"] and doc["public_key"] == made["doc"]["public_key"]


def _replayed_frame(page, url: str, text: str, said: list[str], timeout: float = 60.0):
    """The viewer's frame replaying URL and showing TEXT (the viewer nests its frames in
    shadow roots; Playwright lists every frame of the page)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame.url.endswith(f"mp_/{url}"):
                try:
                    if text in frame.inner_text("body", timeout=500):
                        return frame
                except PlaywrightError:  # a frame navigating away mid-read
                    pass
        page.wait_for_timeout(250)
    raise AssertionError(f"no replayed frame shows {text!r}; frames: {[f.url for f in page.frames]}; "
                         f"the viewer said: {said}")


def test_the_package_opens_in_replaywebpage(made, browser, tmp_path) -> None:
    """The newest capture is mostly revisits of the first: the viewer must find the
    originals in the same package, read it by byte ranges, and replay the page, its images
    and a link to the Khmer edition without a request leaving the package's server."""
    with serve_viewer(made["path"], made["seed"], tmp_path / "viewer") as (url, ranges):
        with guarded_context(browser, url.rsplit("/", 1)[0] + "/") as (context, elsewhere):  # only the viewer
            page = context.new_page()
            said: list[str] = []  # what the viewer logged, for a failure's message
            page.on("console", lambda m: said.append(f"{m.type}: {m.text[:200]}"))
            context.on("requestfailed", lambda r: said.append(f"failed: {r.url[:120]} {r.failure}"))
            open_viewer(page, url)
            frame = _replayed_frame(page, made["seed"], "Regulator orders ISPs to block independent news sites", said)
            frame.wait_for_function("[...document.images].every(i => i.complete)", timeout=30_000)
            images = frame.eval_on_selector_all("img", "els => els.map(i => [i.src, i.naturalWidth])")
            assert images and all(width > 0 for _, width in images), images  # the CDN's image too
            frame.click("a[href$='/km/']")
            _replayed_frame(page, made["seed"] + "km/", "សេរីភាពសារព័ត៌មាននៅកម្ពុជា", said)
    assert elsewhere == []
    assert any(path.endswith(made["path"].name) for path, _, _ in ranges)  # read by ranges, not whole


def _first_warc(path: Path) -> str:
    return next(n for n in zipfile.ZipFile(path).namelist() if n.startswith("archive/"))


def test_a_flipped_byte_in_a_warc_file_is_refused_by_both_naming_it(made, tmp_path) -> None:
    damaged = tmp_path / "damaged.wacz"
    damaged.write_bytes(made["path"].read_bytes())
    name = _first_warc(damaged)
    flip_byte_in_member(damaged, name)
    validated = run(WACZ, "validate", "-f", str(damaged))
    assert validated.returncode != 0 and name in validated.stdout + validated.stderr
    verified = run(REFUGE, "--data", made["data"], "verify", str(damaged))
    assert verified.returncode == 1 and "problem(s)" in verified.stdout
    assert all(line.strip().startswith(name) for line in verified.stdout.splitlines()[1:])


def test_a_changed_datapackage_is_refused_by_both(made, tmp_path) -> None:
    flipped = tmp_path / "flipped.wacz"
    flipped.write_bytes(made["path"].read_bytes())
    flip_byte_in_member(flipped, "datapackage.json")  # bit rot in a deflated member
    assert run(WACZ, "validate", "-f", str(flipped)).returncode != 0
    verified = run(REFUGE, "--data", made["data"], "verify", str(flipped))
    assert verified.returncode == 1 and "  datapackage.json: " in verified.stdout
    edited = tmp_path / "edited.wacz"  # tampering: the zip rewritten whole around the change
    rezip(made["path"], edited,
          lambda n, d: d.replace(b'"title": "news', b'"title": "nevs') if n == "datapackage.json" else d)
    validated = run(WACZ, "validate", "-f", str(edited))
    assert validated.returncode != 0 and "datapackage.json hash mismatch" in validated.stdout
    verified = run(REFUGE, "--data", made["data"], "verify", str(edited))
    assert verified.returncode == 1 and "datapackage-digest.json: its hash is not datapackage.json's" in verified.stdout


def test_verify_of_a_package_refuses_what_does_not_apply(made) -> None:
    missing = run(REFUGE, "--data", made["data"], "verify", str(made["root"] / "nothere.wacz"))
    assert missing.returncode == 2 and missing.stderr.strip() == \
        f"refuge: error: {made['root'] / 'nothere.wacz'}: no such WACZ package"
    repair = run(REFUGE, "--data", made["data"], "verify", str(made["path"]), "--repair")
    assert repair.returncode == 2 and "not a WACZ package" in repair.stderr
    # A capture id still means the capture.
    assert run(REFUGE, "--data", made["data"], "verify", made["first"]).returncode == 0


def test_bad_input_gets_one_line_and_status_2(made) -> None:
    for args, says in [(("news", "--out", str(made["root"] / "x.zip")), "must end in .wacz"),
                       (("nosuch", "--out", str(made["root"] / "x.wacz")), "nosuch"),
                       (("news", "--capture", "nope", "--out", str(made["root"] / "x.wacz")), "--capture nope")]:
        done = run(REFUGE, "--data", made["data"], "wacz", *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert not (made["root"] / "x.wacz").exists() and not list(made["root"].glob(".x.wacz*"))


def test_refuge_key_shows_the_wacz_key_beside_the_mirror_list_key(made) -> None:
    keys = Path(made["data"]) / "keys"
    plain = run(REFUGE, "--data", made["data"], "key")
    assert plain.returncode == 0 and plain.stdout == (keys / "mirrors.pub").read_text()  # still minisign's file
    pem = run(REFUGE, "--data", made["data"], "key", "--wacz")
    assert pem.returncode == 0 and pem.stdout == (keys / "wacz.pub").read_text()
    assert pem.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    doc = json.loads(run(REFUGE, "--data", made["data"], "key", "--json").stdout)
    assert doc["wacz"]["public_key"] == made["doc"]["public_key"] and doc["wacz"]["file"] == pem.stdout
    assert doc["wacz"]["algorithm"] == "ECDSA P-384, SHA-256" and doc["public_key"] in plain.stdout
