"""The admin console: server-rendered pages and plain HTML forms, no script.

Every page but /login needs a session (a browser without one is sent to /login); every
POST needs the session's CSRF token, and logging in needs the one set with the login
form. Five failed logins in a minute for one account or from one address make the
next attempt answer 429 without checking the password. The same roles as the API
decide who may see and press what; changes go through operations.py and land in the
audit log with the user's name and address.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any, Callable

from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from refuge.cli.admin import auth
from refuge.cli.admin import console_pages as pages
from refuge.cli.admin import operations as ops
from refuge.cli.admin.api import capture_doc
from refuge.cli.admin.background import Background
from refuge.cli.admin.html import LANGS, page, word
from refuge.cli.admin.packages import send
from refuge.cli.status import mirror_rows, target_rows
from refuge.config.errors import BadInput, Failure
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import accounts, events, sessions
from refuge.storage.warc.files import warc_files

# (rule, methods, endpoint, role needed)
ROUTES = [
    ("/", ["GET"], "dashboard", "viewer"),
    ("/targets/new", ["GET", "POST"], "add_target", "admin"),
    ("/targets/<name>", ["GET"], "target", "viewer"),
    ("/targets/<name>/capture", ["POST"], "capture_now", "admin"),
    ("/targets/<name>/publish", ["POST"], "publish_now", "admin"),
    ("/targets/<name>/remove", ["POST"], "remove_target", "admin"),
    ("/captures/<capture_id>", ["GET"], "capture", "viewer"),
    ("/captures/<capture_id>/files/<file_name>", ["GET"], "download", "archivist"),
    ("/captures/<capture_id>/wacz", ["POST"], "package_wacz", "archivist"),
    ("/captures/<capture_id>/wacz", ["GET"], "download_wacz", "archivist"),
    ("/verify", ["POST"], "verify", "archivist"),
    ("/check", ["POST"], "check", "archivist"),
    ("/mirrors", ["GET"], "mirrors", "viewer"),
    ("/hidden", ["GET", "POST"], "hidden", "viewer"),
    ("/hidden/<int:hidden_id>/remove", ["POST"], "unhide", "admin"),
    ("/users", ["GET", "POST"], "users", "admin"),
    ("/users/<name>/remove", ["POST"], "remove_user", "admin"),
    ("/audit", ["GET"], "audit", "viewer"),
]
ROLE_OF = {endpoint: role for _, _, endpoint, role in ROUTES}
CHUNK = 256 * 1024


def language(request: Request) -> str:
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in LANGS:
        return chosen
    return request.accept_languages.best_match(LANGS, default="en") or "en"


class Console:
    def __init__(self, settings: Settings, engine: Engine, background: Background) -> None:
        self.settings = settings
        self.engine = engine
        self.background = background
        self.urls = Map([Rule(rule, methods=methods, endpoint=endpoint) for rule, methods, endpoint, _ in ROUTES]
                        + [Rule("/login", methods=["GET", "POST"], endpoint="login"),
                           Rule("/logout", methods=["POST"], endpoint="logout")])

    def handle(self, request: Request, who: auth.Principal | None) -> Response:
        lang = language(request)
        try:
            endpoint, values = self.urls.bind_to_environ(request.environ).match()
        except NotFound:
            return self.message(404, word("not_found", lang), lang, who)
        except HTTPException as exc:
            return exc.get_response()  # type: ignore[return-value]
        if endpoint == "login":
            response = self.login(request, lang)
        elif who is None or who.csrf is None:  # a token is for the API, not the console
            response = redirect("/login", 303)
        elif request.method == "POST" and not auth.csrf_ok(who, request.form.get("csrf")):
            response = self.message(403, word("bad_form", lang), lang, who)
        elif endpoint == "logout":
            response = self.logout(request)
        elif not who.may(ROLE_OF[endpoint]):
            response = self.message(403, word("forbidden", lang), lang, who)
        else:
            handler: Callable[..., Response] = getattr(self, "do_" + endpoint)
            try:
                response = handler(request, who, lang, **values)
            except ops.NotFound as exc:
                response = self.message(404, str(exc), lang, who)
            except BadInput as exc:
                response = self.message(400, str(exc), lang, who)
        if request.args.get("lang") in LANGS:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Strict", httponly=True)
        return response

    # -- frame ------------------------------------------------------------------------------

    def render(self, title: str, body: str, lang: str, who: auth.Principal | None, status: int = 200,
               head: str = "") -> Response:
        markup = page(title, body, lang, user=who.name if who else None, role=who.role if who else None,
                      csrf=who.csrf if who else None, head=head)
        return Response(markup, status=status, content_type="text/html; charset=utf-8")

    def message(self, status: int, text: str, lang: str, who: auth.Principal | None) -> Response:
        return self.render(str(status), pages.message(text), lang, who if who and who.csrf else None, status)

    # -- logging in and out -----------------------------------------------------------------

    def login(self, request: Request, lang: str) -> Response:
        csrf = auth.login_csrf(request)
        if request.method == "GET":
            resp = self.render(word("login", lang), pages.login_form(lang, csrf), lang, None)
            auth.set_login_csrf(self.settings, resp, csrf)
            return resp
        name, password = request.form.get("name", "")[:63], request.form.get("password", "")
        address = auth.address_of(request)
        if not auth.login_csrf_ok(request):
            return self.message(403, word("bad_form", lang), lang, None)
        if sessions.throttled(self.engine, name, address):
            resp = self.render(word("login", lang), pages.login_form(lang, csrf, word("too_many", lang), name),
                               lang, None, 429)
            resp.headers["Retry-After"] = str(int(sessions.WINDOW))
            return resp
        user = accounts.authenticate(self.engine, name, password)
        if user is None:
            sessions.note_failure(self.engine, name, address)
            return self.render(word("login", lang), pages.login_form(lang, csrf, word("wrong_login", lang), name),
                               lang, None, 401)
        sid, _ = sessions.start_session(self.engine, user["id"], address, self.settings.session_hours)
        events.record(self.engine, events.Actor(user["name"], address), "login", user["name"])
        resp = redirect("/", 303)
        auth.set_session(self.settings, resp, sid)
        return resp

    def logout(self, request: Request) -> Response:
        sessions.end_session(self.engine, request.cookies.get(auth.cookie_name(self.settings), ""))
        resp = redirect("/login", 303)
        auth.clear_session(self.settings, resp)
        return resp

    # -- status -----------------------------------------------------------------------------

    def do_dashboard(self, request: Request, who: auth.Principal, lang: str) -> Response:
        vantages: dict[str, dict[str, dict[str, str]]] = {}
        for m in mirror_rows(self.engine):
            vantages.setdefault(m["target"], {})[m["url"]] = m["vantages"]
        body = pages.dashboard(lang, target_rows(self.engine), vantages, who.role, who.csrf or "")
        return self.render(word("dashboard", lang), body, lang, who)

    def do_target(self, request: Request, who: auth.Principal, lang: str, name: str) -> Response:
        target = ops.get_target(self.engine, name)
        row = target_rows(self.engine, target.name)[0]
        captures = catalog.list_captures(self.engine, name, limit=30)
        return self.render(name, pages.target_page(lang, row, captures, who.role, who.csrf or ""), lang, who)

    def do_capture(self, request: Request, who: auth.Principal, lang: str, capture_id: str) -> Response:
        doc = capture_doc(self.engine, capture_id)
        package = self.background.packages.status(capture_id) if who.may("archivist") else None
        packaging = package is not None and package["status"] in ("queued", "packaging")
        # Without script, a running capture's page (or one being packaged) shows its progress by reloading itself;
        # to its URL without a fragment, which Chromium would take for a move within the page, never reloading.
        refresh = f'<meta http-equiv="refresh" content="3; url=/captures/{escape(capture_id)}">'
        head = refresh if doc["status"] == "running" or packaging else ""
        body = pages.capture_page(lang, doc, who.role, who.csrf or "", package)
        return self.render(f'{word("capture", lang)} {capture_id}', body, lang, who, head=head)

    def do_package_wacz(self, request: Request, who: auth.Principal, lang: str, capture_id: str) -> Response:
        try:
            self.background.packages.request(capture_id, who.actor)
        except ops.Conflict as exc:
            return self.message(409, str(exc), lang, who)
        return redirect(f"/captures/{capture_id}", 303)

    def do_download_wacz(self, request: Request, who: auth.Principal, lang: str, capture_id: str) -> Response:
        download = self.background.packages.open(capture_id)
        if download is None:
            return self.message(404, word("wacz_none", lang), lang, who)
        if request.method == "GET":
            events.record(self.engine, who.actor, "wacz.download", capture_id, {"bytes": download.size})
        return send(download, request.environ)

    def do_download(self, request: Request, who: auth.Principal, lang: str, capture_id: str,
                    file_name: str) -> Response:
        ops.get_capture(self.engine, capture_id)
        found = [f for f in catalog.capture_files(self.engine, capture_id) if f["name"] == file_name]
        if not found:
            raise ops.NotFound(f"file {file_name!r}: not a file of capture {capture_id}")
        f = found[0]
        try:
            fh = warc_files(self.settings, self.engine).open(f["path"], 0, f["size"])
        except Failure as exc:
            return self.message(503, str(exc), lang, who)
        events.record(self.engine, who.actor, "capture.download", file_name, {"capture": capture_id})

        def chunks() -> Any:
            with fh:
                fh.seek(0)
                while block := fh.read(CHUNK):
                    yield block

        return Response(chunks(), content_type="application/octet-stream", direct_passthrough=True,
                        headers={"Content-Length": str(f["size"]),
                                 "Content-Disposition": f'attachment; filename="{file_name}"',
                                 "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(f['sha256'])).decode()}:"})

    def do_mirrors(self, request: Request, who: auth.Principal, lang: str) -> Response:
        body = pages.mirrors_page(lang, mirror_rows(self.engine), who.role, who.csrf or "")
        return self.render(word("mirrors", lang), body, lang, who)

    def do_audit(self, request: Request, who: auth.Principal, lang: str) -> Response:
        before = request.args.get("before", "")
        number = before.isascii() and before.isdigit() and len(before) <= 9
        rows = events.list_events(self.engine, before_id=int(before) if number else None, limit=100)
        older = rows[-1]["id"] if len(rows) == 100 else None
        return self.render(word("audit", lang), pages.audit_page(lang, rows, older), lang, who)

    # -- changes ----------------------------------------------------------------------------

    def do_add_target(self, request: Request, who: auth.Principal, lang: str) -> Response:
        if request.method == "GET":
            return self.render(word("add_target", lang), pages.target_form(lang, who.csrf or "", {}), lang, who)
        values = {k: request.form.get(k, "").strip() for k in ops.TARGET_FIELDS}
        upload = request.files.get("spec_file")
        if upload is not None and upload.filename:
            raw = upload.read(ops.MAX_SPEC_TEXT + 1)
            if len(raw) > ops.MAX_SPEC_TEXT:
                body = pages.target_form(lang, who.csrf or "", values,
                                         f"database: the spec file is larger than {ops.MAX_SPEC_TEXT // 1024} KB",
                                         "database")
                return self.render(word("add_target", lang), body, lang, who, 400)
            values["database"] = raw.decode("utf-8-sig", "replace")
        fields: dict[str, Any] = {k: v for k, v in values.items() if v}
        if fields.get("database") and fields.get("kind") == "site":
            del fields["kind"]  # the form's default: a spec given makes it a database target, as in the API
        for key in ("max_pages", "max_depth"):
            if key in fields:
                fields[key] = int(fields[key]) if fields[key].isdigit() else -1
        for key in ("include", "exclude"):
            if key in fields:
                fields[key] = [line.strip() for line in fields[key].splitlines() if line.strip()]
        try:
            target = ops.add_target(self.settings, self.engine, fields, who.actor)
        except BadInput as exc:
            field = getattr(exc, "field", "")
            line = ops.spec_error_line(str(exc)) if field == "database" else None
            body = pages.target_form(lang, who.csrf or "", values, str(exc), field, line)
            return self.render(word("add_target", lang), body, lang, who, 409 if isinstance(exc, ops.Conflict) else 400)
        return redirect(f"/targets/{target.name}", 303)

    def do_capture_now(self, request: Request, who: auth.Principal, lang: str, name: str) -> Response:
        try:
            started = self.background.capture(name, who.actor)
        except ops.Conflict as exc:
            return self.message(409, str(exc), lang, who)
        return redirect(f"/captures/{started['capture']}" if started["capture"] else f"/targets/{name}", 303)

    def do_publish_now(self, request: Request, who: auth.Principal, lang: str, name: str) -> Response:
        self.background.upkeep("publish", who.actor, name)
        return redirect("/mirrors", 303)

    def do_remove_target(self, request: Request, who: auth.Principal, lang: str, name: str) -> Response:
        ops.remove_target(self.settings, self.engine, name, who.actor)
        return redirect("/", 303)

    def do_verify(self, request: Request, who: auth.Principal, lang: str) -> Response:
        self.background.upkeep("verify", who.actor)
        return redirect("/", 303)

    def do_check(self, request: Request, who: auth.Principal, lang: str) -> Response:
        self.background.upkeep("check", who.actor)
        return redirect("/mirrors", 303)

    def do_hidden(self, request: Request, who: auth.Principal, lang: str) -> Response:
        from refuge.storage.catalog import hidden

        error = ""
        if request.method == "POST":
            if not who.may("admin"):
                return self.message(403, word("forbidden", lang), lang, who)
            try:
                hidden.hide(self.engine, request.form.get("url", ""), request.form.get("reason", ""), who.actor,
                            prefix=request.form.get("prefix") == "1")
                return redirect("/hidden", 303)
            except BadInput as exc:
                error = str(exc)
        body = pages.hidden_page(lang, hidden.list_hidden(self.engine), who.role, who.csrf or "", error)
        return self.render(word("hidden", lang), body, lang, who, 400 if error else 200)

    def do_unhide(self, request: Request, who: auth.Principal, lang: str, hidden_id: int) -> Response:
        from refuge.storage.catalog import hidden

        hidden.unhide(self.engine, hidden_id, who.actor)
        return redirect("/hidden", 303)

    def do_users(self, request: Request, who: auth.Principal, lang: str) -> Response:
        error = created = ""
        if request.method == "POST":
            password = request.form.get("password", "")
            try:
                generated = not password
                password = password or accounts.generate_password()
                accounts.add_user(self.engine, request.form.get("name", ""), request.form.get("role", ""), password,
                                  who.actor)
                created = password if generated else ""
            except BadInput as exc:
                error = str(exc)
        body = pages.users_page(lang, accounts.list_users(self.engine), who.csrf or "", error, created)
        resp = self.render(word("users", lang), body, lang, who, 400 if error else 200)
        return resp

    def do_remove_user(self, request: Request, who: auth.Principal, lang: str, name: str) -> Response:
        accounts.remove_user(self.engine, name, who.actor)
        return redirect("/users", 303)
