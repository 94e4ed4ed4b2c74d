"""Who is asking the admin server, and whether they may.

Two ways in: a console session (a cookie set at login, HttpOnly, SameSite=Strict, Secure
and `__Host-` prefixed when `admin_public_url` is https) or an API token
(`Authorization: Bearer rfg_...`). A session carries a CSRF token that every form
posts back; the API takes a session only for reading (GET), so a change through the
API always carries a token no other site can make a browser send.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine
from werkzeug.wrappers import Request, Response

from refuge.config.settings import Settings
from refuge.storage.catalog import accounts, sessions
from refuge.storage.catalog.events import Actor

LOGIN_CSRF_COOKIE = "refuge_login"


@dataclass(frozen=True)
class Principal:
    """Someone signed in: a user (by session) or a token."""

    name: str  # the user's name, or "token:NAME"
    role: str
    csrf: str | None  # the session's CSRF token; None for a token
    address: str

    def may(self, needed: str) -> bool:
        return accounts.allows(self.role, needed)

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.address)


def secure(settings: Settings) -> bool:
    return settings.admin_public_url.startswith("https://")


def cookie_name(settings: Settings) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless Secure, host-only and Path=/.
    return "__Host-refuge_admin" if secure(settings) else "refuge_admin"


def address_of(request: Request) -> str:
    return (request.remote_addr or "unknown")[:64]


def principal(settings: Settings, engine: Engine, request: Request) -> Principal | None:
    """Who REQUEST comes from, or None."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        owner = accounts.token_owner(engine, token.strip()) if scheme.lower() == "bearer" else None
        return Principal(f"token:{owner['name']}", owner["role"], None, address_of(request)) if owner else None
    sid = request.cookies.get(cookie_name(settings), "")
    user = sessions.session_user(engine, sid) if sid else None
    if user is None:
        return None
    return Principal(user["name"], user["role"], user["csrf"], address_of(request))


def csrf_ok(who: Principal, sent: str | None) -> bool:
    return bool(who.csrf and sent) and hmac.compare_digest(who.csrf.encode(), (sent or "").encode())


def login_csrf(request: Request) -> str:
    """The login form's CSRF value: the one in the browser's cookie, or a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def login_csrf_ok(request: Request) -> bool:
    cookie, sent = request.cookies.get(LOGIN_CSRF_COOKIE, ""), request.form.get("csrf", "")
    return bool(cookie and sent) and hmac.compare_digest(cookie.encode(), sent.encode())


def set_login_csrf(settings: Settings, response: Response, value: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, value, max_age=3600, httponly=True, samesite="Strict",
                        secure=secure(settings), path="/")


def set_session(settings: Settings, response: Response, sid: str) -> None:
    response.set_cookie(cookie_name(settings), sid, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="Strict", secure=secure(settings), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")


def clear_session(settings: Settings, response: Response) -> None:
    response.delete_cookie(cookie_name(settings), path="/", secure=secure(settings), samesite="Strict",
                           httponly=True)
