"""Target specs: what to capture, how far, and how often; and their validation.

Every check here gives a one-line :class:`BadInput` that names the offending value,
so the CLI can exit 2 and the catalog is never touched by a bad spec.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from refuge.config.errors import BadInput

SCOPES = ("page", "prefix", "host", "domain")
ROBOTS = ("obey", "ignore")
KINDS = ("site", "database")  # what `refuge add` makes
# A target made by `refuge import` for archives brought in from elsewhere: see imported_target.
IMPORTED = "imported"
DEFAULT_EVERY = 24 * 3600
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Browser mode (archiver/browser.py): how many elements a page may have pressed, and how
# many selectors, how long, a target may name. Each press may load a batch of content.
DEFAULT_MAX_CLICKS = 5
MAX_CLICKS = 50
MAX_SELECTORS = 10
MAX_SELECTOR_CHARS = 200


@dataclass(frozen=True)
class TargetSpec:
    name: str
    url: str
    scope: str = "prefix"
    every_seconds: int | None = DEFAULT_EVERY
    cron: str | None = None
    max_pages: int | None = None  # None: the settings default
    max_depth: int | None = None
    include: tuple[str, ...] = field(default_factory=tuple)
    exclude: tuple[str, ...] = field(default_factory=tuple)
    robots: str = "obey"
    kind: str = "site"  # site | database | imported
    # A database target's spec (config/dbspec.py) as canonical JSON text: a string keeps
    # the dataclass frozen and comparable.
    database: str | None = None
    # Browser mode: each page is loaded in headless Chromium, scrolled (scroll) and its
    # CLICK selectors pressed up to max_clicks times (None: DEFAULT_MAX_CLICKS).
    browser: bool = False
    scroll: bool = False
    click: tuple[str, ...] = field(default_factory=tuple)
    max_clicks: int | None = None

    @property
    def clicks(self) -> int:
        """How many presses a page may get: max_clicks, or the default when selectors are named."""
        if not self.click:
            return 0
        return self.max_clicks if self.max_clicks is not None else DEFAULT_MAX_CLICKS

    @property
    def schedule(self) -> str:
        if self.cron:
            return f"cron {self.cron}"
        if self.every_seconds:
            return f"every {format_duration(self.every_seconds)}"
        return "manual"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["include"] = list(self.include)
        d["exclude"] = list(self.exclude)
        d["click"] = list(self.click)
        d["database"] = json.loads(self.database) if self.database else None
        return d


def make_target(
    url: str,
    *,
    name: str | None = None,
    every: str | None = None,
    cron: str | None = None,
    scope: str = "prefix",
    max_pages: int | None = None,
    max_depth: int | None = None,
    include: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    robots: str = "obey",
    kind: str = "site",
    database: dict[str, Any] | None = None,
    browser: bool = False,
    scroll: bool = False,
    click: list[str] | tuple[str, ...] = (),
    max_clicks: int | None = None,
) -> TargetSpec:
    """Validate raw values (from the CLI or a targets file) into a TargetSpec."""
    url = validate_url(url)
    if name is None:
        name = default_name(url)
    check_name(name)
    if scope not in SCOPES:
        raise BadInput(f"scope {scope!r}: must be one of {', '.join(SCOPES)}")
    if robots not in ROBOTS:
        raise BadInput(f"robots {robots!r}: must be obey or ignore")
    if every and cron:
        raise BadInput("schedule: give --every or --cron, not both")
    every_seconds: int | None = None
    if cron:
        validate_cron(cron)
    else:
        every_seconds = parse_duration(every) if every else DEFAULT_EVERY
    for label, value in (("max-pages", max_pages), ("max-depth", max_depth)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0
                                  or (label == "max-pages" and value == 0)):
            raise BadInput(f"{label} {value!r}: must be a {'positive' if label == 'max-pages' else 'non-negative'} whole number")
    for label, patterns in (("include", include), ("exclude", exclude)):
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise BadInput(f"{label} pattern {pattern!r}: not a valid regular expression ({exc})") from None
    if kind not in KINDS:
        raise BadInput(f"kind {kind!r}: must be one of {', '.join(KINDS)}")
    if (kind == "database") != (database is not None):
        raise BadInput("--spec FILE: a database target needs a spec, and only a database target takes one"
                       if kind == "database" else "--kind database: a spec is given, so the kind must be database")
    check_browser(browser, scroll, click, max_clicks, kind)
    return TargetSpec(
        name=name, url=url, scope=scope, every_seconds=every_seconds, cron=cron or None,
        max_pages=max_pages, max_depth=max_depth, include=tuple(include), exclude=tuple(exclude),
        robots=robots, kind=kind,
        database=json.dumps(database, ensure_ascii=False) if database is not None else None,  # field order kept
        browser=browser, scroll=scroll, click=tuple(click), max_clicks=max_clicks,
    )


def check_browser(browser: Any, scroll: Any, click: Any, max_clicks: Any, kind: str = "site") -> None:
    """BadInput unless these are sound browser-mode options: booleans, at most
    MAX_SELECTORS CSS selectors of at most MAX_SELECTOR_CHARS each, max_clicks 0 to
    MAX_CLICKS, and none of them without browser mode."""
    for label, value in (("browser", browser), ("scroll", scroll)):
        if not isinstance(value, bool):
            raise BadInput(f"{label} {value!r}: must be true or false")
    if not isinstance(click, (list, tuple)) or not all(isinstance(c, str) for c in click):
        raise BadInput(f"click {click!r}: must be a list of CSS selectors")
    if max_clicks is not None and (not isinstance(max_clicks, int) or isinstance(max_clicks, bool)
                                   or not 0 <= max_clicks <= MAX_CLICKS):
        raise BadInput(f"max-clicks {max_clicks!r}: must be a whole number from 0 to {MAX_CLICKS}")
    if not browser:
        for label, given in (("scroll", scroll), ("click", click), ("max-clicks", max_clicks is not None)):
            if given:
                raise BadInput(f"{label}: only a browser-mode target scrolls or clicks; add --browser "
                               "(browser = true)")
        return
    if kind != "site":
        raise BadInput(f"browser: only a site target is captured in a browser, not a {kind} target")
    if len(click) > MAX_SELECTORS:
        raise BadInput(f"click: at most {MAX_SELECTORS} selectors, got {len(click)}")
    for selector in click:
        if not selector.strip() or len(selector) > MAX_SELECTOR_CHARS \
                or any(ord(c) < 32 or ord(c) == 127 for c in selector):
            raise BadInput(f"click selector {selector[:60]!r}: must be a CSS selector of 1 to "
                           f"{MAX_SELECTOR_CHARS} characters on one line")
        # Not parsed here: the browser's own engine (Playwright's selectors, `:has-text()` and
        # all) judges it at capture time, where a selector it rejects is listed, not fatal.
    if max_clicks is not None and not click:
        raise BadInput("max-clicks: give the elements to press with --click SELECTOR (click = [...])")


def imported_target(name: str, url: str) -> TargetSpec:
    """The target `refuge import NAME` adds when there is no target NAME: kind "imported",
    no schedule, scope "page", URL the archive's first page.

    Its own kind rather than a site on a manual schedule, because a site can be captured
    (`refuge capture`, the admin console) and would crawl the live origin, which is not
    what its captures hold and may be blocked or gone: a capture of an imported target is
    refused, and the scheduler never runs it (no schedule either, should a scheduler look
    only at that). The kind is stored and shown (`refuge targets`, the mirror list), so
    readers and admins see where its captures came from. `refuge add URL --name NAME` makes
    it a site (or database) target from then on, its imported captures kept beside.
    """
    check_name(name)
    return TargetSpec(name=name, url=validate_url(url), scope="page", every_seconds=None, cron=None, kind=IMPORTED)


def check_capturable(spec: TargetSpec) -> None:
    """BadInput for a target that is not captured: an imported one (see imported_target)."""
    if spec.kind == IMPORTED:
        raise BadInput(f"target {spec.name!r} holds imported archives and is not captured; to capture its site "
                       f"too, make it a site target: `refuge add URL --name {spec.name}`")


def check_name(name: str) -> None:
    """BadInput unless NAME can name a target."""
    if not _NAME.match(name):
        raise BadInput(
            f"target name {name!r}: use 1-63 lowercase letters, digits, '.', '-' or '_', starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise BadInput(f"target name {name!r}: reserved (stores keep published mirrors under '{name}/')")


def validate_url(url: str) -> str:
    """An absolute http(s) URL with a host; returned with surrounding space removed."""
    raw = url
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise BadInput(f"URL {raw!r}: malformed ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise BadInput(f"URL {raw!r}: only http and https URLs can be captured")
    if not parts.hostname:
        raise BadInput(f"URL {raw!r}: has no host name")
    if parts.username or parts.password:
        raise BadInput(f"URL {raw!r}: must not carry a user name or password")
    if any(c.isspace() for c in url) or port == 0:
        raise BadInput(f"URL {raw!r}: malformed")
    if not parts.path:
        url = url.replace(f"{parts.scheme}://{parts.netloc}", f"{parts.scheme}://{parts.netloc}/", 1)
    return url


# Store keys are <target>/<capture>/... for captures and mirrors/<target>/... for published mirrors.
RESERVED_NAMES = frozenset({"mirrors"})


def default_name(url: str) -> str:
    host = (urlsplit(url).hostname or "target").lower()
    if host.startswith("www."):
        host = host[4:]
    name = re.sub(r"[^a-z0-9._-]", "-", host)[:63].strip("-.") or "target"
    return name if _NAME.match(name) else f"t-{name}"[:63]


def parse_duration(text: str, what: str = "--every") -> int:
    """'6h', '90m', '1d12h', '45s', or a bare number of seconds."""
    raw = text
    text = text.strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        pos, seconds = 0, 0
        for m in _DURATION.finditer(text):
            if text[pos:m.start()].strip():
                break
            seconds += int(m.group(1)) * _UNIT[m.group(2)]
            pos = m.end()
        if pos == 0 or text[pos:].strip():
            raise BadInput(f"{what} {raw!r}: not a duration (try 30m, 6h, 1d)")
    if seconds <= 0:
        raise BadInput(f"{what} {raw!r}: must be longer than zero")
    return seconds


def format_duration(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def validate_cron(expr: str) -> None:
    if len(expr.split()) != 5:
        raise BadInput(f"--cron {expr!r}: needs five fields (minute hour day month weekday)")
    try:
        from apscheduler.triggers.cron import CronTrigger  # only when a cron is given: a slow import

        CronTrigger.from_crontab(expr, timezone="UTC")
    except ValueError as exc:
        raise BadInput(f"--cron {expr!r}: {exc}") from None


_FILE_KEYS = {"url", "name", "every", "cron", "scope", "max_pages", "max_depth", "include", "exclude", "robots",
              "kind", "spec", "browser", "scroll", "click", "max_clicks"}


def load_targets_file(path: Path) -> list[TargetSpec]:
    """Targets from a TOML file of ``[[target]]`` tables (the seed list, or an admin's own)."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise BadInput(f"{path}: targets file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: not valid TOML ({exc})") from None
    specs = []
    for i, entry in enumerate(doc.get("target", []), 1):
        unknown = set(entry) - _FILE_KEYS
        if unknown:
            raise BadInput(f"{path}: target {i} has unknown key {sorted(unknown)[0]!r}")
        if "url" not in entry:
            raise BadInput(f"{path}: target {i} has no url")
        entry = dict(entry)
        if "spec" in entry:
            from refuge.config.dbspec import spec_as_dict, spec_from_dict  # dbspec imports selectolax: only when needed

            entry["database"] = spec_as_dict(spec_from_dict(entry.pop("spec"), f"{path}: target {i} spec"))
        try:
            specs.append(make_target(**entry))
        except BadInput as exc:
            raise BadInput(f"{path}: target {i}: {exc}") from None
    return specs
