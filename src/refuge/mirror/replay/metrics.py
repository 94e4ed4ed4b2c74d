"""The replay server's own figures for /metrics: requests by route kind and status class,
and a latency histogram, summed over every replay process of this machine.

Contract:
- `instrument(app, settings)` wraps the replay app. Each request is counted in
  refuge_replay_requests_total{kind, status} and timed in
  refuge_replay_request_seconds{kind}, from the call until the server closes the body
  (sent, or the client gone). Labels are bounded: kind is web, data, mirrors, search or other,
  status a class (2xx, 3xx, 4xx, 5xx, 1xx); never the URL. Counting never breaks a
  request: a failure to count is logged once and the request goes on.
- Every replay process writes its figures to its own files under `metrics_dir(settings)`
  (DATA/metrics/replay), through prometheus-client's multiprocess mode; the admin server
  sums them (prometheus_client.multiprocess.MultiProcessCollector with that path).
  `reset(settings)` empties the directory; the server calls it when it starts, before
  its processes, so figures begin at zero with the server. A process that dies and is
  replaced leaves its files: its counts stay in the sums, as counters must (these are
  counters and histograms only, so there is no live gauge for mark_process_dead to clear).
- The environment: prometheus-client's multiprocess values learn their directory only
  from PROMETHEUS_MULTIPROC_DIR, which the library reads when it opens a process's file.
  So, only while the meters are made (which opens both files), the variable is set from
  the settings and the multiprocess value class is chosen explicitly
  (prometheus_client.values.ValueClass, the library's hook for it); then both are put
  back as they were. Nothing here reads the environment, it does not matter whether
  prometheus_client was imported before, and no other metric of the process changes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refuge.config.settings import Settings

log = logging.getLogger(__name__)

KINDS = ("web", "data", "mirrors", "search", "other")
STATUSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_MIRROR_LIST = ("/mirrors", "/refuge.pub")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def metrics_dir(settings: Settings) -> Path:
    """Where this machine's replay processes keep their figures."""
    return settings.data / "metrics" / "replay"


def reset(settings: Settings) -> None:
    """Empty the figures' directory (made if missing): a server starting counts from zero."""
    directory = metrics_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)


def route_kind(path: str) -> str:
    """web, data, mirrors, search or other: the label a request path is counted under."""
    if path == "/web" or path.startswith("/web/"):
        return "web"
    if path == "/data" or path.startswith("/data/"):
        return "data"
    if path.startswith(_MIRROR_LIST):
        return "mirrors"
    if path == "/search":
        return "search"
    return "other"


@dataclass(frozen=True)
class Meters:
    requests: Any  # prometheus_client.Counter, labels kind and status
    seconds: Any  # prometheus_client.Histogram, label kind


_made: dict[str, Meters] = {}
_making = threading.Lock()


def meters(directory: Path) -> Meters:
    """This process's meters writing under DIRECTORY (made once per process and directory)."""
    with _making:
        found = _made.get(str(directory))
        if found is None:
            found = _made[str(directory)] = _make(directory)
        return found


def _make(directory: Path) -> Meters:
    directory.mkdir(parents=True, exist_ok=True)
    from prometheus_client import Counter, Histogram, values

    before, value_class = os.environ.get("PROMETHEUS_MULTIPROC_DIR"), values.ValueClass
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # see the module's docstring
    try:
        values.ValueClass = values.MultiProcessValue()
        requests = Counter("refuge_replay_requests", "Replay requests answered, by route kind and status class",
                           ["kind", "status"], registry=None)
        seconds = Histogram("refuge_replay_request_seconds", "Replay request time until the body was sent",
                            ["kind"], buckets=BUCKETS, registry=None)
        # Every label set made now: the files are opened while the variable is set, and a
        # scrape shows zeros rather than nothing for what has not happened yet.
        for kind in KINDS:
            seconds.labels(kind)
            for status in STATUSES:
                requests.labels(kind, status)
    finally:
        values.ValueClass = value_class  # metrics made later in this process are as they would have been
        if before is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = before
    return Meters(requests, seconds)


def instrument(app: WSGIApp, settings: Settings) -> WSGIApp:
    """APP, counted and timed into this machine's replay figures."""
    return CountingMiddleware(app, meters(metrics_dir(settings)))


class CountingMiddleware:
    """A WSGI middleware that counts and times each request (see the module's docstring)."""

    def __init__(self, app: WSGIApp, meters: Meters) -> None:
        self.app = app
        self.meters = meters
        self._failed_once = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        began = time.perf_counter()
        kind = route_kind(environ.get("PATH_INFO") or "/")
        seen: list[str] = []

        def starting(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status]
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, starting)
        except BaseException:
            self._count(kind, "500", began)
            raise
        timed = _SizedTimed if hasattr(body, "__len__") else _Timed
        return timed(body, lambda: self._count(kind, seen[0] if seen else "500", began))

    def _count(self, kind: str, status: str, began: float) -> None:
        first = status[:1]
        label = f"{first}xx" if first in ("1", "2", "3", "4", "5") else "5xx"
        try:
            self.meters.requests.labels(kind, label).inc()
            self.meters.seconds.labels(kind).observe(time.perf_counter() - began)
        except Exception:  # noqa: BLE001 - figures are not worth a reader's page
            if not self._failed_once:
                self._failed_once = True
                log.exception("could not count a replay request; the server goes on without its figures")


class _Timed:
    """A response body that reports when the server closes it (PEP 3333 requires the close)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self.body = body
        self.done = done
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done()


class _SizedTimed(_Timed):
    """_Timed for a body that has a length: waitress sets Content-Length for a one-chunk
    body whose length it can ask for, and must still be able to."""

    def __len__(self) -> int:
        return len(self.body)  # type: ignore[arg-type]
