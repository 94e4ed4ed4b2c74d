"""Live progress of a long command on a terminal: one line on stderr, redrawn a few
times a second and gone when the command ends, so a capture of hours says how it goes.

Contract: capture_progress(name, wanted) yields a callable for run_capture's progress,
or None (nothing shown, nothing printed) when WANTED is false (--json) or stderr is not
a terminal (a pipe, a log file, cron): output meant for programs stays as it was.
"""

from __future__ import annotations

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
    console = Console(stderr=True)
    if not wanted or not console.is_terminal:
        yield None
        return
    started = time.monotonic()
    with Live(Text(f"{name}: starting"), console=console, transient=True, refresh_per_second=4) as live:
        def show(p: CrawlProgress) -> None:
            rate = p.pages / max(time.monotonic() - started, 1e-3)
            live.update(Text(f"{name}: {p.pages:,} pages, {p.requisites:,} requisites, {p.failed:,} failed, "
                             f"{p.queued:,} queued · {size(p.bytes)} · {rate:.1f} pages/s"))

        yield show
