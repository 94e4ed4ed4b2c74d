"""Settings of alerts: the `[[alert]]` tables and the `[smtp]` table of refuge.toml.

Contract:
- each `[[alert]]` has exactly one channel, `webhook = "https://..."` (a JSON POST) or
  `email = "ops@example.org"` (sent through `[smtp]`), and may name the events it wants
  (`on`, default all of EVENTS), how many failed captures in a row make a capture alert
  (`failures_in_a_row`, default 1) and how long a store must stay unreachable before it
  alerts (`store_unreachable_minutes`, default 30);
- every key is checked when the settings load; a mistake is one BadInput line naming the
  file and the table (`[[alert]] number 2`, `[smtp]`) and key;
- the SMTP password may come from REFUGE_SMTP_PASSWORD (every `[smtp]` key has its
  REFUGE_SMTP_* variable, as the stores' keys have theirs); it is never shown: not in a
  repr, not in an error. A webhook URL is shown only as `shown_webhook` makes it (scheme,
  host and port), since its path or query is often the secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from refuge.config.errors import BadInput

EVENTS = ("capture_failed", "snapshot_incomplete", "fixity_damage", "mirror_down", "store_unreachable")


@dataclass(frozen=True)
class Alert:
    """One `[[alert]]`: where to send (webhook or email) and what about."""

    name: str  # shown in logs and `refuge alerts`; part of each alert state's key
    webhook: str = ""
    email: str = ""
    on: tuple[str, ...] = EVENTS
    failures_in_a_row: int = 1
    store_unreachable_minutes: float = 30.0
    timeout: float = 10.0  # seconds a webhook may take to connect and then to answer, per try

    @property
    def channel(self) -> str:
        """The destination fit for a log line: the address, or the webhook's origin."""
        return f"email {self.email}" if self.email else f"webhook {shown_webhook(self.webhook)}"


@dataclass(frozen=True)
class SmtpSettings:
    """The `[smtp]` table: the mail server email alerts go through."""

    host: str = ""
    port: int = 0  # 0: 465 with ssl, else 587 with starttls, else 25
    sender: str = ""  # the `from` key: the From address
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = True  # upgrade a plain connection to TLS (refused if the server cannot)
    ssl: bool = False  # TLS from the first byte (port 465); starttls is then moot
    timeout: float = 30.0

    @property
    def effective_port(self) -> int:
        return self.port or (465 if self.ssl else 587 if self.starttls else 25)


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_ALERT_KEYS = {"name", "webhook", "email", "on", "failures_in_a_row", "store_unreachable_minutes", "timeout"}
_SMTP_KEYS = {"host": "host", "port": "port", "from": "sender", "username": "username", "password": "password",
              "starttls": "starttls", "ssl": "ssl", "timeout": "timeout"}


def shown_webhook(url: str) -> str:
    """URL with everything that may be a secret left out: only scheme, host and port remain
    (user info, path, query and fragment become "/...")."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a malformed URL)"
    rest = "/..." if (parts.path not in ("", "/") or parts.query or parts.fragment) else "/"
    return f"{parts.scheme}://{host}{port}{rest}"


def alert_tables(raw: Any, where: str) -> tuple[Alert, ...]:
    """The `[[alert]]` tables of the settings file at WHERE, every key checked."""
    if not isinstance(raw, list) or not all(isinstance(t, Mapping) for t in raw):
        raise BadInput(f"{where}: alerts are [[alert]] tables, each with webhook or email")
    found: list[Alert] = []
    for number, table in enumerate(raw, 1):
        alert = _alert(table, f"{where}: [[alert]] number {number}")
        if alert.name in {a.name for a in found}:
            raise BadInput(f"{where}: [[alert]] number {number}: another alert is named {alert.name!r} "
                           "(give each a name of its own)")
        found.append(alert)
    return tuple(found)


def _alert(table: Mapping[str, Any], where: str) -> Alert:
    unknown = sorted(set(table) - _ALERT_KEYS)
    if unknown:
        raise BadInput(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(_ALERT_KEYS))})")
    webhook, email = _text(table, "webhook", where), _text(table, "email", where)
    if bool(webhook) == bool(email):
        raise BadInput(f"{where}: give exactly one of webhook = URL or email = ADDRESS")
    if webhook:
        _check_webhook(webhook, where)
    if email:
        _check_address(email, f"{where}: email")
    on = table.get("on", list(EVENTS))
    if not isinstance(on, list) or not on or not all(isinstance(e, str) for e in on):
        raise BadInput(f"{where}: on must be a list of events, some of {', '.join(EVENTS)}")
    for event in on:
        if event not in EVENTS:
            raise BadInput(f"{where}: on: unknown event {event!r} (known: {', '.join(EVENTS)})")
    in_a_row = _number(table, "failures_in_a_row", 1, where, whole=True)
    minutes = _number(table, "store_unreachable_minutes", 30.0, where)
    timeout = _number(table, "timeout", 10.0, where)
    if in_a_row < 1 or minutes < 0 or timeout <= 0:
        raise BadInput(f"{where}: failures_in_a_row must be at least 1, store_unreachable_minutes not negative "
                       f"and timeout more than 0 (got {in_a_row}, {minutes}, {timeout})")
    name = _text(table, "name", where) or _default_name(webhook, email)
    return Alert(name=name, webhook=webhook, email=email, on=tuple(dict.fromkeys(on)),
                 failures_in_a_row=int(in_a_row), store_unreachable_minutes=float(minutes), timeout=float(timeout))


def _default_name(webhook: str, email: str) -> str:
    if email:
        return f"email:{email}"
    # The host and a digest of the whole URL: stable while the URL is, and no secret in it.
    digest = hashlib.sha256(webhook.encode()).hexdigest()[:8]
    return f"webhook:{urlsplit(webhook).hostname}:{digest}"


def _check_webhook(url: str, where: str) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        ok = False
    if not ok:
        raise BadInput(f"{where}: webhook must be an http:// or https:// URL, got {shown_webhook(url)!r}")


def _check_address(address: str, where: str) -> None:
    # A line break in an address would add mail headers: refused with anything unusual.
    local, at, domain = address.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c in "<>,;\"" for c in address):
        raise BadInput(f"{where}: {address!r} is not an email address")


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise BadInput(f"{where}: {key} must be a string")
    return value.strip()


def _number(table: Mapping[str, Any], key: str, default: float, where: str, whole: bool = False) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise BadInput(f"{where}: {key} must be a {'whole ' if whole else ''}number, got {value!r}")
    return value


def smtp_table(raw: Any, where: str) -> SmtpSettings:
    """The `[smtp]` table of the settings file at WHERE, every key checked."""
    if not isinstance(raw, Mapping):
        raise BadInput(f"{where}: [smtp] must be a table")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _SMTP_KEYS:
            raise BadInput(f"{where}: unknown setting {key!r} in [smtp] (known: {', '.join(_SMTP_KEYS)})")
        values[_SMTP_KEYS[key]] = _smtp_value(_SMTP_KEYS[key], value, f"{where}: setting smtp.{key}")
    return _checked_smtp(SmtpSettings(**values), where)


def smtp_from_environ(environ: Mapping[str, str], base: SmtpSettings | None) -> SmtpSettings | None:
    """REFUGE_SMTP_HOST, REFUGE_SMTP_PASSWORD ... applied on top of BASE (which may be unset)."""
    values: dict[str, Any] = {}
    for key, name in _SMTP_KEYS.items():
        var = f"REFUGE_SMTP_{key.upper()}"
        if environ.get(var):
            values[name] = _smtp_value(name, environ[var], f"environment variable {var}")
    if not values:
        return base
    current = {f.name: getattr(base, f.name) for f in fields(SmtpSettings)} if base else {}
    return _checked_smtp(SmtpSettings(**{**current, **values}), "environment (REFUGE_SMTP_*)")


def _smtp_value(name: str, raw: Any, where: str) -> Any:
    kind = {f.name: f.type for f in fields(SmtpSettings)}[name]
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise BadInput(f"{where}: expected true or false")
    if kind in ("int", "float"):
        try:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw) if kind == "int" else float(raw)
        except (TypeError, ValueError):
            raise BadInput(f"{where}: expected a number") from None
    if not isinstance(raw, str):
        raise BadInput(f"{where}: expected a string")
    return raw.strip() if name != "password" else raw


def _checked_smtp(s: SmtpSettings, where: str) -> SmtpSettings:
    if not s.host:
        raise BadInput(f"{where}: [smtp] needs host (the mail server's name)")
    if not s.sender:
        raise BadInput(f"{where}: [smtp] needs from (the address alerts come from)")
    _check_address(s.sender, f"{where}: smtp.from")
    if not 0 <= s.port <= 65535 or s.timeout <= 0:
        raise BadInput(f"{where}: smtp.port must be a TCP port and smtp.timeout more than 0")
    return s


def check_channels(alerts: tuple[Alert, ...], smtp: SmtpSettings | None, where: str) -> None:
    """What the file and the environment make together holds: every email alert has a mail
    server to go through, and a mail login has its password."""
    if smtp is not None and bool(smtp.username) != bool(smtp.password):
        raise BadInput(f"{where}: [smtp] needs username and password together (the password may come "
                       "from REFUGE_SMTP_PASSWORD)")
    for number, alert in enumerate(alerts, 1):
        if alert.email and smtp is None:
            raise BadInput(f"{where}: [[alert]] number {number} sends email to {alert.email} but no [smtp] "
                           "table says through which server")
