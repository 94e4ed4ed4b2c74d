"""`refuge hide / unhide / hidden`: what an admin types and sees, and what is refused."""

from __future__ import annotations

import json

import pytest

from refuge.cli.main import main
from refuge.storage import catalog
from refuge.storage.catalog.events import list_events


@pytest.fixture
def refuge(tmp_settings, capsys):
    """Run `refuge --data DATA ARGS...`: (exit status, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["--data", str(tmp_settings.data), *args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_hide_list_unhide(refuge, tmp_settings) -> None:
    code, out, err = refuge("hide", "https://news.example/km/*", "--reason", "Court order 4/2026: names a witness")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "hid every URL under https://news.example/km/* (takedown 1): replay answers 451 " \
                                  "with the reason"
    assert "refuge publish NAME" in out
    code, out, _ = refuge("hide", "news.example/en/a.html", "--reason", "Protects a source", "--json")
    assert code == 0 and json.loads(out)["match"] == "exact" and json.loads(out)["id"] == 2

    code, out, _ = refuge("hidden")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["ID", "MATCH", "CREATED", "BY", "URL", "REASON"]
    assert lines[1].split()[:2] == ["2", "exact"] and lines[2].split()[:2] == ["1", "prefix"]
    assert "Court order 4/2026: names a witness" in lines[2]

    code, out, _ = refuge("unhide", "1")
    assert code == 0 and out.startswith("unhid https://news.example/km/* (takedown 1)")
    code, out, _ = refuge("hidden", "--json")
    assert [r["id"] for r in json.loads(out)] == [2]
    code, out, _ = refuge("hidden", "--all", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows[1]["removed_by"] == "cli" and rows[1]["removed_at"] and rows[2]["removed_at"] is None

    events = list_events(catalog.connect(tmp_settings.catalog_url))
    assert [(e["action"], e["actor"], e["source"], e["detail"]["id"]) for e in events] == [
        ("unhide", "cli", "cli", 1), ("hide", "cli", "cli", 2), ("hide", "cli", "cli", 1)]


@pytest.mark.parametrize(("args", "message"), [
    (["hide", "https://news.example/a.html", "--reason", ""], "refuge: error: reason: must not be empty"),
    (["hide", "https://news.example/a.html", "--reason", "   "], "refuge: error: reason: must not be empty"),
    (["hide", "ftp://news.example/a", "--reason", "r"], "refuge: error: url: 'ftp://news.example/a': only http"),
    (["hide", "https://news.example:99999/", "--reason", "r"], "refuge: error: url: 'https://news.example:99999/'"),
    (["hide", "https://news.example/a.html"], "refuge: error: the following arguments are required: --reason"),
    (["unhide", "7"], "refuge: error: id: no active takedown has id 7"),
    (["unhide", "seven"], "refuge: error: argument id: 'seven' is not a takedown id"),
])
def test_bad_input_gets_one_line_and_exit_2(refuge, tmp_settings, args, message) -> None:
    code, out, err = refuge(*args)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err
    if args[0] == "hide":  # refused before anything is written, not even a new catalog
        assert not (tmp_settings.data / "catalog.sqlite").exists()
