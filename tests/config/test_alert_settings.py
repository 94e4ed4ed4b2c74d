"""The [[alert]] and [smtp] tables: defaults, every key checked, one-line errors that name
the file and the table, and no password or webhook token in any message or repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from refuge.config.alert_settings import EVENTS, shown_webhook
from refuge.config.errors import BadInput
from refuge.config.settings import load_settings

SMTP = '[smtp]\nhost = "mail.example.org"\nfrom = "refuge@example.org"\n'


def load(tmp_path: Path, text: str, **environ: str):
    cfg = tmp_path / "refuge.toml"
    cfg.write_text(text, encoding="utf-8")
    return load_settings(cfg, environ=environ)


def error(tmp_path: Path, text: str, **environ: str) -> str:
    with pytest.raises(BadInput) as err:
        load(tmp_path, text, **environ)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_alerts_and_smtp_load_with_their_defaults(tmp_path: Path) -> None:
    s = load(tmp_path, '[[alert]]\nwebhook = "https://hooks.example.org/x?token=abc"\n\n'
                       '[[alert]]\nname = "ops"\nemail = "ops@example.org"\non = ["capture_failed", "mirror_down"]\n'
                       'failures_in_a_row = 3\nstore_unreachable_minutes = 5\n\n' + SMTP)
    hook, mail = s.alerts
    assert hook.on == EVENTS and hook.failures_in_a_row == 1 and hook.store_unreachable_minutes == 30
    assert hook.name.startswith("webhook:hooks.example.org:") and "abc" not in hook.name
    assert (mail.name, mail.email, mail.on, mail.failures_in_a_row) == ("ops", "ops@example.org",
                                                                        ("capture_failed", "mirror_down"), 3)
    assert s.smtp.host == "mail.example.org" and s.smtp.sender == "refuge@example.org"
    assert s.smtp.starttls and not s.smtp.ssl and s.smtp.effective_port == 587
    assert s.alert_seconds == 60.0
    assert load(tmp_path, "", REFUGE_ALERT_SECONDS="15").alert_seconds == 15.0
    assert load(tmp_path, "").alerts == () and load(tmp_path, "").smtp is None


def test_the_smtp_password_comes_from_the_environment_and_is_never_shown(tmp_path: Path) -> None:
    s = load(tmp_path, SMTP + 'username = "refuge"\n', REFUGE_SMTP_PASSWORD="pa55-word")
    assert s.smtp.password == "pa55-word" and s.smtp.username == "refuge"
    assert "pa55-word" not in repr(s) and "pa55-word" not in repr(s.smtp)
    # A username without a password (none in the file, none in the environment) is refused.
    assert "username and password together" in error(tmp_path, SMTP + 'username = "refuge"\n')


@pytest.mark.parametrize("text, needles", [
    ('[[alert]]\nwebhook = "https://h.example/"\n\n[[alert]]\nwebhok = "https://h.example/"\n',
     ["[[alert]] number 2", "unknown setting 'webhok'"]),
    ('[[alert]]\nwebhook = "https://h.example/"\nemail = "a@b.example"\n', ["[[alert]] number 1", "exactly one"]),
    ("[[alert]]\nname = \"x\"\n", ["[[alert]] number 1", "exactly one"]),
    ('[[alert]]\nwebhook = "https://h.example/"\non = ["capture_failed", "disk_full"]\n',
     ["[[alert]] number 1", "unknown event 'disk_full'"]),
    ('[[alert]]\nwebhook = "https://h.example/"\non = []\n', ["[[alert]] number 1", "on must be a list"]),
    ('[[alert]]\nwebhook = "https://h.example/"\nfailures_in_a_row = 0\n', ["[[alert]] number 1", "at least 1"]),
    ('[[alert]]\nwebhook = "https://h.example/"\nfailures_in_a_row = "2"\n',
     ["[[alert]] number 1", "failures_in_a_row must be a whole number"]),
    ('[[alert]]\nemail = "not an address"\n' + SMTP, ["[[alert]] number 1", "not an email address"]),
    ('[[alert]]\nemail = "ops@example.org"\n', ["[[alert]] number 1", "no [smtp] table"]),
    ('[[alert]]\nname = "a"\nwebhook = "https://h.example/"\n[[alert]]\nname = "a"\nemail = "o@e.example"\n' + SMTP,
     ["[[alert]] number 2", "named 'a'"]),
    ('alerts = []\n', ["[[alert]] tables"]),
    ('alert = "x"\n', ["[[alert]] tables"]),
    ('[smtp]\nhost = "m.example"\nfrom = "r@e.example"\nprot = 25\n', ["[smtp]", "unknown setting 'prot'"]),
    ('[smtp]\nfrom = "r@e.example"\n', ["[smtp] needs host"]),
    ('[smtp]\nhost = "m.example"\n', ["[smtp] needs from"]),
    ('[smtp]\nhost = "m.example"\nfrom = "r@e.example"\nport = "x"\n', ["smtp.port"]),
])
def test_a_bad_alert_setting_is_one_line_naming_the_file_and_table(tmp_path: Path, text: str,
                                                                     needles: list[str]) -> None:
    message = error(tmp_path, text)
    assert str(tmp_path / "refuge.toml") in message
    for needle in needles:
        assert needle in message


def test_a_bad_webhook_is_refused_without_showing_its_secrets(tmp_path: Path) -> None:
    message = error(tmp_path, '[[alert]]\nwebhook = "ftp://user:pw-secret@h.example/hooks/T0KEN?token=q-secret"\n')
    assert "[[alert]] number 1" in message and "http:// or https://" in message
    assert "pw-secret" not in message and "q-secret" not in message and "T0KEN" not in message
    assert shown_webhook("https://u:p@hooks.example:8443/services/T0/B0/XYZ?x=1") == "https://hooks.example:8443/..."


def test_a_password_in_the_environment_alone_names_what_is_missing(tmp_path: Path) -> None:
    message = error(tmp_path, "", REFUGE_SMTP_PASSWORD="pa55-word")
    assert "REFUGE_SMTP" in message and "needs host" in message and "pa55-word" not in message
