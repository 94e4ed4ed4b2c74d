"""The admin API's OpenAPI 3.1 document, served at /api/v1/openapi.json.

Written as data beside the routes in api.py; the tests check it against the OpenAPI
specification's schema and check every answer the API gives against it, so the two
cannot drift apart unnoticed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from refuge import __version__

_STR = {"type": "string"}
_INT = {"type": "integer"}
_NSTR = {"type": ["string", "null"]}
_NINT = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


SCHEMAS: dict[str, Any] = {
    "Problem": _obj(["type", "title", "status", "detail"], type=_STR, title=_STR, status=_INT, detail=_STR,
                    field={"type": "string", "description": "the request field the problem is in"}),
    "TargetFields": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "description": "the seed URL (http or https)"},
            "name": {"type": "string", "description": "default: from the URL's host"},
            "kind": {"enum": ["site", "database"]},
            "scope": {"enum": ["page", "prefix", "host", "domain"]},
            "every": {"type": ["string", "null"], "description": "capture interval: 30m, 6h, 1d"},
            "cron": {"type": ["string", "null"], "description": "five-field cron expression in UTC"},
            "max_pages": _NINT, "max_depth": _NINT,
            "include": {"type": "array", "items": _STR}, "exclude": {"type": "array", "items": _STR},
            "robots": {"enum": ["obey", "ignore"]},
            "database": {"type": ["string", "null"], "description": "a database target's spec, as TOML text"},
            "browser": {"type": ["boolean", "null"],
                        "description": "capture each page in headless Chromium (docs/capture.md, Browser mode)"},
            "scroll": {"type": ["boolean", "null"], "description": "browser mode: scroll until the page stops growing"},
            "click": {"type": ["array", "null"], "maxItems": 10, "items": {"type": "string", "maxLength": 200},
                      "description": "browser mode: CSS selectors of elements to press (\"Load more\")"},
            "max_clicks": {"type": ["integer", "null"], "minimum": 0, "maximum": 50,
                           "description": "browser mode: presses per page in all (default 5)"},
        },
    },
    "Capture": _obj(["id", "target", "status", "started", "pages", "bytes", "failed"],
                    id=_STR, target=_STR, status={"enum": ["running", "complete", "failed", "interrupted"]},
                    started=_STR, finished=_NSTR, pages=_INT, requisites=_INT, failed=_INT, revisits=_INT,
                    bytes=_INT, files=_INT, error=_NSTR,
                    queued={"type": ["integer", "null"], "description": "while running: URLs waiting or in flight"}),
    "Target": {"type": "object", "required": ["name", "url", "kind", "scope", "schedule", "status"],
               "properties": {"name": _STR, "url": _STR, "kind": _STR, "scope": _STR, "schedule": _STR,
                              "every": _NSTR, "cron": _NSTR, "max_pages": _NINT, "max_depth": _NINT,
                              "include": {"type": "array"}, "exclude": {"type": "array"}, "robots": _STR,
                              "database": {"type": ["object", "null"]}, "created": _STR, "status": _STR,
                              "browser": {"type": "boolean"}, "scroll": {"type": "boolean"},
                              "click": {"type": "array", "items": _STR}, "max_clicks": _NINT,
                              "last_capture": {"oneOf": [_ref("Capture"), {"type": "null"}]},
                              "fixity": {"type": ["object", "null"]}, "snapshot": {"type": ["object", "null"]},
                              "mirrors": {"type": ["object", "null"]},
                              "replicas": {"type": "object", "description": "per store: copies copied and pending",
                                           "additionalProperties": {"type": "object"}},
                              "captures": {"type": "array", "items": _ref("Capture")}}},
    "CaptureDetail": {"allOf": [_ref("Capture"), _obj(
        ["failures", "warc_files"],
        failures={"type": "array", "items": _obj(["url", "reason"], url=_STR, status=_NINT, reason=_STR)},
        warc_files={"type": "array", "items": _obj(["name", "kind", "sha256", "size"], name=_STR, kind=_STR,
                                                   sha256=_STR, size=_INT, records=_INT)})]},
    "Started": _obj(["job"], target=_NSTR, kind=_STR, capture=_NSTR, job=_NINT, status_url=_STR),
    "WaczPackage": _obj(
        ["capture", "target", "status", "status_url", "download_url"], capture=_STR, target=_STR,
        status={"enum": ["queued", "packaging", "ready", "failed"]}, requested_by=_STR, requested_at=_STR,
        error={"type": ["string", "null"], "description": "why it failed, when it did"},
        status_url={"type": "string", "description": "where to ask how it stands"},
        download_url={"type": ["string", "null"], "description": "where to fetch it, once ready"},
        made_at=_STR, created=_STR, bytes=_INT, sha256={"type": "string", "description": "the package's, in hex"},
        fingerprint={"type": "string", "description": "the signing key's (`refuge key --wacz`)"},
        warcs=_INT, warc_bytes=_INT, pages=_INT, withheld=_INT),
    "Replica": _obj(["file", "store", "state"], file=_STR, kind=_STR, store=_STR, state=_STR, location=_NSTR,
                    result=_NSTR, verified_at=_NSTR, reason=_NSTR, last_error=_NSTR),
    "Mirror": _obj(["target", "channel", "url", "status", "vantages"], target=_STR, channel=_STR, style=_STR,
                   url=_STR, status={"enum": ["up", "down", "unknown"]}, checked_at=_NSTR, detail=_NSTR,
                   capture=_STR, published_at=_STR, content=_STR,
                   vantages={"type": "object", "additionalProperties": _STR}),
    "Mirrors": _obj(["mirrors", "history"], mirrors={"type": "array", "items": _ref("Mirror")},
                    history={"type": "array", "items": _obj(["checked_at", "url", "vantage", "status"],
                                                            checked_at=_STR, target=_STR, url=_STR, vantage=_STR,
                                                            status=_STR, detail=_STR, seconds={"type": "number"})}),
    "Hidden": _obj(["id", "url", "match", "reason", "created_at", "created_by"], id=_INT, url=_STR,
                   match={"enum": ["exact", "prefix"]}, reason=_STR, created_at=_STR, created_by=_STR),
    "HideRequest": {"type": "object", "required": ["url", "reason"], "additionalProperties": False,
                    "properties": {"url": {"type": "string", "description": "a URL, or a prefix ending in *"},
                                   "reason": _STR, "prefix": {"type": "boolean"}}},
    "Event": _obj(["id", "at", "kind", "actor", "action", "subject", "detail", "source"], id=_INT, at=_STR,
                  kind={"enum": ["change", "alert"]}, actor=_STR, action=_STR, subject=_STR,
                  detail={"type": "object"}, source=_STR),
    "User": _obj(["name", "role"], id=_INT, name=_STR, role={"enum": ["viewer", "archivist", "admin"]},
                 created_at=_STR, updated_at=_STR,
                 password={"type": "string", "description": "only when generated, shown this once"}),
    "NewUser": {"type": "object", "required": ["name", "role"], "additionalProperties": False,
                "properties": {"name": _STR, "role": {"enum": ["viewer", "archivist", "admin"]},
                               "password": {"type": "string", "description": "omit to have one generated"}}},
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*codes: int) -> dict[str, Any]:
    words = {400: "bad input, the field named", 401: "not logged in", 403: "role too low", 404: "no such thing",
             409: "clashes with what exists"}
    return {str(c): {"description": words[c], "content": {"application/problem+json": {"schema": _ref("Problem")}}}
            for c in codes}


def _op(summary: str, role: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, problems: tuple[int, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": f"Needs the {role} role.",
                          "responses": {**responses, **_problems(401, 403, *problems)}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer" if name == "id" else "string"}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or _STR}


_LIST = {"type": "array"}
_NO_BODY = {"description": "done"}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    started = _json(_ref("Started"), "started: a job runs it")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Refuge admin API", "version": __version__,
                 "description": "Targets, captures, copies, mirrors, takedowns and the audit log of a Refuge "
                                "archive. Authenticate with `Authorization: Bearer TOKEN` (`refuge token create`)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/targets": {
                "get": _op("Every target with its last capture, fixity and mirrors", "viewer",
                           {"200": _json({**_LIST, "items": _ref("Target")})}),
                "post": _op("Add a target (the fields of `refuge add`)", "admin",
                            {"201": _json(_ref("Target"), "added")}, body=_ref("TargetFields"), problems=(400, 409))},
            "/targets/{name}": {
                "parameters": [_path("name")],
                "get": _op("A target and its last 30 captures", "viewer", {"200": _json(_ref("Target"))},
                           problems=(404,)),
                "patch": _op("Change a target's fields", "admin", {"200": _json(_ref("Target"))},
                             body=_ref("TargetFields"), problems=(400, 404)),
                "delete": _op("Stop capturing a target (its captures are kept)", "admin", {"204": _NO_BODY},
                              problems=(404,))},
            "/targets/{name}/captures": {
                "parameters": [_path("name")],
                "post": _op("Capture the target now", "admin", {"202": started}, problems=(404, 409))},
            "/targets/{name}/publish": {
                "parameters": [_path("name")],
                "post": _op("Publish the target's newest capture to its mirrors", "admin", {"202": started},
                            problems=(400, 404))},
            "/captures": {
                "get": _op("Captures, newest first", "viewer", {"200": _json({**_LIST, "items": _ref("Capture")})},
                           params=[_query("target", "only this target's"),
                                   _query("status", "running, complete, failed or interrupted"),
                                   _query("since", "started at or after this UTC time (2026-12-01T00:00:00Z)"),
                                   _query("limit", "at most this many (1-1000, default 100)", _INT)],
                           problems=(400, 404))},
            "/captures/{id}": {
                "parameters": [_path("id") | {"schema": _STR}],
                "get": _op("A capture with its progress, failures and files", "viewer",
                           {"200": _json(_ref("CaptureDetail"))}, problems=(404,))},
            "/captures/{id}/replicas": {
                "parameters": [_path("id") | {"schema": _STR}],
                "get": _op("Every copy of every file of a capture, with its last fixity check", "viewer",
                           {"200": _json({**_LIST, "items": _ref("Replica")})}, problems=(404,))},
            "/captures/{id}/wacz": {
                "parameters": [_path("id") | {"schema": _STR}],
                "post": _op("Ask for the capture as one signed WACZ package (made in the background; audited)",
                            "archivist", {"200": _json(_ref("WaczPackage"), "ready already: made earlier and current"),
                                          "202": _json(_ref("WaczPackage"), "being made: ask status_url")},
                            problems=(404, 409)),
                "get": _op("How the capture's WACZ package stands", "archivist", {"200": _json(_ref("WaczPackage"))},
                           problems=(404,))},
            "/captures/{id}/wacz/download": {
                "parameters": [_path("id") | {"schema": _STR}],
                "get": _op("The capture's WACZ package, once ready", "archivist", {"200": {
                    "description": "the package, as an attachment",
                    "headers": {"Repr-Digest": {"description": "its SHA-256 (RFC 9530)", "schema": _STR},
                                "Content-Length": {"schema": _INT}, "Content-Disposition": {"schema": _STR}},
                    "content": {"application/zip": {
                        "schema": {"type": "string", "contentMediaType": "application/zip"}}}}},
                    problems=(404, 409))},
            "/verify": {"post": _op("Re-read every copy in every store (a fixity audit)", "archivist",
                                    {"202": started})},
            "/mirrors": {
                "get": _op("Mirror URLs, their status per vantage point, and the check history", "viewer",
                           {"200": _json(_ref("Mirrors"))},
                           params=[_query("target", "only this target's"),
                                   _query("history", "checks of history to include (default 50)", _INT)],
                           problems=(400, 404))},
            "/check": {"post": _op("Check every mirror URL from every vantage point", "archivist",
                                   {"202": started})},
            "/hidden": {
                "get": _op("Takedowns in force (all=true: removed ones too)", "viewer",
                           {"200": _json({**_LIST, "items": _ref("Hidden")})},
                           params=[_query("all", "true to list removed takedowns too")]),
                "post": _op("Hide a URL or a prefix from replay, exports and search", "admin",
                            {"201": _json(_ref("Hidden"), "hidden")}, body=_ref("HideRequest"), problems=(400,))},
            "/hidden/{id}": {
                "parameters": [_path("id")],
                "delete": _op("Lift a takedown", "admin", {"204": _NO_BODY}, problems=(404,))},
            "/events": {
                "get": _op("The audit log and the alerts sent, newest first", "viewer",
                           {"200": _json({**_LIST, "items": _ref("Event")})},
                           params=[_query("kind", "change or alert"), _query("since", "at or after this UTC time"),
                                   _query("before", "older than this event id (to page back)", _INT),
                                   _query("limit", "at most this many (1-1000, default 100)", _INT)],
                           problems=(400,))},
            "/users": {
                "get": _op("Console users and their roles", "admin", {"200": _json({**_LIST, "items": _ref("User")})}),
                "post": _op("Add a console user", "admin", {"201": _json(_ref("User"), "added")},
                            body=_ref("NewUser"), problems=(400,))},
            "/users/{name}": {
                "parameters": [_path("name")],
                "delete": _op("Remove a console user and end their sessions", "admin", {"204": _NO_BODY},
                              problems=(400, 404))},
        },
    }
