"""The catalog: what Refuge knows about its targets, captures, files, replicas, snapshots
and mirrors, in SQLite or PostgreSQL through one database URL.

Everything that must survive a crash lives here, in transactions, so any process (or
machine) can pick up where another stopped. Functions take an Engine; :func:`connect`
makes one and brings the schema up to date. This package re-exports the targets and
captures API (``catalog.get_target``, ``catalog.start_capture``...); the index of
records, replicas, snapshots and mirrors have modules of their own.
"""

from __future__ import annotations

from refuge.storage.catalog.captures import (
    AlreadyRunning,
    add_failures,
    capture_files,
    failures_of,
    finish_capture,
    forget_files,
    get_capture,
    heartbeat,
    known_file_names,
    latest_captures,
    list_captures,
    new_capture_id,
    pick_capture,
    reap_stale_captures,
    record_sealed_warc,
    reopen_capture,
    resumable_capture,
    start_capture,
    worker_id,
)
from refuge.storage.catalog.db import connect, iso, now_iso, utcnow
from refuge.storage.catalog.targets import Target, get_target, list_targets, remove_target, save_target, seed_targets

__all__ = ['AlreadyRunning', 'Target', 'add_failures', 'capture_files', 'failures_of', 'connect', 'finish_capture', 'forget_files', 'get_capture', 'get_target', 'heartbeat', 'iso', 'known_file_names', 'latest_captures', 'list_captures', 'list_targets', 'new_capture_id', 'now_iso', 'pick_capture', 'reap_stale_captures', 'record_sealed_warc', 'remove_target', 'reopen_capture', 'resumable_capture', 'save_target', 'seed_targets', 'start_capture', 'utcnow', 'worker_id']
