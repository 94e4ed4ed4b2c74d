"""Console logins: sessions and the failed-login throttle, in the catalog so every admin
server of a cluster sees the same ones.

A session id is 256 random bits; the browser's cookie holds it and the catalog its
SHA-256, so a copy of the catalog logs nobody in. Each session has its own CSRF token
(the double-submit value every form carries).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from refuge.storage.catalog.db import iso, now_iso, utcnow
from refuge.storage.catalog.schema import admin_sessions, login_failures, users

FAILURES_ALLOWED = 5  # failed logins per account, and per address, in WINDOW
WINDOW = 60.0


def start_session(engine: Engine, user_id: int, address: str, hours: float) -> tuple[str, str]:
    """A new session for USER_ID: (its id for the cookie, its CSRF token)."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at < iso(now)))
        conn.execute(insert(admin_sessions).values(
            id_sha256=sha256_hex(sid), user_id=user_id, csrf=csrf, created_at=iso(now),
            expires_at=iso(now + timedelta(hours=hours)), address=address[:64]))
    return sid, csrf


def session_user(engine: Engine, sid: str) -> dict[str, Any] | None:
    """{name, role, csrf} of the live session SID, or None (unknown or expired)."""
    if not sid or len(sid) > 100:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.name, users.c.role, admin_sessions.c.csrf, admin_sessions.c.expires_at)
            .join(users, users.c.id == admin_sessions.c.user_id)
            .where(admin_sessions.c.id_sha256 == sha256_hex(sid))).mappings().first()
    if row is None or row["expires_at"] <= now_iso():
        return None
    return {"name": row["name"], "role": row["role"], "csrf": row["csrf"]}


def end_session(engine: Engine, sid: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(admin_sessions).where(admin_sessions.c.id_sha256 == sha256_hex(sid)))


def end_sessions_of(conn: Connection, name: str) -> None:
    """End every session of user NAME, in the caller's transaction."""
    ids = select(users.c.id).where(users.c.name == name).scalar_subquery()
    conn.execute(delete(admin_sessions).where(admin_sessions.c.user_id == ids))


def throttled(engine: Engine, account: str, address: str) -> bool:
    """Whether ACCOUNT or ADDRESS has failed FAILURES_ALLOWED logins in the last WINDOW seconds."""
    since = time.time() - WINDOW
    with engine.connect() as conn:
        by_account = conn.execute(select(func.count()).select_from(login_failures).where(
            (login_failures.c.account == account[:63]) & (login_failures.c.at > since))).scalar_one()
        by_address = conn.execute(select(func.count()).select_from(login_failures).where(
            (login_failures.c.address == address[:64]) & (login_failures.c.at > since))).scalar_one()
    return max(by_account, by_address) >= FAILURES_ALLOWED


def note_failure(engine: Engine, account: str, address: str) -> None:
    now = time.time()
    with engine.begin() as conn:
        conn.execute(delete(login_failures).where(login_failures.c.at < now - WINDOW))
        conn.execute(insert(login_failures).values(account=account[:63], address=address[:64], at=now))


def sha256_hex(text: str) -> str:
    """What the catalog keeps of a session id or a token: its SHA-256, in hex."""
    return hashlib.sha256(text.encode()).hexdigest()
