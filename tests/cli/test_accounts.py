"""`refuge user / token / audit` as an admin on the server uses them: passwords from
standard input or generated once, tokens shown once and stored hashed, every change in
the audit log."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from refuge.storage import catalog
from refuge.storage.catalog import accounts

REFUGE = str(Path(sys.executable).with_name("refuge"))


def refuge(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    env.update({"REFUGE_DATA": str(data), "REFUGE_ALLOW_PRIVATE_NETWORKS": "true"})  # targets on loopback
    return subprocess.run([REFUGE, *args], capture_output=True, text=True, timeout=60, env=env, input=stdin)


def _engine(data: Path):
    return catalog.connect(f"sqlite:///{data / 'catalog.sqlite'}")


def test_users_added_listed_changed_and_removed(tmp_path) -> None:
    data = tmp_path / "data"
    added = refuge(data, "user", "add", "sokha", "--role", "admin", stdin="a long passphrase\n")
    assert added.returncode == 0, added.stderr
    assert "password" not in added.stdout  # given, so not printed
    engine = _engine(data)
    assert accounts.authenticate(engine, "sokha", "a long passphrase")["role"] == "admin"
    assert accounts.authenticate(engine, "sokha", "another passphrase") is None

    generated = refuge(data, "user", "add", "dara", "--role", "viewer")  # empty stdin: one is made
    assert generated.returncode == 0, generated.stderr
    password = generated.stdout.split("password (shown once): ")[1].strip()
    assert len(password) >= 16 and accounts.authenticate(engine, "dara", password)["role"] == "viewer"

    listed = json.loads(refuge(data, "user", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("dara", "viewer"), ("sokha", "admin")]
    assert "hash" not in json.dumps(listed)

    changed = refuge(data, "user", "passwd", "dara", stdin="the new passphrase\n")
    assert changed.returncode == 0, changed.stderr
    assert accounts.authenticate(engine, "dara", password) is None
    assert accounts.authenticate(engine, "dara", "the new passphrase") is not None

    # The catalog holds an argon2id hash, never the password.
    with sqlite3.connect(data / "catalog.sqlite") as db:
        stored = db.execute("SELECT password_hash FROM users WHERE name='dara'").fetchone()[0]
    assert stored.startswith("$argon2id$") and "the new passphrase" not in stored

    removed = refuge(data, "user", "remove", "dara")
    assert removed.returncode == 0 and accounts.authenticate(engine, "dara", "the new passphrase") is None


def test_bad_input_is_one_line_and_exit_2(tmp_path) -> None:
    data = tmp_path / "data"
    short = refuge(data, "user", "add", "sokha", "--role", "admin", stdin="short\n")
    assert short.returncode == 2
    assert short.stderr.strip() == "refuge: error: password: must be at least 10 characters"
    bad_name = refuge(data, "user", "add", "no spaces please", "--role", "admin", stdin="a long passphrase\n")
    assert bad_name.returncode == 2 and bad_name.stderr.count("\n") == 1 and "name:" in bad_name.stderr
    refuge(data, "user", "add", "sokha", "--role", "admin", stdin="a long passphrase\n")
    again = refuge(data, "user", "add", "sokha", "--role", "viewer", stdin="a long passphrase\n")
    assert again.returncode == 2 and "exists already" in again.stderr
    assert refuge(data, "user", "remove", "nobody").returncode == 2
    assert refuge(data, "token", "revoke", "nothing").returncode == 2


def test_a_token_is_shown_once_stored_hashed_and_revocable(tmp_path) -> None:
    data = tmp_path / "data"
    made = refuge(data, "token", "create", "grafana", "--role", "viewer", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    engine = _engine(data)
    assert accounts.token_owner(engine, token) == {"name": "grafana", "role": "viewer"}

    listed = refuge(data, "token", "list")
    assert "grafana" in listed.stdout and token not in listed.stdout and token[:10] in listed.stdout
    with sqlite3.connect(data / "catalog.sqlite") as db:
        dumped = "\n".join(db.iterdump())
    assert token not in dumped  # only its SHA-256 is kept

    assert refuge(data, "token", "revoke", "grafana").returncode == 0
    assert accounts.token_owner(engine, token) is None


def test_audit_lists_every_change_with_who_and_from_where(tmp_path) -> None:
    data = tmp_path / "data"
    refuge(data, "user", "add", "sokha", "--role", "admin", stdin="a long passphrase\n")
    refuge(data, "token", "create", "ci", "--role", "archivist")
    refuge(data, "token", "revoke", "ci")
    refuge(data, "add", "http://127.0.0.1:9/", "--name", "ex")
    refuge(data, "remove", "ex")
    doc = json.loads(refuge(data, "audit", "--json").stdout)
    assert [(e["action"], e["subject"]) for e in doc] == [
        ("target.remove", "ex"), ("target.add", "ex"), ("token.revoke", "ci"), ("token.create", "ci"),
        ("user.add", "sokha")]
    assert {(e["actor"], e["source"]) for e in doc} == {("cli", "cli")}
    text = refuge(data, "audit").stdout
    assert "target.add" in text and "role=admin" in text
