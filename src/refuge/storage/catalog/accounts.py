"""Admin console accounts and API tokens: who may do what.

Roles, each with the rights of the ones before it:
    viewer     reads status
    archivist  also verifies, diffs, exports and downloads captures and datasets
    admin      also changes targets, starts captures, takes content down and manages users

Passwords are kept as argon2id hashes; tokens (256 random bits) as their SHA-256. Neither
is ever stored, logged or returned in the clear after it is made. Every change is
recorded in the audit log in its own transaction (events.record).
"""

from __future__ import annotations

import re
import secrets
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from refuge.config.errors import BadInput
from refuge.storage.catalog.db import now_iso
from refuge.storage.catalog.events import CLI, CLI_ACTOR, SYSTEM, Actor, record
from refuge.storage.catalog.schema import api_tokens, users
from refuge.storage.catalog.sessions import end_sessions_of, sha256_hex

ROLES = ("viewer", "archivist", "admin")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; a limit keeps a login request from being a CPU bill
TOKEN_PREFIX = "rfg_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,62}")
# The audit log's names for the server's shell and for Refuge itself: no account may pass for them.
RESERVED = frozenset({CLI, SYSTEM})

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """Verified when the account does not exist, so a missing name takes as long as a wrong
    password. Made on first use: every `refuge` command imports this module."""
    return _hasher.hash(secrets.token_hex(16))


def allows(role: str, needed: str) -> bool:
    """Whether ROLE has the rights of NEEDED."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadInput(f"{what}: {name!r} is not a valid name (letters, digits, . _ @ -; at most 63 characters)")
    if name.lower() in RESERVED:
        raise BadInput(f"{what}: {name!r} is reserved (the audit log uses it for the server itself)")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInput(f"role: {role!r} is not one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadInput(f"password: must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadInput(f"password: must be at most {MAX_PASSWORD} characters")
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


# -- users ------------------------------------------------------------------------------------

def add_user(engine: Engine, name: str, role: str, password: str, actor: Actor) -> dict[str, Any]:
    check_name(name)
    check_role(role)
    hashed = _hasher.hash(check_password(password))
    now = now_iso()
    try:
        with engine.begin() as conn:
            conn.execute(insert(users).values(name=name, role=role, password_hash=hashed, created_at=now,
                                              updated_at=now))
            record(conn, actor, "user.add", name, {"role": role})
    except IntegrityError:
        raise BadInput(f"name: a user called {name!r} exists already") from None
    return get_user(engine, name)


def get_user(engine: Engine, name: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(users.c.id, users.c.name, users.c.role, users.c.created_at, users.c.updated_at)
                           .where(users.c.name == name)).mappings().first()
    if row is None:
        raise BadInput(f"name: no user called {name!r}")
    return dict(row)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(users.c.id, users.c.name, users.c.role, users.c.created_at, users.c.updated_at)
                            .order_by(users.c.name)).mappings().all()
    return [dict(r) for r in rows]


def set_password(engine: Engine, name: str, password: str, actor: Actor) -> None:
    hashed = _hasher.hash(check_password(password))
    with engine.begin() as conn:
        done = conn.execute(update(users).where(users.c.name == name)
                            .values(password_hash=hashed, updated_at=now_iso()))
        if done.rowcount != 1:
            raise BadInput(f"name: no user called {name!r}")
        # A new password ends every session of the old one.
        end_sessions_of(conn, name)
        record(conn, actor, "user.passwd", name)


def remove_user(engine: Engine, name: str, actor: Actor) -> None:
    with engine.begin() as conn:
        role = conn.execute(select(users.c.role).where(users.c.name == name)).scalar()
        if role is None:
            raise BadInput(f"name: no user called {name!r}")
        if role == "admin" and _admins(conn) == 1 and actor != CLI_ACTOR:
            # Only someone with a shell on the server may lock the console's last admin out.
            raise BadInput(f"name: {name!r} is the last admin; make another admin first")
        end_sessions_of(conn, name)
        conn.execute(delete(users).where(users.c.name == name))
        record(conn, actor, "user.remove", name, {"role": role})


def _admins(conn: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(users).where(users.c.role == "admin")).scalar_one())


def authenticate(engine: Engine, name: str, password: str) -> dict[str, Any] | None:
    """The user NAME if PASSWORD is theirs, else None (in about the same time either way)."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
    stored = row["password_hash"] if row is not None else _dummy_hash()
    try:
        _hasher.verify(stored, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(stored):  # parameters raised since it was set: upgrade quietly
        with engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == row["id"])
                         .values(password_hash=_hasher.hash(password)))
    return {"id": row["id"], "name": row["name"], "role": row["role"]}


# -- API tokens ---------------------------------------------------------------------------------

def create_token(engine: Engine, name: str, role: str, actor: Actor) -> tuple[str, dict[str, Any]]:
    """A new token called NAME with ROLE: (the token, shown once, and its row)."""
    check_name(name)
    check_role(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with engine.begin() as conn:
            conn.execute(insert(api_tokens).values(
                name=name, role=role, token_sha256=sha256_hex(token), prefix=token[:10], created_at=now_iso(),
                created_by=actor.name[:80]))
            record(conn, actor, "token.create", name, {"role": role})
    except IntegrityError:
        raise BadInput(f"name: a token called {name!r} exists, or existed (a revoked token's name stays "
                       "taken, so the audit log stays clear): choose another name") from None
    return token, next(t for t in list_tokens(engine) if t["name"] == name)


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    cols = [api_tokens.c[k] for k in ("id", "name", "role", "prefix", "created_at", "created_by", "last_used_at",
                                      "revoked_at")]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(*cols).order_by(api_tokens.c.name)).mappings()]


def revoke_token(engine: Engine, name: str, actor: Actor) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(api_tokens).where((api_tokens.c.name == name) & api_tokens.c.revoked_at.is_(None))
                            .values(revoked_at=now_iso()))
        if done.rowcount != 1:
            raise BadInput(f"name: no live token called {name!r}")
        record(conn, actor, "token.revoke", name)


def token_owner(engine: Engine, token: str) -> dict[str, Any] | None:
    """The live token TOKEN is ({name, role}), or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = sha256_hex(token)
    with engine.connect() as conn:
        row = conn.execute(select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role, api_tokens.c.last_used_at)
                           .where((api_tokens.c.token_sha256 == digest) & api_tokens.c.revoked_at.is_(None))
                           ).mappings().first()
    if row is None:
        return None
    now = now_iso()
    if row["last_used_at"] is None or row["last_used_at"][:16] != now[:16]:  # at most one write a minute
        with engine.begin() as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == row["id"]).values(last_used_at=now))
    return {"name": row["name"], "role": row["role"]}
