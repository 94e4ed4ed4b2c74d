"""The catalog's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are stored as ISO 8601 UTC text ('2026-11-27T23:41:47Z'): sortable, readable
in a SQL shell, and identical on both engines.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)

metadata = MetaData()

# SURT keys are ordered byte by byte, as pywb's indexes are: the CDX server's prefix, host
# and domain queries are key ranges, right only in that order. SQLite compares bytes; a
# PostgreSQL database made with a locale would ignore punctuation, so the column says "C".
URLKEY = Text().with_variant(Text(collation="C"), "postgresql")

# Which schema the catalog was last brought up to (storage.catalog.connect): one row,
# key "schema", value the hash of this module's source.
schema_state = Table(
    "refuge_schema", metadata,
    Column("key", String(32), primary_key=True),
    Column("value", String(64), nullable=False),
)

targets = Table(
    "targets", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("kind", String(16), nullable=False, server_default="site"),
    Column("url", Text, nullable=False),
    Column("scope", String(16), nullable=False),
    Column("every_seconds", Integer),
    Column("cron", String(120)),
    Column("max_pages", Integer),
    Column("max_depth", Integer),
    Column("include", Text, nullable=False, server_default="[]"),  # JSON list of regexes
    Column("exclude", Text, nullable=False, server_default="[]"),
    Column("robots", String(8), nullable=False, server_default="obey"),
    Column("database", Text),  # a database target's spec, JSON (config/dbspec.py)
    # Browser mode's options, JSON ({"scroll": .., "click": [..], "max_clicks": ..}); NULL: plain fetches.
    Column("browser", Text),
    Column("created_at", String(20), nullable=False),
    Column("updated_at", String(20), nullable=False),
    # Removing a target stops its schedule; its captures stay readable (soft delete).
    Column("removed_at", String(20)),
)

captures = Table(
    "captures", metadata,
    Column("id", String(40), primary_key=True),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    Column("status", String(16), nullable=False),  # running | complete | failed | interrupted
    Column("started_at", String(20), nullable=False),
    Column("finished_at", String(20)),
    Column("heartbeat_at", String(20), nullable=False),
    Column("worker", String(120), nullable=False),  # host:pid, for people reading the table
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("requisites", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("revisits", Integer, nullable=False, server_default="0"),
    Column("bytes", BigInteger, nullable=False, server_default="0"),
    Column("files", Integer, nullable=False, server_default="0"),
    Column("queued", Integer),  # while running: URLs waiting or in flight, for progress shown elsewhere
    Column("error", Text),
    Index("captures_by_target", "target_id", "id"),
)

# Two processes may try to capture one target at once; the database lets one win. A
# partial unique index, written in the SQL that SQLite and PostgreSQL share (the
# dialect-specific Index options would load every dialect's module at import).
event.listen(captures, "after_create", DDL(
    "CREATE UNIQUE INDEX IF NOT EXISTS one_running_capture_per_target "
    "ON captures (target_id) WHERE status = 'running'"))

failures = Table(
    "capture_failures", metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_id", String(40), ForeignKey("captures.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("status", Integer),  # the HTTP status when there was one
    Column("reason", Text, nullable=False),
)

files = Table(
    "files", metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_id", String(40), ForeignKey("captures.id"), nullable=False, index=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # warc | cdxj | manifest | sums
    Column("path", Text, nullable=False),  # relative to the data directory
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("records", Integer, nullable=False),
    Column("sealed_at", String(20), nullable=False),
)

# One row per response or revisit record: the CDXJ index, queryable. The B-tree on
# (urlkey, timestamp) makes "closest capture of this URL to that time" logarithmic; the
# one on capture_id lets an export or a snapshot read one capture's rows, not the archive's.
cdx = Table(
    "cdx", metadata,
    Column("id", Integer, primary_key=True),
    Column("urlkey", URLKEY, nullable=False),
    Column("timestamp", String(14), nullable=False),
    Column("url", Text, nullable=False),
    Column("mime", String(255), nullable=False),
    Column("status", Integer),
    Column("digest", String(80), nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("rectype", String(16), nullable=False),  # response | revisit
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("capture_id", String(40), ForeignKey("captures.id"), nullable=False),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    Index("cdx_by_url_time", "urlkey", "timestamp"),
    Index("cdx_by_digest", "target_id", "digest"),
    Index("cdx_by_capture", "capture_id", "id"),
    UniqueConstraint("file_id", "offset", name="one_row_per_record"),
)


# A file's IPFS CID (CIDv1, raw leaves, 256 KiB chunks), computed locally when the
# capture's manifest is written, so a node's answer can be checked against it.
file_cids = Table(
    "file_cids", metadata,
    Column("file_id", Integer, ForeignKey("files.id"), primary_key=True),
    Column("cid", String(120), nullable=False),
)

# One row per file and store: the replication queue and the fixity record in one.
# state: pending (to be copied) | copied. result of the last check: ok | bad | missing.
replicas = Table(
    "replicas", metadata,
    Column("id", Integer, primary_key=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("store", String(16), nullable=False),  # local | s3 | ipfs
    Column("state", String(16), nullable=False),
    Column("location", Text),  # path, key or CID
    Column("sha256", String(64)),  # of the copy, as last read back (or as uploaded)
    Column("size", BigInteger),
    Column("copied_at", String(20)),
    Column("verified_at", String(20)),
    Column("result", String(16)),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", String(20)),
    Column("last_error", Text),
    UniqueConstraint("file_id", "store", name="one_copy_per_store"),
    Index("replicas_due", "state", "next_attempt_at"),
)

# Per capture and store, where the capture as a whole lives: the IPFS directory CID
# of /refuge/<target>/<capture>/, or the S3 key prefix.
capture_roots = Table(
    "capture_roots", metadata,
    Column("capture_id", String(40), ForeignKey("captures.id"), primary_key=True),
    Column("store", String(16), primary_key=True),
    Column("location", Text, nullable=False),
    Column("updated_at", String(20), nullable=False),
)


# A published mirror: one URL where readers reach a target's static export (an S3
# public URL, an IPFS gateway path or subdomain). A republish updates the row of an
# unchanged URL; a URL that is no longer current (an older CID) is retired, not deleted.
mirrors = Table(
    "mirrors", metadata,
    Column("id", Integer, primary_key=True),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    Column("channel", String(16), nullable=False),  # s3 | ipfs
    Column("style", String(16), nullable=False),  # bucket | path | subdomain
    Column("url", Text, nullable=False),
    Column("content", Text, nullable=False),  # the IPFS directory CID, or sha256:<export digest>
    Column("digest", String(64), nullable=False),  # the export's content digest
    Column("capture_id", String(40), ForeignKey("captures.id"), nullable=False),
    Column("published_at", String(20), nullable=False),
    Column("expected", Text, nullable=False),  # JSON {path: sha256}: what a check compares
    Column("status", String(8), nullable=False, server_default="unknown"),  # up | down | unknown
    Column("checked_at", String(20)),
    Column("detail", Text),
    Column("retired_at", String(20)),
    UniqueConstraint("target_id", "url", name="one_row_per_mirror_url"),
)

# Every reachability check of a mirror from one vantage point: the history.
mirror_checks = Table(
    "mirror_checks", metadata,
    Column("id", Integer, primary_key=True),
    Column("mirror_id", Integer, ForeignKey("mirrors.id"), nullable=False),
    Column("vantage", String(63), nullable=False),
    Column("checked_at", String(20), nullable=False),
    Column("status", String(8), nullable=False),
    Column("detail", Text, nullable=False),
    Column("seconds", Float, nullable=False),
    Index("mirror_checks_by_mirror", "mirror_id", "checked_at"),
)

# A file published beside a target's mirrors for readers to carry (a ZIM for Kiwix): one
# row per target and format, replaced by the next publish; the mirror list names it.
bundles = Table(
    "bundles", metadata,
    Column("id", Integer, primary_key=True),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    Column("format", String(16), nullable=False),  # zim
    Column("capture_id", String(40), ForeignKey("captures.id"), nullable=False),
    Column("digest", String(64), nullable=False),  # the export's content digest it was made from
    Column("name", Text, nullable=False),  # the file name readers get
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("urls", Text, nullable=False),  # JSON [{"channel", "style", "url", "content"}]
    Column("published_at", String(20), nullable=False),
    UniqueConstraint("target_id", "format", name="one_bundle_per_format"),
)


# A database target's snapshot: what its source said it holds and what was captured.
db_snapshots = Table(
    "db_snapshots", metadata,
    Column("capture_id", String(40), ForeignKey("captures.id"), primary_key=True),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    Column("expected", Integer),  # the total the source states, when it states one
    Column("records", Integer, nullable=False),
    Column("rows", Integer, nullable=False),  # records x languages
    Column("attachments", Integer, nullable=False),
    Column("attachments_failed", Integer, nullable=False),
    Column("complete", Integer, nullable=False),
    Column("missing", Text, nullable=False),  # JSON: what is missing, in words and ids
    Column("built_at", String(20), nullable=False),
    Index("db_snapshots_by_target", "target_id", "capture_id"),
)

# One row per record and language of a snapshot, extracted from the captured bytes.
db_records = Table(
    "db_records", metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_id", String(40), ForeignKey("captures.id"), nullable=False),
    Column("record_id", Text, nullable=False),  # an API may use a URL as its id
    Column("lang", String(16), nullable=False, server_default=""),
    Column("url", Text, nullable=False),
    Column("captured_at", String(20), nullable=False),
    Column("fields", Text, nullable=False),  # JSON object
    Column("item", Text),  # API mode: the item's JSON, whole
    Column("attachments", Text, nullable=False),  # JSON list of {url, sha256, size, mime} or {url, error}
    Column("sha256", String(64), nullable=False),  # of the record's page payload, or of its API item
    Column("warc_file", String(255)),
    Column("warc_offset", BigInteger),
    Column("search", Text, nullable=False),  # every field's text, lowercased, for substring search
    Index("db_records_by_capture", "capture_id", "record_id", "lang"),
)

# Values every machine of a cluster must share, set once by whichever needs one first
# (storage.catalog.shared): the mirror list's signing key, so all machines sign alike.
shared_values = Table(
    "shared_values", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created", String(20), nullable=False),
)


# -- the admin console's accounts, sessions and audit log (issue 16) -------------------------

# A person who logs in to the admin console. role: viewer | archivist | admin.
users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),  # argon2id, in its own encoded form
    Column("created_at", String(20), nullable=False),
    Column("updated_at", String(20), nullable=False),
)

# An API token: only its SHA-256 is kept (the token is 256 random bits, so a fast hash
# is enough); `prefix` is its first characters, to tell tokens apart in a list.
api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", String(20), nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("last_used_at", String(20)),
    Column("revoked_at", String(20)),
)

# A logged-in browser: the cookie holds a random id, the table its SHA-256.
admin_sessions = Table(
    "admin_sessions", metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", String(20), nullable=False),
    Column("expires_at", String(20), nullable=False),
    Column("address", String(64), nullable=False),
)

# Failed logins of the last minute, by account name and by address: the throttle, kept in
# the catalog so every admin server of a cluster counts the same failures.
login_failures = Table(
    "login_failures", metadata,
    Column("id", Integer, primary_key=True),
    Column("account", String(63), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", Float, nullable=False),  # Unix time
    Index("login_failures_by_account", "account", "at"),
    Index("login_failures_by_address", "address", "at"),
)

# Every change made through the CLI, the API or the console, and every alert sent:
# who (a user, a token, "cli" or "refuge"), when, what, to what, from where.
events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", String(20), nullable=False),
    Column("kind", String(16), nullable=False),  # change | alert
    Column("actor", String(80), nullable=False),
    Column("action", String(40), nullable=False),  # target.add, capture.start, hide, alert.capture_failed, ...
    Column("subject", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON
    Column("source", String(64), nullable=False),  # an address, or "cli"
    Index("events_by_time", "at", "id"),
)

# A takedown: replay answers 451 for a URL (or every URL under a prefix), exports and
# search leave it out; the WARC bytes stay. Unhiding keeps the row (removed_at), so the
# history of what was hidden, by whom and why, survives.
hidden = Table(
    "hidden", metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False),  # as the admin wrote it
    Column("match", String(8), nullable=False),  # exact | prefix
    Column("urlkey", Text, nullable=False),  # its SURT key (of the prefix, for a prefix)
    Column("reason", Text, nullable=False),
    Column("created_at", String(20), nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("removed_at", String(20)),
    Column("removed_by", String(80)),
    Index("hidden_by_key", "urlkey"),
)

# Each alert condition's last known state (ok | failing), so an alert is sent once when
# it changes and once when it recovers, not on every check.
alert_states = Table(
    "alert_states", metadata,
    Column("key", String(255), primary_key=True),  # condition and subject: "capture:kamnotra"
    Column("state", String(16), nullable=False),
    Column("since", String(20), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
)

# Where an imported capture's files came from (`refuge import`): one row per file given (a
# WARC file, or a WACZ package) and per WARC file inside a WACZ, with its SHA-256 as
# received and, for a WACZ, what its signature check found. Written in the transaction
# that makes the capture, never changed after.
import_sources = Table(
    "import_sources", metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_id", String(40), ForeignKey("captures.id"), nullable=False, index=True),
    Column("source", Text, nullable=False),  # the file's name as given, without its folders
    Column("member", Text),  # a WARC file inside a WACZ: its path in the package
    Column("kind", String(8), nullable=False),  # warc | wacz
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("stored_as", String(255)),  # the capture's file holding these bytes (None for a WACZ itself)
    Column("records", Integer),  # WARC: its records, and how many were bad and left out (--lenient)
    Column("bad_records", Integer),
    Column("signed", Integer),  # WACZ: 1 signed, 0 not
    Column("signature_ok", Integer),  # WACZ: 1 the signature verifies, 0 it does not, None unsigned
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON: WACZ key, software, created...
    Column("imported_at", String(20), nullable=False),
)

# The search index (storage.catalog.search): one row per target, URL (SURT key) and payload.
search_pages = Table(
    "search_pages", metadata,
    Column("id", Integer, primary_key=True),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    Column("urlkey", URLKEY, nullable=False),
    Column("url", Text, nullable=False),
    Column("digest", String(80), nullable=False),
    Column("first_ts", String(14), nullable=False),  # the first and last capture of that payload
    Column("last_ts", String(14), nullable=False),
    Column("capture_id", String(40), ForeignKey("captures.id"), nullable=False),  # the one of last_ts
    Column("lang", String(8), nullable=False),  # km | en | ""
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),  # last, so reading the others never reads past it
    UniqueConstraint("target_id", "urlkey", "digest", name="one_row_per_page_version"),
)
# Both trigram indexes hold a row's title, a space and its text; SQLite's is FTS5's over a view of
# that, kept by triggers (a row's title and text never change, its span does).
_ADD = "INSERT INTO search_fts(rowid, doc) VALUES (new.id, new.title || ' ' || new.text);"
_DEL = "INSERT INTO search_fts(search_fts, rowid, doc) VALUES ('delete', old.id, old.title || ' ' || old.text);"
for _dialect, _sql in [
        ("sqlite", "CREATE VIEW IF NOT EXISTS search_docs AS SELECT id, title || ' ' || text AS doc FROM search_pages"),
        ("sqlite", "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(doc, content='search_docs', "
                   "content_rowid='id', tokenize='trigram', detail='none', columnsize=0)"),
        ("sqlite", f"CREATE TRIGGER IF NOT EXISTS search_pages_ai AFTER INSERT ON search_pages BEGIN {_ADD} END"),
        ("sqlite", f"CREATE TRIGGER IF NOT EXISTS search_pages_ad AFTER DELETE ON search_pages BEGIN {_DEL} END"),
        ("postgresql", "CREATE EXTENSION IF NOT EXISTS pg_trgm"),
        ("postgresql", "CREATE INDEX IF NOT EXISTS search_pages_trigrams ON search_pages "
                       "USING gin ((title || ' ' || text) gin_trgm_ops)")]:
    event.listen(search_pages, "after_create", DDL(_sql).execute_if(dialect=_dialect))
