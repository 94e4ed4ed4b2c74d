"""The catalog database: connecting, and bringing a catalog up to the current schema."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from refuge.storage.catalog import schema
from refuge.storage.catalog.schema import metadata, schema_state


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return iso(utcnow())


def parse_iso(text: str) -> datetime:
    """A catalog time ('2026-11-27T23:41:47Z') as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def connect(url: str, create: bool = True, pool: int | None = None) -> Engine:
    """An engine for the catalog at URL, with the tables created if missing (unless the
    caller knows they exist: a capture's worker processes). POOL, if given, is the most
    connections it ever holds open (a thread that finds them all in use waits for one);
    otherwise SQLAlchemy's default pool."""
    sizing: dict[str, Any] = {} if pool is None else {"pool_size": pool, "max_overflow": 0}
    engine = create_engine(url, pool_pre_ping=True, **sizing)
    if engine.dialect.name == "sqlite":
        if engine.url.database and engine.url.database != ":memory:":
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the replay server read while a capture writes; busy_timeout makes
            # concurrent writers wait instead of failing.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    if create and not _schema_is_current(engine):
        with _one_at_a_time(engine):
            if not _schema_is_current(engine):  # not brought up meanwhile by another process
                metadata.create_all(engine)
                _add_new_columns(engine)
                _byte_order_urlkeys(engine)
                _add_new_indexes(engine)
                _mark_schema_current(engine)
    return engine


_SCHEMA_LOCK = 7_203_418_910  # a PostgreSQL advisory lock key: one process changes the schema at a time


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """Held while the schema is made or brought up: on PostgreSQL an advisory lock, so two
    workers starting on a new database do not both create its tables (SQLite's own file
    lock does that there)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK})


def _add_new_indexes(engine: Engine) -> None:
    """Indexes added to an existing table since a catalog was made (create_all makes a
    table's indexes only with the table)."""
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)


@lru_cache(maxsize=1)
def _schema_id() -> str | None:
    """The hash of the schema's source: what a catalog brought up to it records."""
    try:
        return hashlib.sha256(Path(schema.__file__).read_bytes()).hexdigest()[:32]
    except OSError:
        return None


def _schema_is_current(engine: Engine) -> bool:
    # Checking every table and column on every command cost a good part of connecting
    # (most on PostgreSQL): one row says the catalog is as this schema makes it.
    wanted = _schema_id()
    if wanted is None:
        return False
    try:
        with engine.connect() as conn:
            found = conn.execute(select(schema_state.c.value).where(schema_state.c.key == "schema")).scalar()
    except DBAPIError:  # no such table: a catalog from before the row, or a new one
        return False
    return found == wanted


def _mark_schema_current(engine: Engine) -> None:
    wanted = _schema_id()
    if wanted is None:
        return
    try:
        with engine.begin() as conn:
            conn.execute(delete(schema_state).where(schema_state.c.key == "schema"))
            conn.execute(insert(schema_state).values(key="schema", value=wanted))
    except IntegrityError:  # another process marked it at the same moment
        pass


def _byte_order_urlkeys(engine: Engine) -> None:
    """A PostgreSQL catalog made before the cdx table's urlkey said COLLATE "C" (schema.URLKEY):
    the column is given it, which rebuilds its index in that order."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        found = conn.execute(text("SELECT collation_name FROM information_schema.columns "
                                  "WHERE table_schema = current_schema() AND table_name = 'cdx' "
                                  "AND column_name = 'urlkey'")).scalar()
        if found != "C":
            conn.execute(text('ALTER TABLE cdx ALTER COLUMN urlkey TYPE text COLLATE "C"'))


def _add_new_columns(engine: Engine) -> None:
    """Columns added to an existing table since a catalog was made (create_all only makes
    missing tables): added as nullable columns, the one kind of change made so far."""
    existing = inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            have = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


