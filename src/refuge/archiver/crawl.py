"""The crawl's coordinator: a frontier that cannot loop, fed to worker processes, politely.

The coordinator owns every decision (scope, depth and page limits, robots.txt, the
seen set, per-host pacing); workers (worker.py) fetch, record and extract links. At
most `per_host` requests are in flight to one host, their starts `delay` (or the
site's Crawl-delay) apart. Every URL of an origin waits until that origin's
robots.txt has been read, when robots are obeyed.

With a journal (journal.py), every outcome is written down before it is handled, and
a crawl whose journal already holds lines resumes: it replays them first, then fetches
only what is left. ARCHIVED says which URLs the capture already holds a record of
(canonical URL -> where its response or revisit record is), once the killed run's files
were salvaged. A replayed outcome whose record is not there is skipped and its URL
fetched again (handled then, once); a URL still to do whose record is there (written just
before the kill) is read from it instead of fetched (archived.py).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from refuge.archiver.fetch import STOPPED
from refuge.archiver.journal import Journal, read_journal
from refuge.archiver.robots import Rules
from refuge.archiver.scope import Scope, is_trap
from refuge.archiver.warcwriter import SealedWarc
from refuge.archiver.worker import Outcome, Task, WorkerConfig
from refuge.archiver.workerpool import WorkerPool, default_processes
from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.config.targets import TargetSpec
from refuge.formats.urls import canonical, host_and_port

MAX_REQUISITE_CHAIN = 5  # a stylesheet importing a stylesheet importing ... stops here
AHEAD = 2  # tasks a worker may hold for a host beyond its share of that host's slots
REQUISITES_PER_PAGE = 200  # a bound on requisites in all: max_pages x this
PROGRESS_SECONDS = 0.5  # how often a live display hears how the crawl is going
# How often the heartbeat writes the crawl's progress to the catalog, where the admin
# console and API read it: often enough to watch, rare enough to cost nothing.
CATALOG_PROGRESS_SECONDS = 2.0
PAGE_ROLES = frozenset({"page", "listing", "api", "record"})  # counted as pages; the rest as requisites


class Interrupted(Failure):
    """The crawl cannot go on for now (its files cannot be written): what it wrote is kept
    and the capture is resumable."""


@dataclass
class CrawlResult:
    pages: int = 0
    requisites: int = 0
    revisits: int = 0
    failures: list[dict] = field(default_factory=list)
    seed_error: str | None = None  # set when the seed (after its redirects) was not captured
    stopped: bool = False
    resumed: int = 0  # outcomes replayed from the journal of an earlier, interrupted run


@dataclass(frozen=True)
class CrawlProgress:
    """What a capture has done so far in this run, for a live display."""
    pages: int
    requisites: int
    failed: int
    queued: int  # waiting or in flight
    bytes: int  # payload bytes fetched


class Crawl:
    def __init__(self, spec: TargetSpec, settings: Settings, config: WorkerConfig,
                 on_sealed: Callable[[SealedWarc], None], stop: threading.Event | None = None,
                 heartbeat: Callable[["CrawlProgress"], None] | None = None, journal: Path | None = None,
                 archived: Mapping[str, tuple[str, int, int]] | None = None,
                 progress: Callable[[CrawlProgress], None] | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.config = config
        self.on_sealed = on_sealed
        self.stop = stop or threading.Event()  # set by whoever runs us: finish in-flight work, seal, return
        self.heartbeat = heartbeat or (lambda _progress: None)
        self.progress = progress
        self._bytes = 0
        self.scope = Scope(spec)
        self.max_pages = spec.max_pages or settings.max_pages
        self.max_depth = spec.max_depth if spec.max_depth is not None else settings.max_depth
        self.obey_robots = spec.robots == "obey"
        self._queues: dict[str, deque[Task]] = {}
        self._slots: HostSlots | None = None
        self._next_start: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}
        self._rules: dict[str, Rules | None] = {}  # origin -> rules; None while its robots.txt is fetched
        self._seen: set[str] = set()  # canonical URLs queued or done
        # (kind, link) already considered: pages repeat their navigation. By kind, because a
        # link refused as a page (another host's) may be a requisite elsewhere: <a href=X><img src=X>.
        self._links_seen: set[tuple[str, str]] = set()
        self._pages_queued = 0
        self._requisites_queued = 0
        self.result = CrawlResult()
        self.journal_path = journal
        self.archived = archived or {}
        self._journal: Journal | None = None

    def run(self) -> CrawlResult:
        (self.settings.data / "tmp").mkdir(parents=True, exist_ok=True)
        self._start()
        if self.journal_path is not None:
            self._replay(read_journal(self.journal_path))
            self.journal_path.parent.mkdir(parents=True, exist_ok=True)
            self._journal = Journal(self.journal_path)
        pool = WorkerPool(self.config, self.settings.workers, self.settings.processes or default_processes())
        self._slots = HostSlots(self.settings.per_host, len(pool.members))
        closed = False
        try:
            self._loop(pool)
            self.result.stopped = self.stop.is_set()
            for index, kind, payload in pool.close():
                self._receive(index, kind, payload)
            closed = True
        finally:
            if not closed:
                pool.kill()  # records already sealed stay; an '.open' file is salvaged on the next run
            if self._journal is not None:
                self._journal.close()
        return self.result

    def _replay(self, outcomes: Iterable[Outcome]) -> None:
        """Handle an interrupted run's outcomes again; what they did is then not redone."""
        done: set[str] = set()
        for out in outcomes:
            key = canonical(out.task.url)
            if out.recorded and key not in self.archived:
                # Its record was lost: the URL is fetched again and that outcome handled, so
                # its failure, findings and links count once; its links come back with it.
                continue
            done.add(key)
            self._handle(out)
            self.result.resumed += 1
        for host, queue in self._queues.items():
            left: deque[Task] = deque()
            for task in queue:
                key = canonical(task.url)
                if key not in done:
                    task.archived = self.archived.get(key)
                    left.append(task)
            self._queues[host] = left

    def _start(self) -> None:
        self._enqueue(Task(self.spec.url, "page", 0, seed=True))
        self._pages_queued = 1

    def _loop(self, pool: WorkerPool) -> None:
        last_beat = last_report = time.monotonic()
        stopping = False
        while True:
            if time.monotonic() - last_beat > min(self.settings.heartbeat_seconds, CATALOG_PROGRESS_SECONDS):
                self.heartbeat(self._progress(pool))
                last_beat = time.monotonic()
            if self.progress is not None and time.monotonic() - last_report > PROGRESS_SECONDS:
                self.progress(self._progress(pool))
                last_report = time.monotonic()
            if self.stop.is_set():
                if not stopping:
                    pool.stop()
                    stopping = True
            else:
                self._dispatch(pool)
            if pool.inflight == 0:
                if stopping or not any(self._queues.values()):
                    return
                time.sleep(min(0.05, self._until_next_start()))
                continue
            for index, kind, payload in pool.messages(timeout=0.25):
                self._receive(index, kind, payload)
            if self._journal is not None:
                self._journal.flush()

    def _progress(self, pool: WorkerPool) -> CrawlProgress:
        r = self.result
        return CrawlProgress(r.pages, r.requisites, len(r.failures),
                             sum(len(q) for q in self._queues.values()) + pool.inflight, self._bytes)

    def _receive(self, worker: int, kind: str, payload: object) -> None:
        if kind == "outcome":
            assert isinstance(payload, Outcome) and self._slots is not None
            self._slots.done(payload.task.host, worker)
            self._bytes += payload.length
            if payload.fatal:
                raise Interrupted(f"{payload.fatal}; free space on the disk holding {self.settings.data} and "
                                  "capture the target again: the capture resumes where it stopped")
            if self._journal is not None and payload.error != STOPPED:
                self._journal.write(payload, [(url, kind) for url, kind in payload.links
                                              if self._may_take(url, kind, payload.task)])
            self._handle(payload)
        elif kind == "sealed":
            assert isinstance(payload, SealedWarc)
            self.on_sealed(payload)

    # -- what to fetch next ----------------------------------------------------------------

    def _dispatch(self, pool: WorkerPool) -> None:
        assert self._slots is not None
        now = time.monotonic()
        for host, queue in self._queues.items():
            if not queue or self._next_start.get(host, 0.0) > now:
                continue
            # A host with a delay between requests is paced from here, so nothing is sent ahead.
            paced = self._host_delay.get(host, self.settings.delay) > 0
            while queue:
                worker = self._slots.pick(host, pool, 0 if paced else AHEAD)
                if worker is None:
                    break
                task = queue[0]
                if self.obey_robots and task.role != "robots":
                    origin = _origin(task.url)
                    if origin not in self._rules:
                        self._rules[origin] = None
                        queue.appendleft(Task(origin + "/robots.txt", "robots"))
                        continue
                    rules = self._rules[origin]
                    if rules is None:
                        break  # robots.txt is on its way
                    refusal = rules.refusal(task.url, self.settings.user_agent)
                    if refusal:
                        queue.popleft()
                        self._failed(task, None, refusal)
                        continue
                queue.popleft()
                task.host, task.limit = host, self._slots.share(host, worker)
                self._slots.sent(host, worker)
                pool.submit(task, worker)
                if paced:
                    self._next_start[host] = now + self._host_delay.get(host, self.settings.delay)
                    break

    def _until_next_start(self) -> float:
        now = time.monotonic()
        waits = [self._next_start.get(h, 0.0) - now for h, q in self._queues.items() if q]
        return max(0.0, min(waits, default=0.0))

    def _enqueue(self, task: Task, key: str | None = None) -> bool:
        key = key or canonical(task.url)
        if key in self._seen:
            return False
        self._seen.add(key)
        self._queues.setdefault(host_and_port(task.url), deque()).append(task)
        return True

    # -- what came back --------------------------------------------------------------------

    def _handle(self, out: Outcome) -> None:
        task = out.task
        if task.role == "robots":
            self._robots_done(out)
            return
        if out.recorded:
            if task.role in PAGE_ROLES:
                self.result.pages += 1
            else:
                self.result.requisites += 1
            if out.recorded == "revisit":
                self.result.revisits += 1
        # Browser mode: what rendering the page fetched, and what failed doing so.
        self.result.requisites += out.caused
        self.result.revisits += out.caused_revisits
        self.result.failures.extend(out.failures)
        if out.error or (out.status is not None and out.status >= 400):
            self._failed(task, out.status, out.error or f"HTTP {out.status}")
        if out.redirect:
            self._follow_redirect(task, out.redirect)
            return
        for url, kind in out.links:
            if not self._may_take(url, kind, task):
                continue
            if kind == "page":
                self._add_page(url, task.depth + 1)
            else:
                self._add_requisite(url, task)

    def _may_take(self, url: str, kind: str, parent: Task) -> bool:
        """Whether handling link URL of PARENT could change anything. The journal keeps only
        such links: a link refused for good (a budget spent) or refused from this parent
        (its depth, its chain, not a page) is left out, however often pages repeat it, and
        replay refuses it the same way by not seeing it."""
        if ("page" if kind == "page" else "requisite", url) in self._links_seen:
            return False
        if kind == "page":
            # Page tasks are queued only in scope (the seed's redirects widen the scope).
            return (parent.role == "page" and parent.depth + 1 <= self.max_depth
                    and self._pages_queued < self.max_pages)
        return (parent.chain + 1 <= MAX_REQUISITE_CHAIN
                and self._requisites_queued < self.max_pages * REQUISITES_PER_PAGE)

    def _robots_done(self, out: Outcome) -> None:
        origin = _origin(out.task.url)
        rules = Rules(out.robots_txt, out.error)
        self._rules[origin] = rules
        delay = rules.crawl_delay(self.settings.user_agent)
        if delay:
            self._host_delay[host_and_port(out.task.url)] = max(self.settings.delay, delay)

    def _failed(self, task: Task, status: int | None, reason: str) -> None:
        self.result.failures.append({"url": task.url, "status": status, "reason": reason})
        if task.seed:
            self.result.seed_error = f"seed {task.url}: {reason}"

    def _follow_redirect(self, task: Task, url: str) -> None:
        if task.redirects >= self.settings.max_redirects:
            self._failed(task, None, f"more than {self.settings.max_redirects} redirects")
            return
        if task.seed:
            self.scope.add_seed(url)
        elif task.role == "page" and not self.scope.in_scope(url):
            return  # a page redirecting off-site: the hop is recorded, the target is not ours
        if self.scope.excluded(url) or is_trap(url):
            return
        self._enqueue(dataclasses.replace(task, url=url, redirects=task.redirects + 1, host="", limit=1,
                                          archived=self.archived.get(canonical(url))))

    def _add_page(self, url: str, depth: int) -> None:
        if depth > self.max_depth or self._pages_queued >= self.max_pages:
            return  # not remembered: the same link may come again from a shallower page
        self._links_seen.add(("page", url))
        key = canonical(url)
        if key not in self._seen and self.scope.in_scope(url, key) and self._enqueue(Task(url, "page", depth), key):
            self._pages_queued += 1

    def _add_requisite(self, url: str, parent: Task) -> None:
        chain = parent.chain + 1
        if chain > MAX_REQUISITE_CHAIN or self._requisites_queued >= self.max_pages * REQUISITES_PER_PAGE:
            return
        self._links_seen.add(("requisite", url))
        if self.scope.excluded(url) or is_trap(url):
            return
        if self._enqueue(Task(url, "requisite", parent.depth, chain)):
            self._requisites_queued += 1


class HostSlots:
    """Each host's `per_host` slots, split between the worker processes.

    A worker enforces its share itself (worker.HostGate), so the coordinator may send it
    a few tasks ahead and its next request to a host starts as soon as one is answered.
    The split rotates by host, so hosts with a single slot spread over the workers.
    """

    def __init__(self, per_host: int, workers: int) -> None:
        self.per_host = per_host
        self.workers = workers
        self._shares: dict[str, list[int]] = {}
        self._outstanding: dict[str, list[int]] = {}  # sent, outcome not back yet

    def share(self, host: str, worker: int) -> int:
        shares = self._shares.get(host)
        if shares is None:
            base, extra = divmod(self.per_host, self.workers)
            first = zlib.crc32(host.encode()) % self.workers
            shares = [base + (1 if (i - first) % self.workers < extra else 0) for i in range(self.workers)]
            self._shares[host] = shares
            self._outstanding[host] = [0] * self.workers
        return shares[worker]

    def pick(self, host: str, pool: WorkerPool, ahead: int) -> int | None:
        """The worker to send host's next task to, or None if all of its slots are taken."""
        best = None
        for worker in range(self.workers):
            share = self.share(host, worker)
            outstanding = self._outstanding[host][worker]
            if share and outstanding < share + ahead and pool.has_room(worker, ahead):
                if best is None or outstanding - share < self._outstanding[host][best] - self.share(host, best):
                    best = worker
        return best

    def sent(self, host: str, worker: int) -> None:
        self._outstanding[host][worker] += 1

    def done(self, host: str, worker: int) -> None:
        self._outstanding[host][worker] -= 1


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
