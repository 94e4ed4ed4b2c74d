"""Crawl workers: fetch one URL, write it to this worker's WARC files, find its links.

Workers hold no crawl policy: the coordinator (crawl.py) decides what to fetch and
when. Each worker process runs a few fetching threads and writes its own WARC file
series, so a capture uses every core; Python threads alone would queue on the GIL
for header parsing, record building and link extraction.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import signal
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Callable

import requests

from refuge.archiver.archived import archived_exchange
from refuge.archiver.dbpages import DATABASE_ROLES, read_database_page
from refuge.archiver.fetch import STOPPED, Exchange, FetchError, FetchPolicy, crawler_session, fetch
from refuge.archiver.links import outlinks
from refuge.archiver.warcwriter import (
    RollingWarcWriter,
    SealedWarc,
    WriteFailed,
    timestamp14,
    warc_date,
    warcinfo_fields,
)
from refuge.config.logs import setup_logging
from refuge.config.settings import Settings
from refuge.formats.urls import resolve
from refuge.storage import catalog
from refuge.storage.catalog import index
from refuge.storage.warc.files import warc_files

log = logging.getLogger(__name__)

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
ROBOTS_REDIRECTS = 5  # RFC 9309: follow at least five
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309: parse at least the first 500 KiB


@dataclass(frozen=True)
class WorkerConfig:
    settings: Settings
    target_id: int
    target_name: str
    capture_id: str
    robots: str  # the target's robots policy, for the warcinfo record
    number: int  # which worker: part of its WARC file names
    database: Any = None  # a database target's DatabaseSpec: what to read from its pages
    log_level: int = logging.WARNING  # the coordinator's: a forkserver child does not inherit it
    coordinator: int = 0  # its pid: under forkserver a worker's parent is the fork server, not it


@dataclass
class Task:
    url: str
    # "page", "requisite" (needed to display a page), "robots", or for a database target
    # "listing", "api", "record" and "attachment" (see dbcrawl.py)
    role: str
    depth: int = 0
    chain: int = 0  # how many requisites deep
    redirects: int = 0
    seed: bool = False  # the seed or a hop of its redirect chain
    host: str = ""  # host:port, the unit of politeness
    limit: int = 1  # how many requests to that host this worker may have in flight at once
    record: str | None = None  # database targets: the record a record page or attachment belongs to
    lang: str | None = None
    page: int = 0  # a listing or API page's number
    # A resumed capture: (file, offset, length) of the record an earlier run wrote of this
    # URL, read instead of fetching it again (archived.py)
    archived: tuple[str, int, int] | None = None


@dataclass
class Outcome:
    task: Task
    status: int | None = None
    recorded: str | None = None  # "response" | "revisit"
    redirect: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    robots_txt: str | None = None  # for a robots task: the rules' text ("" when there are none)
    found: Any = None  # database roles: what the page says (dbextract's ListingResult, ApiResult, links)
    fatal: str | None = None  # the capture cannot go on (its WARC file could not be written)
    length: int = 0  # payload bytes fetched (0 when read back from what an earlier run wrote)


class Worker:
    """Fetches, records and parses; safe to call from several threads."""

    def __init__(self, config: WorkerConfig, on_seal: Callable[[SealedWarc], None]) -> None:
        s = config.settings
        self.settings = s
        self.database = config.database
        self.policy = FetchPolicy(timeout=s.timeout, retries=s.retries, backoff=s.backoff,
                                  max_retry_after=s.max_retry_after, max_bytes=s.max_response_bytes,
                                  spool_dir=s.data / "tmp")
        self.halt = threading.Event()  # set to make fetches sleeping in a backoff give up
        self.engine = catalog.connect(s.catalog_url, create=False)
        self.target_id = config.target_id
        self.files = warc_files(s, self.engine)  # where an earlier run's records are read back
        # One file series per worker process; its threads take turns writing records.
        self.writers = RollingWarcWriter(
            s.archive_dir / config.target_name / config.capture_id,
            f"{config.target_name}-{config.capture_id}-w{config.number}", s.warc_max_bytes,
            warcinfo_fields(config.target_name, s.user_agent, config.robots, capture=config.capture_id,
                            operator=s.operator), on_seal, s.warc_gzip_level,
            max_age=s.checkpoint_seconds if s.queue else None,
            taken=frozenset(catalog.known_file_names(self.engine, [config.capture_id])))
        self.record = Recorder(self.engine, config.target_id, self.writers)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def work(self, task: Task, fetched: Callable[[], None] = lambda: None) -> Outcome:
        """Fetch, record and parse TASK; `fetched` is called once the server has answered,
        before the slower recording and parsing, so the host's next request can start."""
        if self.halt.is_set():
            return Outcome(task, error=STOPPED)
        try:
            return self._robots(task) if task.role == "robots" else self._page(task, fetched)
        except WriteFailed as exc:
            return Outcome(task, fatal=str(exc))
        except OSError as exc:
            if exc.errno in DISK_FULL:  # spooling a big body under DATA/tmp: the same full disk
                return Outcome(task, fatal=f"cannot write {exc.filename or self.policy.spool_dir}: {exc.strerror}")
            return Outcome(task, error=f"{type(exc).__name__}: {exc}"[:300])
        except Exception as exc:  # noqa: BLE001 - one bad document must not end the crawl
            return Outcome(task, error=f"{type(exc).__name__}: {exc}"[:300])

    def close(self) -> None:
        """Seal the open WARC files (on_seal is called for each) and release connections."""
        self.writers.close()
        for session in self._sessions:
            session.close()
        self.engine.dispose()

    def _page(self, task: Task, fetched: Callable[[], None]) -> Outcome:
        out = Outcome(task)
        # Written whole by an earlier run (a response or a revisit): not written again.
        ex, recorded = self._archived(task) or (None, None)
        try:
            if ex is None:
                ex = self._fetch(task.url)
                out.length = ex.length
        except FetchError as exc:
            out.error = str(exc)
            return out
        fetched()
        try:
            out.status = ex.status
            out.error = ex.gave_up
            out.recorded = recorded or self.record(ex)
            location = ex.header("Location")
            if 300 <= ex.status < 400 and location:
                out.redirect = resolve(task.url, location)
            elif 200 <= ex.status < 300 and task.role != "attachment":
                out.links = outlinks(task.url, ex.media_type, ex.header("Content-Type"),
                                     ex.header("Content-Encoding"), ex.body)
                if task.role in DATABASE_ROLES and self.database is not None:
                    out.found = read_database_page(self.database, task, ex)
        finally:
            ex.close()
        return out

    def _robots(self, task: Task) -> Outcome:
        """robots.txt, kept in the WARC; RFC 9309: 4xx means no rules, 5xx or no answer
        means the host is off limits for now."""
        url = task.url
        for _ in range(ROBOTS_REDIRECTS + 1):
            try:
                ex = self._fetch(url)
            except FetchError as exc:
                if str(exc) == STOPPED:
                    return Outcome(task, error=STOPPED)  # not journaled: asked again on resume
                return Outcome(task, error=f"robots.txt unreachable, so the host is treated as disallowed: {exc}")
            try:
                self.record(ex)
                location = ex.header("Location")
                if 300 <= ex.status < 400 and location:
                    url = resolve(url, location) or ""
                    if url:
                        continue
                    return Outcome(task, status=ex.status, robots_txt="")
                if 400 <= ex.status < 500:
                    return Outcome(task, status=ex.status, robots_txt="")
                if ex.status >= 500 or ex.status < 200:
                    return Outcome(task, status=ex.status, error=f"robots.txt answered HTTP {ex.status}, "
                                                                 "so the host is treated as disallowed")
                ex.body.seek(0)
                text = ex.body.read(ROBOTS_MAX_BYTES).decode("utf-8", "replace")
                return Outcome(task, status=ex.status, robots_txt=text)
            finally:
                ex.close()
        return Outcome(task, robots_txt="")

    def _archived(self, task: Task) -> tuple[Exchange, str] | None:
        """The record an earlier run of this capture wrote of TASK's URL and its type, if it
        can be read."""
        if task.archived is None:
            return None
        path, offset, length = task.archived
        try:
            return archived_exchange(self.files, path, offset, length, self.policy.max_bytes,
                                     self.policy.spool_dir, self._original)
        except Exception as exc:  # noqa: BLE001 - an unreadable record is fetched again
            log.warning("%s: cannot read its record at %s offset %d again (%s); fetching it", task.url, path,
                        offset, exc)
            return None

    def _original(self, digest: str, timestamp: str) -> tuple[str, int, int] | None:
        """Where the record a revisit stands for is: as replay finds it."""
        hit = index.original_of(self.engine, self.target_id, digest, not_after=timestamp)
        return None if hit is None else (hit.path, hit.offset, hit.length)

    def _fetch(self, url: str) -> Exchange:
        session = getattr(self._local, "session", None)
        if session is None:
            s = self.settings
            session = crawler_session(s.user_agent, s.allow_private_networks, s.allow_networks, s.ca_file)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return fetch(session, url, self.policy, self.halt)


class Recorder:
    """Writes each exchange as a response, or as a revisit when the same payload was
    already archived for this target (earlier in this worker's share of the capture, or
    in an earlier capture).

    A revisit only ever points at a record already written, dated no later than its own
    date: replay and export look its original up that way (index.original_of with
    not_after), and a kill between the two writes must not leave a revisit of nothing.
    Two identical payloads fetched at once may then both be written whole.
    """

    def __init__(self, engine: Any, target_id: int, writers: RollingWarcWriter) -> None:
        self.engine = engine
        self.target_id = target_id
        self.writers = writers
        # A first capture has nothing earlier to match: skip a query per response.
        self._history = index.has_records(engine, target_id)
        self._lock = threading.Lock()
        self._written: dict[str, tuple[str, str]] = {}  # digest -> (url, WARC-Date) written whole here

    def __call__(self, ex: Exchange) -> str:
        if not (200 <= ex.status < 300) or ex.length == 0:
            self.writers.write_response(ex)
            return "response"
        original = self._earlier(ex) or self._written_before(ex)
        if original is not None:
            self.writers.write_revisit(ex, *original)
            return "revisit"
        self.writers.write_response(ex)
        self._remember(ex)
        return "response"

    def _written_before(self, ex: Exchange) -> tuple[str, str] | None:
        with self._lock:
            original = self._written.get(ex.payload_digest)
        # WARC dates in this form sort as the moments they name.
        return original if original is not None and original[1] <= warc_date(ex) else None

    def _remember(self, ex: Exchange) -> None:
        with self._lock:
            known = self._written.get(ex.payload_digest)
            if known is None or warc_date(ex) < known[1]:  # the earliest serves the most revisits
                self._written[ex.payload_digest] = (ex.url, warc_date(ex))

    def _earlier(self, ex: Exchange) -> tuple[str, str] | None:
        if not self._history:
            return None
        hit = index.original_of(self.engine, self.target_id, ex.payload_digest, not_after=timestamp14(ex))
        if hit is None:
            return None
        ts = hit.timestamp
        return hit.url, f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"


def worker_main(conn: Connection, config: WorkerConfig, threads: int) -> None:
    """A worker process: tasks in, outcomes and sealed files out, over one pipe.

    Messages in: ("task", Task), ("stop", None), ("close", None).
    Messages out: ("outcome", Outcome) per task, ("sealed", SealedWarc), ("closed", None).
    """
    # Ctrl-C reaches the whole process group, and a service manager's SIGTERM often the
    # whole group too (systemd's default): the coordinator decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    setup_logging(config.log_level)  # a forkserver child starts unconfigured
    # What the worker inherited from the coordinator is never freed: keep the cyclic GC
    # off it, which saves scanning it and copying its pages on write.
    gc.freeze()
    coordinator = config.coordinator or os.getppid()
    forked = os.getppid() == coordinator  # else started by a fork server, which may go first
    send_lock = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        with send_lock:
            conn.send(message)

    worker = Worker(config, on_seal=lambda warc: send(("sealed", warc)))
    pool = ThreadPoolExecutor(threads, thread_name_prefix=f"fetch-w{config.number}")
    gate = HostGate(lambda task: pool.submit(run, task))

    def run(task: Task) -> None:
        released = False

        def fetched() -> None:
            nonlocal released
            released = True
            gate.done(task)

        outcome = worker.work(task, fetched)
        if not released:
            fetched()
        send(("outcome", outcome))

    while True:
        if not conn.poll(1.0):
            # The coordinator was killed: leave the .open files as they are. (Forked, this
            # process is handed to another parent the moment it dies, zombie or not.)
            if (forked and os.getppid() != coordinator) or not _alive(coordinator):
                os._exit(1)
            continue
        try:
            kind, payload = conn.recv()
        except EOFError:  # the coordinator's end of the pipe closed: it is gone
            os._exit(1)
        if kind == "task":
            gate.add(payload)
        elif kind == "stop":
            worker.halt.set()
        elif kind == "close":
            pool.shutdown(wait=True)
            worker.close()
            send(("closed", None))
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process by now: ours is gone, but say so only when sure
    return True


class HostGate:
    """Starts a worker's tasks as its share of each host's slots frees up.

    The coordinator sends tasks a little ahead; holding them here means the next request
    to a host starts the moment the previous one is answered, without a round trip to
    the coordinator, and never more than `task.limit` at once.
    """

    def __init__(self, start: Callable[[Task], Any]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._waiting: dict[str, deque[Task]] = {}
        self._active: dict[str, int] = {}

    def add(self, task: Task) -> None:
        with self._lock:
            self._waiting.setdefault(task.host, deque()).append(task)
            self._release(task.host, task.limit)

    def done(self, task: Task) -> None:
        with self._lock:
            self._active[task.host] -= 1
            self._release(task.host, task.limit)

    def _release(self, host: str, limit: int) -> None:
        waiting = self._waiting[host]
        while waiting and self._active.get(host, 0) < limit:
            self._active[host] = self._active.get(host, 0) + 1
            self._start(waiting.popleft())
