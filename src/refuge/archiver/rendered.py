"""What browser mode asks of a page and what it brings back: plain data, no Playwright, so
the worker can name them without importing the browser (archiver/browser.py does, when a
browser-mode target is captured)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from refuge.config.targets import TargetSpec


class RenderFailed(Exception):
    """The page could not be rendered (a reason for the capture's failure list)."""


class RenderStopped(Exception):
    """The capture is stopping: the page is left for the next run."""


@dataclass(frozen=True)
class BrowserOptions:
    """What to do to each page of a target: scroll it, press these elements up to CLICKS times;
    and the target's exclude patterns, which refuse a page's requests as they refuse links."""

    scroll: bool = False
    click: tuple[str, ...] = ()
    clicks: int = 0
    exclude: tuple[str, ...] = ()


def browser_options(spec: TargetSpec) -> BrowserOptions | None:
    """The target's browser-mode options; None for a target captured with plain fetches."""
    if not spec.browser:
        return None
    return BrowserOptions(scroll=spec.scroll, click=spec.click, clicks=spec.clicks, exclude=tuple(spec.exclude))


@dataclass(frozen=True)
class Budget:
    settle: float  # seconds a page may take to go quiet, each time it is waited for
    page: float  # seconds one attempt at a page may take in all

    @property
    def step(self) -> float:
        """Seconds one call into the page (a scroll, a press, reading its DOM) may take: a
        page that keeps its main thread busy never answers one. As long as a settle, within
        bounds: a responsive page answers in milliseconds."""
        return max(2.0, min(10.0, self.settle))


@dataclass
class Rendered:
    dom: bytes | None  # the serialised DOM, UTF-8; None if it was larger than allowed (see failures)
    screenshot: bytes | None  # PNG; None if it could not be taken (see failures)
    fetched: set[str] = field(default_factory=set)  # canonical URLs fetched for the page
    records: list[tuple[str, str]] = field(default_factory=list)  # (url, "response" | "revisit") written
    failures: list[dict[str, Any]] = field(default_factory=list)  # {"url", "status", "reason"}
    length: int = 0  # payload bytes fetched
    clicks: int = 0  # presses made
