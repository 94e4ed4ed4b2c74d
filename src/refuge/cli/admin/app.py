"""The admin server's WSGI application: the console, the API and /metrics on their own
origin, never the replay server's.

    /api/v1/...              the API (api.py; its document at /api/v1/openapi.json)
    /metrics                 Prometheus text format (a viewer's token or session)
    /healthz                 200 "ok"
    /static/console.css      the console's one stylesheet
    everything else          the console (console.py)

Every answer forbids framing, sniffing, referrers and caching, and carries a Content-
Security-Policy that allows no script at all: the console needs none, so an injected
one could not run. A request whose Host is not the admin server's own is refused,
so a page elsewhere cannot reach the console through a name it made resolve here (DNS
rebinding). Archived pages cannot reach it either: the replay server serves them
sandboxed, with connect-src limited to the replay origin.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from refuge.cli.admin import auth
from refuge.cli.admin.api import PREFIX, Api, problem
from refuge.cli.admin.background import Background
from refuge.cli.admin.console import Console
from refuge.cli.admin.html import CSS
from refuge.config.settings import Settings

log = logging.getLogger(__name__)

HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
MAX_BODY = 3 * 1024 * 1024  # a form with an uploaded database spec; the server refuses a bigger body too


def allowed_hosts(settings: Settings, port: int) -> set[str]:
    """The Host header values the admin server answers to."""
    if settings.admin_public_url:
        return {urlsplit(settings.admin_public_url).netloc.lower()}
    names = {settings.admin_host, "localhost", "127.0.0.1", "[::1]"}
    return {f"{n}:{port}".lower() for n in names} | ({settings.admin_host.lower()} if port in (80, 443) else set())


class AdminApp:
    def __init__(self, settings: Settings, engine: Engine, background: Background) -> None:
        self.settings = settings
        self.engine = engine
        self.api = Api(settings, engine, background)
        self.console = Console(settings, engine, background)
        self.hosts: set[str] | None = None  # set by the server once it knows its port

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        request.max_form_memory_size = MAX_BODY
        try:
            response = self.dispatch(request)
        except HTTPException as exc:  # a body over MAX_BODY, say: werkzeug's own answer (413)
            response = problem(exc.code or 400, exc.name, exc.description or exc.name)
        except Exception:  # noqa: BLE001 - one bad request must not take the console down
            log.exception("admin request failed: %s %s", request.method, request.path)
            response = problem(500, "Internal Server Error", "something went wrong on the server; see its log")
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if self.hosts is None:  # not listening yet: nothing is answered before the names are known
            return problem(503, "Service Unavailable", "the admin server is starting")
        if request.host.lower() not in self.hosts:
            return problem(421, "Misdirected Request", f"Host {request.host!r} is not this admin server's name "
                                                       "(set admin_public_url to the name admins use)")
        path = request.path
        if path == "/healthz":
            return Response("ok\n", content_type="text/plain; charset=utf-8")
        if path == "/static/console.css":
            return Response(CSS, content_type="text/css; charset=utf-8")
        who = auth.principal(self.settings, self.engine, request)
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.api.handle(request, who)
        if path == "/metrics":
            return self.metrics(who)
        return self.console.handle(request, who)

    def metrics(self, who: auth.Principal | None) -> Response:
        if who is None:
            resp = problem(401, "Unauthorized", "send a viewer's API token as `Authorization: Bearer TOKEN`")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="refuge"'
            return resp
        from refuge.cli.admin.metrics import render

        body, content_type = render(self.settings, self.engine)
        return Response(body, content_type=content_type)
