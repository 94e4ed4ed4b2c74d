"""The catalog's record of mirrors and checks, the mirror list's routes before anything is
published, and the vantage settings: no server needed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.test import Client

from refuge.config.errors import BadInput
from refuge.config.settings import Vantage, load_settings
from refuge.config.targets import make_target
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from refuge.storage.catalog import mirrors
from refuge.storage.catalog.mirrors import Published


@dataclass
class _Result:
    mirror_id: int
    vantage: str
    status: str
    detail: str
    seconds: float = 0.1
    checked_at: str = "2026-11-28T04:00:00Z"


def _target_with_capture(engine):
    target, _ = catalog.save_target(engine, make_target("https://example.org/", name="site"))
    capture = catalog.start_capture(engine, target, 600)
    catalog.finish_capture(engine, capture, "complete", {})
    return target, capture


def test_a_check_that_raced_a_republish_does_not_mark_the_new_content(tmp_settings) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    target, capture = _target_with_capture(engine)
    url = "https://bucket.example/mirrors/site/index.html"
    [mid] = mirrors.record_publish(engine, target.id, capture, "a" * 64, "s3",
                                   [Published("s3", "bucket", url, "sha256:" + "a" * 64)], {"index.html": "1" * 64})
    mirrors.record_checks(engine, [_Result(mid, "direct", "up", "ok: 1 files match")], {mid: "a" * 64})
    assert mirrors.active(engine)[0]["status"] == "up"
    # Republished with new content while a check of the old content was running:
    mirrors.record_publish(engine, target.id, capture, "b" * 64, "s3",
                           [Published("s3", "bucket", url, "sha256:" + "b" * 64)], {"index.html": "2" * 64})
    mirrors.record_checks(engine, [_Result(mid, "direct", "down", "index.html: content differs")], {mid: "a" * 64})
    row = mirrors.active(engine)[0]
    assert row["status"] == "unknown" and row["expected"] == {"index.html": "2" * 64}
    assert [h["status"] for h in mirrors.history(engine)] == ["down", "up"]  # the history keeps both


def test_a_mirror_is_down_when_any_vantage_fails_and_urls_no_longer_current_retire(tmp_settings) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    target, capture = _target_with_capture(engine)
    old = mirrors.record_publish(engine, target.id, capture, "a" * 64, "ipfs",
                                 [Published("ipfs", "path", "https://gw/ipfs/bafyold/", "bafyold")], {})
    new = mirrors.record_publish(engine, target.id, capture, "b" * 64, "ipfs",
                                 [Published("ipfs", "path", "https://gw/ipfs/bafynew/", "bafynew")], {})
    assert [r["url"] for r in mirrors.active(engine)] == ["https://gw/ipfs/bafynew/"] and old != new
    mirrors.record_checks(engine, [_Result(new[0], "direct", "up", "ok"),
                                   _Result(new[0], "kh-metfone", "down", "timeout after 10 s")], {new[0]: "b" * 64})
    row = mirrors.active(engine)[0]
    assert row["status"] == "down" and row["detail"] == "kh-metfone: timeout after 10 s"
    assert mirrors.latest_by_vantage(engine, [new[0]]) == {new[0]: {"direct": "up", "kh-metfone": "down"}}
    assert mirrors.counts_by_target(engine) == {target.id: {"up": 0, "down": 1, "unknown": 0}}


def test_the_replay_server_has_no_list_before_a_publish_and_makes_no_key(tmp_settings) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    client = Client(make_app(tmp_settings, engine))
    for path in ("/mirrors", "/mirrors.json", "/mirrors.json.minisig", "/refuge.pub"):
        resp = client.get(path)
        assert resp.status_code == 404 and b"No mirror published yet" in resp.data, path
    assert not (tmp_settings.data / "keys").exists()


@pytest.mark.parametrize("table, message", [
    ('[[vantage]]\nname = "kh"\nproxy = "socks5://127.0.0.1:1080"\n', "socks5h"),
    ('[[vantage]]\nname = "kh"\nproxy = "ftp://127.0.0.1"\n', "proxy must be"),
    ('[[vantage]]\nname = "kh"\n[[vantage]]\nname = "kh"\n', "a name of its own"),
    ('[[vantage]]\nname = "kh"\nport = 3\n', "unknown setting 'port'"),
    ('vantages = ["kh"]\n', "[[vantage]] tables"),
])
def test_bad_vantage_settings_are_refused_with_the_key_named(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "refuge.toml"
    config.write_text(table)
    with pytest.raises(BadInput, match="vantage|proxy") as err:
        load_settings(config, environ={})
    assert message in str(err.value) and str(config) in str(err.value)


def test_a_bad_vantage_proxy_is_shown_without_its_password(tmp_path: Path) -> None:
    config = tmp_path / "refuge.toml"
    config.write_text('[[vantage]]\nname = "kh"\nproxy = "socks5://ops:hunter2-secret@127.0.0.1:1080"\n')
    with pytest.raises(BadInput, match="proxy must be") as err:
        load_settings(config, environ={})
    assert "hunter2" not in str(err.value) and "'socks5://ops:***@127.0.0.1:1080'" in str(err.value)


def test_vantages_load_from_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "refuge.toml"
    config.write_text('check_every = "30m"\n[[vantage]]\nname = "kh-metfone"\nproxy = "socks5h://127.0.0.1:1080"\n'
                      '[[vantage]]\nname = "direct"\n')
    settings = load_settings(config, environ={})
    assert settings.vantages == (Vantage("kh-metfone", "socks5h://127.0.0.1:1080"), Vantage("direct", None))
    assert settings.check_every == "30m"
