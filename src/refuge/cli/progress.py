"""Live progress of a long command on a terminal: one line on stderr, redrawn as work
is done and gone when the command ends, so a capture of hours says how it goes.

Contract: capture_progress(name, wanted) yields a callable for run_capture's progress;
step_progress(label, unit, wanted) one for the (done, total, bytes) progress of push,
verify, export and publish (thread-safe: a push reports from a thread per store). Each
yields None (nothing shown, nothing printed) when WANTED is false (--json) or stderr is
not a terminal (a pipe, a log file, cron): output meant for programs stays as it was.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.text import Text

from refuge.archiver.crawl import CrawlProgress
from refuge.cli.output import size


@contextmanager
def capture_progress(name: str, wanted: bool = True) -> Iterator[Callable[[CrawlProgress], None] | None]:
    # Asked of stderr itself: rich calls a pipe a terminal when FORCE_COLOR is set.
    if not wanted or not sys.stderr.isatty():
        yield None
        return
    started = time.monotonic()
    # Redrawn when the crawl reports, not by a thread of rich's: a capture started with no
    # other thread forks its worker processes, the quicker way (archiver/workerpool.py).
    with Live(Text(f"{name}: starting"), console=Console(stderr=True), transient=True, auto_refresh=False) as live:
        def show(p: CrawlProgress) -> None:
            rate = p.pages / max(time.monotonic() - started, 1e-3)
            live.update(Text(f"{name}: {p.pages:,} pages, {p.requisites:,} requisites, {p.failed:,} failed, "
                             f"{p.queued:,} queued · {size(p.bytes)} · {rate:.1f} pages/s"), refresh=True)

        yield show


@contextmanager
def step_progress(label: str, unit: str, wanted: bool = True) -> Iterator[Callable[[int, int | None, int], None] | None]:
    if not wanted or not sys.stderr.isatty():
        yield None
        return
    started = time.monotonic()
    lock = threading.Lock()
    with Live(Text(f"{label}: starting"), console=Console(stderr=True), transient=True, auto_refresh=False) as live:
        def show(done: int, total: int | None, nbytes: int) -> None:
            rate = nbytes / max(time.monotonic() - started, 1e-3)
            of = f"/{total:,}" if total is not None else ""
            with lock:
                live.update(Text(f"{label}: {done:,}{of} {unit} · {size(nbytes)} · {size(int(rate))}/s"),
                            refresh=True)

        yield show
