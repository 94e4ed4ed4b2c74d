"""Changes the admin API and console make, written once: the same fields, validation and
audit record whichever surface asks.

A target's fields are those of `refuge add` (url, name, kind, scope, every or cron,
max_pages, max_depth, include, exclude, robots; browser, scroll, click, max_clicks) plus `database`, a database target's
spec as TOML text. A bad value raises `Invalid`, naming the field; nothing is stored.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from refuge.config.addresses import check_host_allowed
from refuge.config.dbspec import parse_spec, spec_as_dict
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.config.targets import TargetSpec, format_duration, make_target
from refuge.storage import catalog
from refuge.storage.catalog import events, mirrors
from refuge.storage.catalog.events import Actor

# field -> the JSON type it takes
TARGET_FIELDS: dict[str, type] = {
    "url": str, "name": str, "kind": str, "scope": str, "every": str, "cron": str, "max_pages": int,
    "max_depth": int, "include": list, "exclude": list, "robots": str, "database": str,
    "browser": bool, "scroll": bool, "click": list, "max_clicks": int,
}
_TYPE_WORDS = {str: "a string", int: "a whole number", list: "a list of strings", bool: "true or false"}
MAX_SPEC_TEXT = 256 * 1024

# The first words of make_target's messages, and the field each names.
_FIELD_OF = [("URL ", "url"), ("target name", "name"), ("scope", "scope"), ("robots", "robots"),
             ("schedule", "every"), ("--every", "every"), ("cron", "cron"), ("max-pages", "max_pages"),
             ("max-depth", "max_depth"), ("include", "include"), ("exclude", "exclude"), ("kind", "kind"),
             ("--spec", "database"), ("--kind", "kind"), ("database", "database"), ("browser", "browser"),
             ("scroll", "scroll"), ("click", "click"), ("max-clicks", "max_clicks")]


class Invalid(BadInput):
    """Bad input in one named field (HTTP 400, the field in the problem document)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Conflict(BadInput):
    """The request is fine but clashes with what exists (HTTP 409)."""


class NotFound(BadInput):
    """No such target, capture or record (HTTP 404)."""


def field_of(message: str) -> str | None:
    lowered = message.lower()
    for start, name in _FIELD_OF:
        if lowered.startswith(start.lower()):
            return name
    return None


def spec_fields(spec: TargetSpec) -> dict[str, Any]:
    """SPEC as the API's target fields."""
    d = spec.as_dict()
    return {"url": d["url"], "name": d["name"], "kind": d["kind"], "scope": d["scope"],
            "every": format_duration(spec.every_seconds) if spec.every_seconds else None, "cron": spec.cron,
            "max_pages": d["max_pages"], "max_depth": d["max_depth"], "include": d["include"],
            "exclude": d["exclude"], "robots": d["robots"], "database": d["database"], "browser": d["browser"],
            "scroll": d["scroll"], "click": d["click"], "max_clicks": d["max_clicks"]}


def make_spec(fields: dict[str, Any], base: TargetSpec | None = None) -> TargetSpec:
    """A validated TargetSpec from API FIELDS (over BASE's values, for a change)."""
    if not isinstance(fields, dict):
        raise Invalid("body", "body: expected a JSON object of target fields")
    for key, value in fields.items():
        if key not in TARGET_FIELDS:
            raise Invalid(key, f"{key}: not a target field (fields: {', '.join(TARGET_FIELDS)})")
        kind = TARGET_FIELDS[key]
        if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
            raise Invalid(key, f"{key}: expected {_TYPE_WORDS[kind]}")
    for key in ("include", "exclude", "click"):
        if not all(isinstance(p, str) for p in fields.get(key) or []):
            raise Invalid(key, f"{key}: expected a list of strings")
    merged: dict[str, Any] = {}
    if base is not None:
        merged = spec_fields(base)
        if merged["database"] is not None:
            merged["database"] = None  # kept as a dict below, not TOML text
        if "name" in fields and fields["name"] != base.name:
            raise Invalid("name", "name: a target cannot be renamed; add it under the new name and remove this one")
        if "every" in fields or "cron" in fields:
            merged["every"] = merged["cron"] = None
    merged.update({k: v for k, v in fields.items()})
    if fields.get("browser") is False:  # browser mode turned off: its options go with it unless restated
        for key in ("scroll", "click", "max_clicks"):
            merged[key] = fields.get(key)
    if not merged.get("url"):
        raise Invalid("url", "url: required")
    database: dict[str, Any] | None = None
    if isinstance(merged.get("database"), str) and merged["database"].strip():
        if len(merged["database"]) > MAX_SPEC_TEXT:
            raise Invalid("database", f"database: the spec is longer than {MAX_SPEC_TEXT // 1024} KB")
        try:
            database = spec_as_dict(parse_spec(merged["database"], "database"))
        except BadInput as exc:
            raise Invalid("database", str(exc)) from None
    elif base is not None and "database" not in fields and base.database:
        database = spec_fields(base)["database"]
    try:
        return make_target(merged["url"], name=merged.get("name") or None, every=merged.get("every") or None,
                           cron=merged.get("cron") or None, scope=merged.get("scope") or "prefix",
                           max_pages=merged.get("max_pages"), max_depth=merged.get("max_depth"),
                           include=merged.get("include") or [], exclude=merged.get("exclude") or [],
                           robots=merged.get("robots") or "obey",
                           kind=merged.get("kind") or ("database" if database else "site"), database=database,
                           browser=bool(merged.get("browser")), scroll=bool(merged.get("scroll")),
                           click=merged.get("click") or [], max_clicks=merged.get("max_clicks"))
    except BadInput as exc:
        raise Invalid(field_of(str(exc)) or "body", str(exc)) from None


def spec_error_line(message: str) -> int | None:
    """The line of the database spec a parse error points at, for the console to mark."""
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def add_target(settings: Settings, engine: Engine, fields: dict[str, Any], actor: Actor) -> catalog.Target:
    spec = make_spec(fields)
    _check_host(settings, spec)
    try:
        existing = catalog.get_target(engine, spec.name)
    except BadInput:
        existing = None
    if existing is not None:
        raise Conflict(f"name: a target called {spec.name!r} exists already (change it with PATCH)")
    target, _ = catalog.save_target(engine, spec)
    events.record(engine, actor, "target.add", spec.name, {"url": spec.url, "schedule": spec.schedule})
    return target


def change_target(settings: Settings, engine: Engine, name: str, fields: dict[str, Any],
                  actor: Actor) -> catalog.Target:
    base = get_target(engine, name)
    spec = make_spec(fields, base.spec)
    _check_host(settings, spec)
    target, _ = catalog.save_target(engine, spec)
    events.record(engine, actor, "target.change", name, {"fields": sorted(fields)})
    return target


def remove_target(settings: Settings, engine: Engine, name: str, actor: Actor) -> bool:
    """Stop capturing NAME (its captures are kept); whether the signed mirror list changed,
    as it does when the target had mirrors in it."""
    get_target(engine, name)
    target = catalog.remove_target(engine, name)
    events.record(engine, actor, "target.remove", name)
    if not mirrors.counts_by_target(engine).get(target.id):
        return False
    from refuge.mirror.publish.publisher import update_list

    update_list(settings, engine)  # the signed list stops naming its mirrors now
    return True


def get_target(engine: Engine, name: str) -> catalog.Target:
    try:
        return catalog.get_target(engine, name)
    except BadInput as exc:
        raise NotFound(str(exc)) from None


def get_capture(engine: Engine, capture_id: str) -> dict[str, Any]:
    try:
        return catalog.get_capture(engine, capture_id)
    except BadInput as exc:
        raise NotFound(str(exc)) from None


def _check_host(settings: Settings, spec: TargetSpec) -> None:
    try:
        check_host_allowed(urlsplit(spec.url).hostname or "", settings.allow_private_networks,
                           settings.allow_networks)
    except BadInput as exc:
        raise Invalid("url", f"url: {exc}") from None
