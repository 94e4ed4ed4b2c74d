"""The crawl: a frontier that cannot loop, fetched by a pool of workers, politely.

One coordinator thread owns the frontier (per-host queues, the seen set, the
counters); workers fetch, write WARC records and extract links, and hand back an
Outcome. At most `per_host` requests are in flight to one host, with `delay` (or the
site's Crawl-delay) between their starts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

import requests

from refuge.archiver.fetch import Exchange, FetchError, FetchPolicy, fetch
from refuge.archiver.guard import make_session
from refuge.archiver.links import outlinks
from refuge.archiver.robots import RobotsRules
from refuge.archiver.scope import Scope, is_trap
from refuge.config.settings import Settings
from refuge.config.targets import TargetSpec
from refuge.formats.urls import canonical, host_and_port, resolve

MAX_REQUISITE_CHAIN = 5  # a stylesheet importing a stylesheet importing ... stops here
REQUISITES_PER_PAGE = 200  # a bound on requisites in all: max_pages x this


@dataclass
class Task:
    url: str
    role: str  # "page" (in scope, found by navigation) or "requisite" (needed to display a page)
    depth: int
    chain: int = 0  # how many requisites deep
    redirects: int = 0
    seed: bool = False  # the seed or a hop of its redirect chain


@dataclass
class Outcome:
    task: Task
    status: int | None = None
    recorded: str | None = None  # "response" | "revisit"
    media_type: str = ""
    redirect: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    crawl_delay: float = 0.0


@dataclass
class CrawlResult:
    pages: int = 0
    requisites: int = 0
    revisits: int = 0
    failures: list[dict] = field(default_factory=list)
    seed_error: str | None = None  # set when the seed (after its redirects) was not captured
    stopped: bool = False


Recorder = Callable[[Exchange], str]  # writes the exchange, returns "response" or "revisit"


class Crawl:
    def __init__(self, spec: TargetSpec, settings: Settings, record: Recorder,
                 stop: threading.Event | None = None, heartbeat: Callable[[], None] | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.record = record
        self.stop = stop or threading.Event()  # set by whoever runs us: finish in-flight work and return
        self._halt = threading.Event()  # ours: wakes workers sleeping in a backoff
        self.heartbeat = heartbeat or (lambda: None)
        self.scope = Scope(spec)
        self.max_pages = spec.max_pages or settings.max_pages
        self.max_depth = spec.max_depth if spec.max_depth is not None else settings.max_depth
        self.policy = FetchPolicy(timeout=settings.timeout, retries=settings.retries, backoff=settings.backoff,
                                  max_retry_after=settings.max_retry_after, max_bytes=settings.max_response_bytes,
                                  spool_dir=settings.data / "tmp")
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self.robots = (RobotsRules(self._fetch, self._record_robots, settings.user_agent)
                       if spec.robots == "obey" else None)
        self._queues: dict[str, deque[Task]] = {}
        self._inflight: dict[str, int] = {}
        self._next_start: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        self._seen: set[str] = set()
        self._pages_queued = 0
        self._requisites_queued = 0
        self.result = CrawlResult()

    # -- coordinator ---------------------------------------------------------------------

    def run(self) -> CrawlResult:
        (self.settings.data / "tmp").mkdir(parents=True, exist_ok=True)
        self._enqueue(Task(self.spec.url, "page", 0, seed=True))
        self._pages_queued = 1
        last_beat = time.monotonic()
        futures: dict[Future, Task] = {}
        with ThreadPoolExecutor(self.settings.workers, thread_name_prefix="fetch") as pool:
            try:
                while True:
                    if self.stop.is_set():
                        self._halt.set()
                    else:
                        self._dispatch(pool, futures)
                    if not futures:
                        if self._halt.is_set() or not any(self._queues.values()):
                            break
                        time.sleep(min(0.05, self._until_next_start()))
                        continue
                    done, _ = wait(list(futures), timeout=0.25, return_when=FIRST_COMPLETED)
                    for fut in done:
                        task = futures.pop(fut)
                        self._inflight[host_and_port(task.url)] -= 1
                        self._handle(fut.result())
                    if time.monotonic() - last_beat > 30:
                        self.heartbeat()
                        last_beat = time.monotonic()
            finally:
                self.result.stopped = self.stop.is_set()
                self._halt.set()
                for session in self._sessions:
                    session.close()
        return self.result

    def _dispatch(self, pool: ThreadPoolExecutor, futures: dict[Future, Task]) -> None:
        now = time.monotonic()
        for host, queue in self._queues.items():
            while (queue and len(futures) < self.settings.workers
                   and self._inflight.get(host, 0) < self.settings.per_host
                   and self._next_start.get(host, 0.0) <= now):
                task = queue.popleft()
                self._inflight[host] = self._inflight.get(host, 0) + 1
                self._next_start[host] = now + self._host_delay.get(host, self.settings.delay)
                futures[pool.submit(self._work, task)] = task
            if len(futures) >= self.settings.workers:
                return

    def _until_next_start(self) -> float:
        now = time.monotonic()
        waits = [self._next_start.get(h, 0.0) - now for h, q in self._queues.items() if q]
        return max(0.0, min(waits, default=0.0))

    def _enqueue(self, task: Task) -> bool:
        key = canonical(task.url)
        if key in self._seen:
            return False
        self._seen.add(key)
        self._queues.setdefault(host_and_port(task.url), deque()).append(task)
        return True

    def _handle(self, out: Outcome) -> None:
        task = out.task
        if out.crawl_delay:
            self._host_delay[host_and_port(task.url)] = max(self.settings.delay, out.crawl_delay)
        if out.recorded:
            if task.role == "page":
                self.result.pages += 1
            else:
                self.result.requisites += 1
            if out.recorded == "revisit":
                self.result.revisits += 1
        if out.error or (out.status is not None and out.status >= 400):
            self.result.failures.append({"url": task.url, "status": out.status,
                                         "reason": out.error or f"HTTP {out.status}"})
        if task.seed and not out.redirect and (out.error or (out.status or 0) >= 400):
            self.result.seed_error = f"seed {task.url}: {out.error or f'HTTP {out.status}'}"
        if out.redirect:
            self._follow_redirect(task, out.redirect)
            return
        if not out.links:
            return
        follow_pages = self.scope.in_scope(task.url) or task.seed
        for url, kind in out.links:
            if kind == "page":
                if follow_pages and task.role == "page":
                    self._add_page(url, task.depth + 1)
            else:
                self._add_requisite(url, task)

    def _follow_redirect(self, task: Task, url: str) -> None:
        if task.redirects >= self.settings.max_redirects:
            self.result.failures.append({"url": task.url, "status": None,
                                         "reason": f"more than {self.settings.max_redirects} redirects"})
            if task.seed:
                self.result.seed_error = f"seed {self.spec.url}: more than {self.settings.max_redirects} redirects"
            return
        if task.seed:
            self.scope.add_seed(url)
        elif task.role == "page" and not self.scope.in_scope(url):
            return  # a page redirecting off-site: the hop is recorded, the target is not ours
        if self.scope.excluded(url) or is_trap(url):
            return
        self._enqueue(Task(url, task.role, task.depth, task.chain, task.redirects + 1, task.seed))

    def _add_page(self, url: str, depth: int) -> None:
        if depth > self.max_depth or self._pages_queued >= self.max_pages or not self.scope.in_scope(url):
            return
        if self._enqueue(Task(url, "page", depth)):
            self._pages_queued += 1

    def _add_requisite(self, url: str, parent: Task) -> None:
        chain = parent.chain + 1
        if (chain > MAX_REQUISITE_CHAIN or self._requisites_queued >= self.max_pages * REQUISITES_PER_PAGE
                or self.scope.excluded(url) or is_trap(url)):
            return
        if self._enqueue(Task(url, "requisite", parent.depth, chain)):
            self._requisites_queued += 1

    # -- workers ---------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = make_session(self.settings.user_agent, self.settings.allow_private_networks)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _fetch(self, url: str) -> Exchange:
        return fetch(self._session(), url, self.policy, self._halt)

    def _record_robots(self, ex: Exchange) -> None:
        self.record(ex)

    def _work(self, task: Task) -> Outcome:
        out = Outcome(task)
        try:
            if self.robots is not None:
                out.error = self.robots.refusal(task.url)
                out.crawl_delay = self.robots.crawl_delay(task.url)
                if out.error:
                    return out
            try:
                ex = self._fetch(task.url)
            except FetchError as exc:
                out.error = str(exc)
                return out
            try:
                out.status = ex.status
                out.media_type = ex.media_type
                out.recorded = self.record(ex)
                location = ex.header("Location")
                if 300 <= ex.status < 400 and location:
                    out.redirect = resolve(task.url, location)
                elif 200 <= ex.status < 300:
                    out.links = outlinks(task.url, ex.media_type, ex.header("Content-Type"),
                                         ex.header("Content-Encoding"), ex.body)
            finally:
                ex.close()
        except Exception as exc:  # noqa: BLE001 - one bad document must not end the crawl
            out.error = f"{type(exc).__name__}: {exc}"[:300]
        return out
