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
from urllib.parse import urlsplit

import requests

from refuge.archiver.archived import archived_exchange
from refuge.archiver.browser_capture import BrowserCapture
from refuge.archiver.browser_gate import BrowserGate
from refuge.archiver.dbpages import DATABASE_ROLES, read_database_page
from refuge.archiver.fetch import STOPPED, Exchange, FetchError, FetchPolicy, crawler_session, fetch
from refuge.archiver.links import HTML_TYPES, outlinks
from refuge.archiver.recorder import Recorder
from refuge.archiver.rendered import BrowserOptions
from refuge.archiver.robots import Rules
from refuge.archiver.warcwriter import RollingWarcWriter, SealedWarc, WriteFailed, WriterClosed, warcinfo_fields
from refuge.config.errors import first_line
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
    browser: BrowserOptions | None = None  # a browser-mode target's: its pages are rendered (browser.py)


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
    # Browser mode: records its requests made (of them revisits), and what failed on the way.
    caused: int = 0
    caused_revisits: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


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
        self.closing = threading.Event()  # set by close(): a page's fetches still reading give up
        # Browser mode: pages rendered in Chromium, started by the first page that needs it;
        # their requests refused as the frontier would refuse them (browser_gate.py).
        self.browser = BrowserCapture(s, config.browser, self._browser_fetch, self.writers) \
            if config.browser is not None else None
        self.gate = BrowserGate(config.browser.exclude if config.browser else (), config.robots == "obey",
                                s.user_agent, s.delay, self._origin_rules)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def work(self, task: Task, fetched: Callable[[], None] = lambda: None) -> Outcome:
        """Fetch, record and parse TASK; `fetched` is called once the server has answered,
        before the slower recording and parsing, so the host's next request can start."""
        if self.halt.is_set():
            return Outcome(task, error=STOPPED)
        try:
            if task.role == "robots":
                out = self._robots(task)
                if out.error != STOPPED:
                    self.gate.learn(_origin(task.url), Rules(out.robots_txt, out.error))
                return out
            return self._page(task, fetched)
        except WriteFailed as exc:
            return Outcome(task, fatal=str(exc))
        except OSError as exc:
            if exc.errno in DISK_FULL:  # spooling a big body under DATA/tmp: the same full disk
                return Outcome(task, fatal=f"cannot write {exc.filename or self.policy.spool_dir}: {exc.strerror}")
            return Outcome(task, error=f"{type(exc).__name__}: {exc}"[:300])
        except Exception as exc:  # noqa: BLE001 - one bad document must not end the crawl
            return Outcome(task, error=f"{type(exc).__name__}: {exc}"[:300])

    def close(self) -> None:
        """Seal the open WARC files (on_seal is called for each) and release connections.
        A page's fetch still going is given up first; one that records after the seal is refused."""
        self.closing.set()
        if self.browser is not None:
            self.browser.close()
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
        rendering = self.browser is not None and task.role == "page" and 200 <= ex.status < 300 \
            and ex.media_type in HTML_TYPES
        if not rendering:  # a page being rendered keeps its host's slot until it is done: its requests go on
            fetched()
        try:
            out.status = ex.status
            out.error = ex.gave_up
            out.recorded = recorded or self.record(ex)
            location = ex.header("Location")
            if 300 <= ex.status < 400 and location:
                out.redirect = resolve(task.url, location)
            elif rendering:  # browser mode (browser_capture.py): links from the rendered DOM
                page = self.browser.capture(task.url, ex, self.halt)  # type: ignore[union-attr]
                out.links, out.failures, out.caused, out.caused_revisits = (
                    page.links, page.failures, page.caused, page.caused_revisits)
                out.length += page.length
                out.error = STOPPED if page.stopped else out.error
            elif 200 <= ex.status < 300 and task.role != "attachment":
                out.links = outlinks(task.url, ex.media_type, ex.header("Content-Type"),
                                     ex.header("Content-Encoding"), ex.body)
                if task.role in DATABASE_ROLES and self.database is not None:
                    out.found = read_database_page(self.database, task, ex)
        finally:
            ex.close()
        return out

    def _browser_fetch(self, url: str, deadline: float) -> tuple[Exchange, str]:
        """A request of a page being rendered: refused as the frontier would refuse it,
        else fetched by DEADLINE (the page's) and recorded like any URL. FetchError: nothing
        to give the browser (the reason is listed); only a WARC file that cannot be written
        raises anything else."""
        try:
            refusal = self.gate.admit(url, deadline, self.closing)  # may fetch the origin's robots.txt
            if refusal:
                raise FetchError(refusal)
            ex = self._fetch(url, deadline=deadline, cancel=self.closing)
        except FetchError:
            raise
        except (requests.RequestException, ValueError) as exc:  # a URL requests cannot make a request of
            raise FetchError(f"not fetched: {type(exc).__name__}: {first_line(exc)}"[:300]) from None
        except OSError as exc:  # a full disk, spooling the body, stops the capture; the rest is this URL's
            if exc.errno in DISK_FULL:
                raise
            raise FetchError(f"{type(exc).__name__}: {exc}"[:300]) from None
        try:
            return ex, self.record(ex)
        except WriterClosed:
            ex.close()
            raise FetchError(STOPPED) from None
        except BaseException:
            ex.close()
            raise

    def _origin_rules(self, origin: str) -> Rules:
        """ORIGIN's robots.txt, fetched and recorded as the crawl's robots task does."""
        out = self._robots(Task(origin + "/robots.txt", "robots"))
        return Rules(out.robots_txt, out.error)

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

    def _fetch(self, url: str, deadline: float | None = None, cancel: threading.Event | None = None) -> Exchange:
        session = getattr(self._local, "session", None)
        if session is None:
            s = self.settings
            session = crawler_session(s.user_agent, s.allow_private_networks, s.allow_networks, s.ca_file)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return fetch(session, url, self.policy, self.halt, deadline=deadline, cancel=cancel)


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


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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
