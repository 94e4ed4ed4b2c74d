"""The coordinator's side of the worker processes: start them, feed them, collect from them."""

from __future__ import annotations

import multiprocessing
import os
import selectors
import threading
from typing import Any, Iterator

from refuge.archiver.worker import Task, WorkerConfig, worker_main
from refuge.config.errors import Failure

CLOSE_TIMEOUT = 600.0  # sealing a worker's last file hashes and fsyncs it; generous on slow disks


def _context() -> multiprocessing.context.BaseContext:
    # fork is fastest, but forking a process that has other threads (the scheduler and the
    # replay server in `refuge run`) can copy a held lock into the child; forkserver forks
    # from a clean single-threaded process instead.
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["refuge.archiver.worker"])
    return ctx


class WorkerProcess:
    def __init__(self, ctx: multiprocessing.context.BaseContext, config: WorkerConfig, threads: int) -> None:
        self.conn, child = ctx.Pipe()
        self.capacity = threads
        self.inflight = 0
        self.process = ctx.Process(target=worker_main, args=(child, config, threads), daemon=True,
                                   name=f"refuge-worker-{config.number}")
        self.process.start()
        child.close()

    def submit(self, task: Task) -> None:
        self.conn.send(("task", task))
        self.inflight += 1

    def send(self, kind: str) -> None:
        try:
            self.conn.send((kind, None))
        except (BrokenPipeError, OSError):
            pass


class WorkerPool:
    """`processes` worker processes sharing `workers` fetching threads between them."""

    def __init__(self, config: WorkerConfig, workers: int, processes: int) -> None:
        processes = max(1, min(processes, workers))
        ctx = _context()
        base, extra = divmod(workers, processes)
        self.members: list[WorkerProcess] = []
        self._selector: selectors.BaseSelector | None = None  # made once: the loop waits thousands of times
        try:
            for n in range(processes):
                cfg = WorkerConfig(**{**config.__dict__, "number": n + 1})
                self.members.append(WorkerProcess(ctx, cfg, base + (1 if n < extra else 0)))
        except BaseException:
            self.kill()
            raise

    @property
    def inflight(self) -> int:
        """Tasks sent whose outcome has not come back."""
        return sum(m.inflight for m in self.members)

    def has_room(self, index: int, ahead: int) -> bool:
        """Whether worker INDEX can take a task: a free thread, or `ahead` tasks queued in it."""
        member = self.members[index]
        return member.inflight < member.capacity + ahead

    def submit(self, task: Task, index: int) -> None:
        self.members[index].submit(task)

    def messages(self, timeout: float) -> Iterator[tuple[int, str, Any]]:
        """(worker index, kind, payload) for messages that arrive within timeout;
        raises Failure if a worker died."""
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
            for index, member in enumerate(self.members):
                self._selector.register(member.conn, selectors.EVENT_READ, index)
        for key, _ in self._selector.select(timeout):
            index, member = key.data, self.members[key.data]
            try:
                kind, payload = member.conn.recv()
            except (EOFError, OSError):
                raise Failure(f"crawl worker {member.process.name} died "
                              f"(exit code {member.process.exitcode})") from None
            if kind == "outcome":
                member.inflight -= 1
            yield index, kind, payload

    def stop(self) -> None:
        """Ask in-flight fetches that are waiting to retry to give up."""
        for m in self.members:
            m.send("stop")

    def close(self) -> Iterator[tuple[int, str, Any]]:
        """Seal every worker's files; yields the messages that come back before they exit."""
        for m in self.members:
            m.send("close")
        for index, m in enumerate(self.members):
            while True:
                if not m.conn.poll(CLOSE_TIMEOUT):
                    raise Failure(f"crawl worker {m.process.name} did not finish sealing its files")
                try:
                    kind, payload = m.conn.recv()
                except (EOFError, OSError):
                    raise Failure(f"crawl worker {m.process.name} died while sealing its files") from None
                if kind == "closed":
                    break
                yield index, kind, payload
            m.process.join(10)
        if self._selector is not None:
            self._selector.close()
        for m in self.members:
            m.conn.close()

    def kill(self) -> None:
        if self._selector is not None:
            self._selector.close()
        for m in self.members:
            if m.process.is_alive():
                m.process.kill()
            m.process.join(5)
            m.conn.close()


def default_processes() -> int:
    return os.cpu_count() or 1
