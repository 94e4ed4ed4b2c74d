"""Turning browser mode on through `refuge add` and the admin API: the options are kept and
shown, and bad ones are refused with a one-line error naming them (exit 2, HTTP 400)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from admin_helpers import running_admin

REFUGE = str(Path(sys.executable).with_name("refuge"))
URL = "http://127.0.0.1:9/news/"


def refuge(data: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    full_env.update({"REFUGE_DATA": str(data), "REFUGE_ALLOW_PRIVATE_NETWORKS": "true", **(env or {})})
    return subprocess.run([REFUGE, *args], capture_output=True, text=True, timeout=60, env=full_env,
                          stdin=subprocess.DEVNULL)


def test_refuge_add_browser_keeps_and_shows_the_options(tmp_path) -> None:
    added = refuge(tmp_path, "add", URL, "--name", "news", "--browser", "--scroll", "--click", "button#load-more",
                   "--click", ".pager a.next", "--max-clicks", "4")
    assert added.returncode == 0, added.stderr
    [shown] = json.loads(refuge(tmp_path, "targets", "--json").stdout)
    assert (shown["browser"], shown["scroll"], shown["click"], shown["max_clicks"]) == \
        (True, True, ["button#load-more", ".pager a.next"], 4)


@pytest.mark.parametrize("args, words", [
    (["--scroll"], "scroll: only a browser-mode target scrolls or clicks; add --browser"),
    (["--browser", "--click", "x" * 201], "must be a CSS selector of 1 to 200 characters on one line"),
    (["--browser", "--click", "button", "--max-clicks", "500"], "max-clicks 500: must be a whole number from 0 to 50"),
    (["--browser", "--max-clicks", "2"], "max-clicks: give the elements to press with --click SELECTOR"),
])
def test_refuge_add_refuses_bad_options_in_one_line(tmp_path, args, words) -> None:
    done = refuge(tmp_path, "add", URL, "--name", "news", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("refuge: error: ") and words in done.stderr and done.stderr.count("\n") == 1
    assert json.loads(refuge(tmp_path, "targets", "--json").stdout) == []


def test_refuge_add_warns_when_there_is_no_chromium(tmp_path) -> None:
    done = refuge(tmp_path, "add", URL, "--name", "news", "--browser",
                  env={"REFUGE_BROWSER_EXECUTABLE": str(tmp_path / "no-chromium")})
    assert done.returncode == 0
    assert f"warning: browser mode needs Chromium at {tmp_path / 'no-chromium'}" in done.stderr


@pytest.fixture
def admin(tmp_settings):
    with running_admin(tmp_settings.replace(processes=1, workers=2, publish_after_capture=False)) as admin:
        yield admin


def test_the_admin_api_turns_browser_mode_on_and_off(admin) -> None:
    token = admin.token("admin")
    added = admin.api("POST", "/targets", token, json={"url": URL, "name": "news", "browser": True, "scroll": True,
                                                       "click": ["button#load-more"], "max_clicks": 3})
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["browser"], body["scroll"], body["click"], body["max_clicks"]) == (True, True, ["button#load-more"], 3)
    changed = admin.api("PATCH", "/targets/news", token, json={"max_clicks": 1})
    assert changed.status_code == 200 and changed.json()["click"] == ["button#load-more"]  # the rest stays
    off = admin.api("PATCH", "/targets/news", token, json={"browser": False})
    assert off.status_code == 200, off.text
    assert (off.json()["browser"], off.json()["scroll"], off.json()["click"]) == (False, False, [])


@pytest.mark.parametrize("body, field, words", [
    ({"browser": "yes"}, "browser", "expected true or false"),
    ({"browser": True, "click": [7]}, "click", "expected a list of strings"),
    ({"browser": True, "click": ["button"], "max_clicks": 99}, "max_clicks", "must be a whole number from 0 to 50"),
    ({"scroll": True}, "scroll", "add --browser"),
    ({"browser": True, "click": ["x" * 201]}, "click", "1 to 200 characters"),
])
def test_bad_browser_fields_are_400_naming_the_field(admin, body, field, words) -> None:
    token = admin.token("admin")
    r = admin.api("POST", "/targets", token, json={"url": URL, **body})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and words in r.json()["detail"], r.json()
    assert admin.api("GET", "/targets", token).json() == []
