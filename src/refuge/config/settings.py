"""One settings object, loaded once and passed down.

Layers, lowest to highest: built-in defaults, a TOML file (``refuge.toml`` in the
data directory, or ``--config FILE``), ``REFUGE_*`` environment variables, then
CLI flags. Nothing else in Refuge reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from refuge.config.addresses import is_network
from refuge.config.errors import BadInput, redact
from refuge.config.targets import parse_duration
from refuge.config.store_settings import IpfsSettings, S3Settings, store_from_environ, store_table
from refuge.config.alert_settings import (Alert, SmtpSettings, alert_tables, check_channels, smtp_from_environ,
                                          smtp_table)

@dataclass(frozen=True)
class Vantage:
    """A place mirrors are checked from: `[[vantage]] name = "..." proxy = "..."` in refuge.toml.
    PROXY is an http(s):// or socks5h:// URL (a VPS or a volunteer's tunnel inside the
    country); None checks directly from this machine."""

    name: str
    proxy: str | None = None


DIRECT = Vantage("direct", None)

DEFAULT_USER_AGENT = "Refuge/0.1 (+https://github.com/refuge-archive/refuge; web archiving for blocked sites)"


@dataclass(frozen=True)
class Settings:
    data: Path = Path("./data")
    database_url: str = ""  # empty means SQLite at DATA/catalog.sqlite
    host: str = "127.0.0.1"
    port: int = 8080
    # The admin console and API: a listener of its own, so its cookies and tokens never
    # exist on the replay origin where archived scripts run.
    admin_host: str = "127.0.0.1"
    admin_port: int = 8081
    # Where admins reach the console (https://admin.example.org/); an https URL makes the
    # session cookie Secure. Empty: http://admin_host:admin_port/.
    admin_public_url: str = ""
    session_hours: float = 12.0  # a console login lasts this long
    # Replay server processes sharing the port; 0 means one per CPU.
    serve_processes: int = 0
    # Seconds a reader's connection may stay idle, stall in its headers, or take nothing of
    # its responses, before the replay server closes it.
    serve_timeout: float = 60.0
    allow_private_networks: bool = False
    # Networks a capture may reach though they are not public (CIDRs: "10.1.0.0/16"), for an
    # intranet target when allowing every private network would be too much.
    allow_networks: tuple[str, ...] = ()
    # A PEM file of the CA certificates captures trust, instead of the bundled Mozilla list
    # (a target on a private PKI). Empty: the bundled list.
    ca_file: str = ""
    user_agent: str = DEFAULT_USER_AGENT
    # Who runs this archive ("Cambodia Records Project <archive@example.org>"): named in every
    # WARC file's warcinfo record and in WACZ packages. Empty: named nowhere.
    operator: str = ""
    targets_file: str = ""  # empty means the bundled config/targets.toml
    # "" runs captures in the calling process; "postgres" queues them as jobs on the
    # PostgreSQL catalog for `refuge worker` processes on any machine (cli/jobs.py).
    queue: str = ""

    # Capture defaults; a target's own limits override the page and depth ones.
    workers: int = 4  # fetches in flight at once, across all worker processes
    processes: int = 0  # worker processes sharing them; 0 means one per CPU (never more than workers)
    per_host: int = 2
    delay: float = 0.0  # seconds between requests to one host
    timeout: float = 30.0  # connect and read timeout per request
    retries: int = 3
    backoff: float = 1.0  # first retry waits this long, then doubles
    max_retry_after: float = 120.0  # a longer Retry-After gives up instead of stalling the crawl
    max_pages: int = 1000
    max_depth: int = 5
    max_response_bytes: int = 100 * 1024 * 1024
    max_redirects: int = 10
    warc_max_bytes: int = 1024 * 1024 * 1024
    # zlib-ng level for each record's gzip member: a little larger files than 6 for much less
    # compression CPU (bench/README.md has the measurement).
    warc_gzip_level: int = 5
    # Browser mode (targets added with --browser; docs/capture.md): the Chromium to drive,
    # tabs open at once in each worker process, how long a page may take to go quiet
    # (after loading, and after each scroll and click), and how long one attempt at a page
    # may take in all before it is given up (and tried once more).
    browser_executable: str = "/usr/bin/chromium"
    browser_tabs: int = 2
    browser_settle_seconds: float = 10.0
    browser_page_seconds: float = 120.0

    # Scheduler
    max_concurrent_captures: int = 2
    sync_seconds: float = 30.0  # how often `refuge run` picks up target changes
    # A running capture (and in distributed mode a worker) silent this long is dead: its
    # capture is resumed, its jobs go back to the queue. Heartbeats come 4 times as often.
    stale_capture_seconds: float = 120.0
    # Distributed mode: every this many seconds a capture seals its open WARC files and
    # puts them and its journal in S3, so a capture taken over on another machine fetches
    # again at most about this much of its work.
    checkpoint_seconds: float = 300.0
    # An interrupted capture that started less than this long ago is resumed under its id
    # by the next capture of its target; an older one is left as it is (a duration: 12h, 1d).
    resume_within: str = "1d"
    startup_spread: float = 30.0  # overdue targets start spread over this many seconds, not all at once

    # Replicas: the local archive is always one; [s3] and [ipfs] add the others.
    s3: S3Settings | None = None
    ipfs: IpfsSettings | None = None
    replicate_seconds: float = 60.0  # how often the scheduler retries copies that are due
    fixity_every: str = "1d"  # how often the scheduler re-reads every copy (a duration: 12h, 1d, 7d)

    # Published mirrors: a static export of each target's newest capture on S3 and IPFS.
    publish_after_capture: bool = True  # only when [s3] or [ipfs] is configured
    check_every: str = "1h"  # how often the scheduler fetches every mirror URL
    check_timeout: float = 10.0  # per mirror and vantage point, start to finish
    vantages: tuple[Vantage, ...] = ()  # none: check directly from here
    # Files published beside each mirror for readers to carry: "zim" (the export as a ZIM file for
    # Kiwix, named in the mirror list with its size and SHA-256). Empty: mirrors only.
    bundles: tuple[str, ...] = ()

    # Alerts ([[alert]] and [smtp], config/alert_settings.py): evaluated this often by the
    # scheduler (and after each capture, fixity audit and mirror check it runs).
    alerts: tuple[Alert, ...] = ()
    smtp: SmtpSettings | None = None
    alert_seconds: float = 60.0

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data / 'catalog.sqlite').resolve()}"

    @property
    def heartbeat_seconds(self) -> float:
        """How often a running capture, and a queue worker, says it is alive."""
        return self.stale_capture_seconds / 4

    @property
    def archive_dir(self) -> Path:
        return self.data / "archive"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


ENV_PREFIX = "REFUGE_"
BUNDLE_KINDS = ("zim",)  # what `bundles` may name (mirror.publish.bundles makes them)
_STORES = ("s3", "ipfs")


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from defaults, file, environment and flags (highest wins).

    The data directory decides where the default ``refuge.toml`` is looked for, so it
    is resolved first from the flags and the environment.
    """
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    values: dict[str, Any] = {}

    data = overrides.get("data") or environ.get(ENV_PREFIX + "DATA") or Settings.data
    if config_file is None:
        candidate = Path(data) / "refuge.toml"
        config_file = candidate if candidate.exists() else None
    if config_file is not None:
        values.update(_read_toml(Path(config_file)))
    for name in _STORES:
        values[name] = store_from_environ(name, environ, values.get(name))
    values["smtp"] = smtp_from_environ(environ, values.get("smtp"))
    check_channels(values.get("alerts", ()), values["smtp"], str(config_file or "settings"))
    for f in fields(Settings):
        if f.name in _STORES or f.name in ("vantages", "alerts", "smtp"):  # tables: only in the settings file
            continue
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _coerce(f, raw, f"environment variable {ENV_PREFIX}{f.name.upper()}")
    for name, raw in overrides.items():
        if name in _STORES:
            values[name] = raw
            continue
        values[name] = _coerce(_field(name), raw, f"option --{name.replace('_', '-')}")
    return _validated(Settings(**values))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise BadInput(f"{path}: settings file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: not valid TOML ({exc})") from None
    known = {f.name: f for f in fields(Settings)}
    values = {}
    for key, raw in doc.items():
        if key == "vantage":
            values["vantages"] = _vantages(raw, str(path))
            continue
        if key == "vantages":
            raise BadInput(f"{path}: write vantage points as [[vantage]] tables, not 'vantages'")
        if key in _STORES:
            values[key] = store_table(key, raw, str(path))
            continue
        if key == "alert":
            values["alerts"] = alert_tables(raw, str(path))
            continue
        if key == "smtp":
            values["smtp"] = smtp_table(raw, str(path))
            continue
        if key == "alerts":
            raise BadInput(f"{path}: write alerts as [[alert]] tables, not 'alerts'")
        if key not in known:
            raise BadInput(f"{path}: unknown setting {key!r}")
        values[key] = _coerce(known[key], raw, f"{path}: setting {key!r}")
    return values


def _vantages(raw: Any, where: str) -> tuple[Vantage, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, Mapping) for v in raw):
        raise BadInput(f"{where}: vantage points are [[vantage]] tables with name and proxy")
    found: list[Vantage] = []
    for i, table in enumerate(raw, 1):
        unknown = set(table) - {"name", "proxy"}
        if unknown:
            raise BadInput(f"{where}: unknown setting {sorted(unknown)[0]!r} in [[vantage]] number {i}")
        name, proxy = table.get("name"), table.get("proxy") or None
        if not isinstance(name, str) or not name.strip() or name in {v.name for v in found}:
            raise BadInput(f"{where}: [[vantage]] number {i} needs a name of its own, got {name!r}")
        if proxy is not None and (not isinstance(proxy, str)
                                  or urlsplit(proxy).scheme not in ("http", "https", "socks5h")
                                  or not urlsplit(proxy).hostname):
            raise BadInput(f"{where}: [[vantage]] {name!r}: proxy must be an http://, https:// or socks5h:// "
                           f"URL (socks5h: names resolve at the vantage point, where DNS blocking happens), "
                           f"got {(redact(proxy) if isinstance(proxy, str) else proxy)!r}")
        found.append(Vantage(name.strip(), proxy))
    return tuple(found)


def _field(name: str) -> dataclasses.Field:
    for f in fields(Settings):
        if f.name == name:
            return f
    raise KeyError(name)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(f: dataclasses.Field, raw: Any, where: str) -> Any:
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError("expected true or false")
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError("expected a whole number")
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(str(raw))
        if kind.startswith("tuple[str"):
            items = raw if isinstance(raw, list) else str(raw).replace(",", " ").split()
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{where}: {raw!r} is not valid ({exc})") from None


def _validated(s: Settings) -> Settings:
    positive = ["workers", "per_host", "max_pages", "max_response_bytes", "warc_max_bytes",
                "max_concurrent_captures", "timeout", "browser_tabs", "browser_settle_seconds",
                "browser_page_seconds"]
    for name in positive:
        if getattr(s, name) <= 0:
            raise BadInput(f"setting {name}: must be greater than 0, got {getattr(s, name)}")
    for name in ["delay", "retries", "backoff", "max_depth", "max_redirects", "processes", "serve_processes"]:
        if getattr(s, name) < 0:
            raise BadInput(f"setting {name}: must not be negative, got {getattr(s, name)}")
    if not 1 <= s.warc_gzip_level <= 9:
        raise BadInput(f"setting warc_gzip_level: must be 1 to 9, got {s.warc_gzip_level}")
    if s.replicate_seconds <= 0:
        raise BadInput(f"setting replicate_seconds: must be greater than 0, got {s.replicate_seconds}")
    parse_duration(s.fixity_every, "setting fixity_every")
    parse_duration(s.check_every, "setting check_every")
    parse_duration(s.resume_within, "setting resume_within")
    if s.queue not in ("", "postgres"):
        raise BadInput(f'setting queue: must be "" (in process) or "postgres", got {s.queue!r}')
    if s.queue and not s.catalog_url.startswith("postgresql"):
        raise BadInput('setting queue: "postgres" needs database_url to be a PostgreSQL URL')
    if s.queue and s.s3 is None:
        raise BadInput('setting queue: "postgres" keeps the archive in S3: configure [s3] (a bucket every '
                       'machine reaches; see docs/scaling.md)')
    if s.checkpoint_seconds < 1:
        raise BadInput(f"setting checkpoint_seconds: must be at least 1, got {s.checkpoint_seconds}")
    if s.stale_capture_seconds < 4:
        raise BadInput(f"setting stale_capture_seconds: must be at least 4, got {s.stale_capture_seconds}")
    if s.serve_timeout < 1:
        raise BadInput(f"setting serve_timeout: must be at least 1 second, got {s.serve_timeout}")
    if s.alert_seconds <= 0:
        raise BadInput(f"setting alert_seconds: must be greater than 0, got {s.alert_seconds}")
    if s.check_timeout <= 0:
        raise BadInput(f"setting check_timeout: must be greater than 0, got {s.check_timeout}")
    for kind in s.bundles:
        if kind not in BUNDLE_KINDS:
            raise BadInput(f"setting bundles: unknown bundle kind {kind!r} (known: {', '.join(BUNDLE_KINDS)})")
    for network in s.allow_networks:
        if not is_network(network):
            raise BadInput(f"setting allow_networks: {network!r} is not a network (write it as 10.1.0.0/16)")
    if s.ca_file:
        _check_ca_file(s.ca_file)
    for name in ("port", "admin_port"):
        if not 0 <= getattr(s, name) <= 65535:
            raise BadInput(f"setting {name}: {getattr(s, name)} is not a TCP port")
    if s.admin_public_url and urlsplit(s.admin_public_url).scheme not in ("http", "https"):
        raise BadInput(f"setting admin_public_url: must be an http:// or https:// URL, got {s.admin_public_url!r}")
    if not 0 < s.session_hours <= 24 * 30:
        raise BadInput(f"setting session_hours: must be more than 0 and at most 720, got {s.session_hours}")
    return s


def _check_ca_file(path: str) -> None:
    if not Path(path).is_file():
        raise BadInput(f"setting ca_file: {path}: no such file")
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, ValueError) as exc:
        raise BadInput(f"setting ca_file: {path}: not a PEM file of CA certificates ({exc})") from None


def bundled_targets_file() -> Path:
    return Path(__file__).with_name("targets.toml")


__all__ = ["Settings", "Vantage", "DIRECT", "load_settings", "bundled_targets_file"]
