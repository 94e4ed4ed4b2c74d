"""The admin API, `/api/v1/`: JSON in and out, described by openapi.py.

Every route names the role it needs. Without credentials the answer is 401; with a role
too low, 403; bad input, 400 with an `application/problem+json` body (RFC 9457) whose
`field` names the offending field; an unknown name or id, 404; a clash with what exists
(a capture already running, a name taken), 409. A change is made whole or not at all,
and recorded in the audit log with who made it and from where.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from refuge.cli.admin import operations as ops
from refuge.cli.admin.auth import Principal
from refuge.cli.admin.background import Background
from refuge.cli.admin.openapi import document
from refuge.cli.admin.packages import send
from refuge.cli.status import mirror_rows, target_rows
from refuge.config.errors import BadInput, redact_text
from refuge.config.settings import Settings
from refuge.config.targets import format_duration
from refuge.storage import catalog
from refuge.storage.catalog import accounts, events, hidden, mirrors, replicas

PREFIX = "/api/v1"
MAX_BODY = 1024 * 1024
CAPTURE_STATUSES = ("running", "complete", "failed", "interrupted")
_NUMBER = re.compile(r"[0-9]{1,9}")  # ASCII digits only, and small enough for any database's integer
_TIME = re.compile(r"\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d)?Z?)?", re.ASCII)

# (rule, methods, endpoint, role needed)
ROUTES = [
    ("/targets", ["GET"], "targets", "viewer"),
    ("/targets", ["POST"], "add_target", "admin"),
    ("/targets/<name>", ["GET"], "target", "viewer"),
    ("/targets/<name>", ["PATCH"], "change_target", "admin"),
    ("/targets/<name>", ["DELETE"], "remove_target", "admin"),
    ("/targets/<name>/captures", ["POST"], "start_capture", "admin"),
    ("/targets/<name>/publish", ["POST"], "publish", "admin"),
    ("/captures", ["GET"], "captures", "viewer"),
    ("/captures/<capture_id>", ["GET"], "capture", "viewer"),
    ("/captures/<capture_id>/replicas", ["GET"], "replicas", "viewer"),
    ("/captures/<capture_id>/wacz", ["POST"], "request_wacz", "archivist"),
    ("/captures/<capture_id>/wacz", ["GET"], "wacz", "archivist"),
    ("/captures/<capture_id>/wacz/download", ["GET"], "download_wacz", "archivist"),
    ("/verify", ["POST"], "verify", "archivist"),
    ("/mirrors", ["GET"], "mirrors", "viewer"),
    ("/check", ["POST"], "check", "archivist"),
    ("/hidden", ["GET"], "hidden", "viewer"),
    ("/hidden", ["POST"], "hide", "admin"),
    ("/hidden/<int:hidden_id>", ["DELETE"], "unhide", "admin"),
    ("/events", ["GET"], "events", "viewer"),
    ("/users", ["GET"], "users", "admin"),
    ("/users", ["POST"], "add_user", "admin"),
    ("/users/<name>", ["DELETE"], "remove_user", "admin"),
]
ROLE_OF = {endpoint: role for _, _, endpoint, role in ROUTES}


def problem(status: int, title: str, detail: str, field: str | None = None, **extra: Any) -> Response:
    doc: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": redact_text(detail)}
    if field is not None:
        doc["field"] = field
    doc.update(extra)
    return Response(json.dumps(doc, ensure_ascii=False), status=status, content_type="application/problem+json")


def ok(doc: Any, status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False, default=str), status=status,
                    content_type="application/json", headers=headers)


class Api:
    def __init__(self, settings: Settings, engine: Engine, background: Background) -> None:
        self.settings = settings
        self.engine = engine
        self.background = background
        self.urls = Map([Rule(PREFIX + rule, methods=methods, endpoint=endpoint)
                         for rule, methods, endpoint, _ in ROUTES] +
                        [Rule(PREFIX + "/openapi.json", methods=["GET"], endpoint="openapi")], strict_slashes=False)

    def handle(self, request: Request, who: Principal | None) -> Response:
        try:
            endpoint, values = self.urls.bind_to_environ(request.environ).match()
        except NotFound:
            return problem(404, "Not Found", f"{request.path}: no such API route (see {PREFIX}/openapi.json)")
        except HTTPException as exc:  # 405 and the like
            resp = problem(exc.code or 400, exc.name, exc.description or exc.name)
            if exc.code == 405:
                resp.headers["Allow"] = ", ".join(exc.valid_methods or [])  # type: ignore[attr-defined]
            return resp
        if endpoint == "openapi":
            return ok(document())
        if who is None:
            resp = problem(401, "Unauthorized", "log in, or send an API token as `Authorization: Bearer TOKEN`")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="refuge"'
            return resp
        if request.method not in ("GET", "HEAD") and who.csrf is not None:
            return problem(403, "Forbidden", "changes through the API need an API token (`refuge token create`), "
                                             "not the console's session")
        if not who.may(ROLE_OF[endpoint]):
            return problem(403, "Forbidden", f"{who.name} is a {who.role}; this needs the {ROLE_OF[endpoint]} role")
        handler: Callable[..., Response] = getattr(self, "do_" + endpoint)
        try:
            return handler(request, who, **values)
        except ops.Invalid as exc:
            return problem(400, "Bad Request", str(exc), exc.field)
        except ops.NotFound as exc:
            return problem(404, "Not Found", str(exc))
        except ops.Conflict as exc:
            return problem(409, "Conflict", str(exc), "name")
        except BadInput as exc:
            return problem(400, "Bad Request", str(exc), ops.field_of(str(exc)) or _field_in(str(exc)))

    # -- targets --------------------------------------------------------------------------

    def do_targets(self, request: Request, who: Principal) -> Response:
        return ok([_target_doc(r) for r in target_rows(self.engine)])

    def do_add_target(self, request: Request, who: Principal) -> Response:
        target = ops.add_target(self.settings, self.engine, _body(request), who.actor)
        doc = _target_doc(target_rows(self.engine, target.name)[0])
        return ok(doc, 201, Location=f"{PREFIX}/targets/{target.name}")

    def do_target(self, request: Request, who: Principal, name: str) -> Response:
        rows = target_rows(self.engine, ops.get_target(self.engine, name).name)
        return ok({**_target_doc(rows[0]), "captures": catalog.list_captures(self.engine, name, limit=30)})

    def do_change_target(self, request: Request, who: Principal, name: str) -> Response:
        ops.change_target(self.settings, self.engine, name, _body(request), who.actor)
        return ok(_target_doc(target_rows(self.engine, name)[0]))

    def do_remove_target(self, request: Request, who: Principal, name: str) -> Response:
        ops.remove_target(self.settings, self.engine, name, who.actor)
        return Response(status=204)

    def do_start_capture(self, request: Request, who: Principal, name: str) -> Response:
        started = self.background.capture(name, who.actor)
        where = f"{PREFIX}/captures/{started['capture']}" if started["capture"] else f"{PREFIX}/captures?target={name}"
        return ok({**started, "status_url": where}, 202, Location=where)

    def do_publish(self, request: Request, who: Principal, name: str) -> Response:
        return ok(self.background.upkeep("publish", who.actor, name), 202)

    # -- captures and their copies ----------------------------------------------------------

    def do_captures(self, request: Request, who: Principal) -> Response:
        args = request.args
        status = args.get("status")
        if status is not None and status not in CAPTURE_STATUSES:
            raise ops.Invalid("status", f"status: {status!r} is not one of {', '.join(CAPTURE_STATUSES)}")
        since = args.get("since")
        if since is not None and not _iso_time(since):
            raise ops.Invalid("since", f"since: {since!r} is not a UTC time like 2026-12-01T00:00:00Z")
        target = args.get("target")
        if target is not None:
            ops.get_target(self.engine, target)
        limit = _limit(args.get("limit"), 100, 1000)
        return ok(catalog.list_captures(self.engine, target, limit=limit, status=status, since=since))

    def do_capture(self, request: Request, who: Principal, capture_id: str) -> Response:
        return ok(capture_doc(self.engine, capture_id))

    def do_replicas(self, request: Request, who: Principal, capture_id: str) -> Response:
        ops.get_capture(self.engine, capture_id)
        return ok(replicas.copies(self.engine, capture_id))

    def do_verify(self, request: Request, who: Principal) -> Response:
        return ok(self.background.upkeep("verify", who.actor), 202)

    # -- a capture as one WACZ package: asked for, made in the background, downloaded --------

    def do_request_wacz(self, request: Request, who: Principal, capture_id: str) -> Response:
        try:
            doc, ready = self.background.packages.request(capture_id, who.actor)
        except ops.Conflict as exc:  # the capture is running: no field of the request is wrong
            return problem(409, "Conflict", str(exc))
        doc = _wacz_doc(doc)
        return ok(doc) if ready else ok(doc, 202, Location=doc["status_url"])

    def do_wacz(self, request: Request, who: Principal, capture_id: str) -> Response:
        doc = self.background.packages.status(capture_id)
        if doc is None:
            raise ops.NotFound(f"capture {capture_id}: no WACZ package made or asked for (or the one made is out "
                               f"of date): POST {PREFIX}/captures/{capture_id}/wacz to make one")
        return ok(_wacz_doc(doc))

    def do_download_wacz(self, request: Request, who: Principal, capture_id: str) -> Response:
        packages = self.background.packages
        download = packages.open(capture_id)
        if download is None:
            doc = packages.status(capture_id)
            if doc is not None and doc["status"] in ("queued", "packaging"):
                return problem(409, "Conflict", f"capture {capture_id}: its WACZ package is {doc['status']}; "
                                                f"ask {PREFIX}/captures/{capture_id}/wacz until it is ready")
            raise ops.NotFound(f"capture {capture_id}: no WACZ package ready"
                               + (f" (packaging failed: {doc['error']})" if doc and doc.get("error") else "")
                               + f": POST {PREFIX}/captures/{capture_id}/wacz to make one")
        if request.method == "GET":
            events.record(self.engine, who.actor, "wacz.download", capture_id, {"bytes": download.size})
        return send(download, request.environ)

    # -- mirrors ----------------------------------------------------------------------------

    def do_mirrors(self, request: Request, who: Principal) -> Response:
        target = request.args.get("target")
        if target is not None:
            ops.get_target(self.engine, target)
        history = mirrors.history(self.engine, target, limit=_limit(request.args.get("history"), 50, 1000))
        return ok({"mirrors": mirror_rows(self.engine, target),
                   "history": [{k: r[k] for k in ("checked_at", "target", "url", "vantage", "status", "detail",
                                                  "seconds")} for r in history]})

    def do_check(self, request: Request, who: Principal) -> Response:
        return ok(self.background.upkeep("check", who.actor), 202)

    # -- takedowns ----------------------------------------------------------------------------

    def do_hidden(self, request: Request, who: Principal) -> Response:
        return ok(hidden.list_hidden(self.engine, include_removed=request.args.get("all") in ("1", "true")))

    def do_hide(self, request: Request, who: Principal) -> Response:
        body = _body(request)
        for key in body:
            if key not in ("url", "reason", "prefix"):
                raise ops.Invalid(key, f"{key}: not a takedown field (fields: url, reason, prefix)")
        url, reason, prefix = body.get("url"), body.get("reason"), body.get("prefix", False)
        if not isinstance(url, str) or not url.strip():
            raise ops.Invalid("url", "url: required, the URL (or a prefix ending in *) to hide")
        if not isinstance(reason, str) or not reason.strip():
            raise ops.Invalid("reason", "reason: required, shown to readers in place of the page")
        if not isinstance(prefix, bool):
            raise ops.Invalid("prefix", "prefix: expected true or false")
        row = hidden.hide(self.engine, url, reason, who.actor, prefix=prefix)
        return ok(row, 201, Location=f"{PREFIX}/hidden/{row['id']}")

    def do_unhide(self, request: Request, who: Principal, hidden_id: int) -> Response:
        if not any(r["id"] == hidden_id for r in hidden.list_hidden(self.engine)):
            raise ops.NotFound(f"id: no takedown {hidden_id} in force")
        hidden.unhide(self.engine, hidden_id, who.actor)
        return Response(status=204)

    # -- the audit log and users ------------------------------------------------------------

    def do_events(self, request: Request, who: Principal) -> Response:
        args = request.args
        kind = args.get("kind")
        if kind is not None and kind not in ("change", "alert"):
            raise ops.Invalid("kind", f"kind: {kind!r} is not change or alert")
        since = args.get("since")
        if since is not None and not _iso_time(since):
            raise ops.Invalid("since", f"since: {since!r} is not a UTC time like 2026-12-01T00:00:00Z")
        before = args.get("before")
        if before is not None and not _NUMBER.fullmatch(before):
            raise ops.Invalid("before", f"before: {before!r} is not an event id")
        return ok(events.list_events(self.engine, kind=kind, since=since, before_id=int(before) if before else None,
                                     limit=_limit(args.get("limit"), 100, 1000)))

    def do_users(self, request: Request, who: Principal) -> Response:
        return ok(accounts.list_users(self.engine))

    def do_add_user(self, request: Request, who: Principal) -> Response:
        body = _body(request)
        for key in body:
            if key not in ("name", "role", "password"):
                raise ops.Invalid(key, f"{key}: not a user field (fields: name, role, password)")
        generated = not body.get("password")
        password = accounts.generate_password() if generated else body["password"]
        if not isinstance(password, str):
            raise ops.Invalid("password", "password: expected a string")
        user = accounts.add_user(self.engine, str(body.get("name", "")), str(body.get("role", "")), password,
                                 who.actor)
        return ok({**user, **({"password": password} if generated else {})}, 201,
                  Location=f"{PREFIX}/users/{user['name']}")

    def do_remove_user(self, request: Request, who: Principal, name: str) -> Response:
        if name not in {u["name"] for u in accounts.list_users(self.engine)}:
            raise ops.NotFound(f"name: no user called {name!r}")
        accounts.remove_user(self.engine, name, who.actor)
        return Response(status=204)


def capture_doc(engine: Engine, capture_id: str) -> dict[str, Any]:
    """A capture with its failures and files (what GET /captures/{id} answers)."""
    doc = ops.get_capture(engine, capture_id)
    files = [{k: f[k] for k in ("name", "kind", "sha256", "size", "records")}
             for f in catalog.capture_files(engine, capture_id)]
    return {**doc, "failures": catalog.failures_of(engine, capture_id), "warc_files": files}


def _wacz_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """A package's state with where to ask for it again and, once ready, where to fetch it."""
    status_url = f"{PREFIX}/captures/{doc['capture']}/wacz"
    return {**doc, "status_url": status_url,
            "download_url": status_url + "/download" if doc["status"] == "ready" else None}


def _target_doc(row: dict[str, Any]) -> dict[str, Any]:
    """A target as the API shows it: `refuge targets --json`, with the schedule as fields."""
    every = row.get("every_seconds")
    return {**{k: v for k, v in row.items() if k != "every_seconds"},
            "every": format_duration(every) if every else None}


def _body(request: Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ops.Invalid("body", f"body: larger than {MAX_BODY // 1024} KB")
    if request.mimetype != "application/json":
        raise ops.Invalid("body", "body: send JSON with Content-Type: application/json")
    raw = request.get_data(cache=True)[:MAX_BODY + 1]
    if len(raw) > MAX_BODY:
        raise ops.Invalid("body", f"body: larger than {MAX_BODY // 1024} KB")
    try:
        doc = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ops.Invalid("body", f"body: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ops.Invalid("body", "body: expected a JSON object")
    return doc


def _limit(raw: str | None, default: int, most: int) -> int:
    if raw is None:
        return default
    if not _NUMBER.fullmatch(raw) or not 1 <= int(raw) <= most:
        raise ops.Invalid("limit", f"limit: {raw!r} must be a whole number from 1 to {most}")
    return int(raw)


def _iso_time(text: str) -> bool:
    return _TIME.fullmatch(text) is not None


def _field_in(message: str) -> str | None:
    head = message.split(":", 1)[0]
    return head if head.isidentifier() else None
