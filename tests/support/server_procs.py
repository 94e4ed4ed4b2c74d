"""Running test servers as child processes: spawn into their own process group, wait
until ready (with the logs' tails when not), stop with the whole group, retry a port
another run took first. Used by swift_server.py and ipfs_server.py."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]  # tests/support/server_procs.py
HTTP_TIMEOUT = 10.0
T = TypeVar("T", bound="Restartable")


class StoreServerUnavailable(RuntimeError):
    """The server software is not installed."""


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        # WNOWAIT leaves the leader unreaped, so its pid (the group id) cannot be reused
        # before the SIGKILL below reaches any child it left behind.
        while (time.monotonic() < deadline
               and os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None):
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _read(log: Path, offset: int = 0) -> bytes:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            return f.read()
    except OSError:
        return b""


def wait_until(ready: Callable[[], bool], procs: dict[str, subprocess.Popen], logs: list[Path],
                what: str, timeout: float, fatal: str | None = None) -> None:
    """Poll ``ready()``; raise with the logs' tails if a process dies, a log shows ``fatal``
    (for servers that stay up after failing to listen), or time runs out."""
    deadline = time.monotonic() + timeout
    since = {log: len(_read(log)) for log in logs}  # restarts append: read only this run's
    while True:
        if dead := [name for name, p in procs.items() if p.poll() is not None]:
            why = f"{', '.join(dead)} exited"
        elif fatal and any(fatal.encode() in _read(log, at) for log, at in since.items()):
            why = f"it logged {fatal}"
        elif ready():
            return
        elif time.monotonic() > deadline:
            why = f"not ready after {timeout:.0f}s"
        else:
            time.sleep(0.05)
            continue
        tails = [f"--- {log}\n" + "\n".join(_read(log).decode(errors="replace").splitlines()[-30:])
                 for log in logs]
        raise RuntimeError(f"{what} did not start: {why}\n" + "\n".join(tails))


def listens(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1.0):
            return True
    except OSError:
        return False


def answers(method: str, url: str) -> bool:
    try:
        return requests.request(method, url, timeout=1.0).ok
    except requests.RequestException:
        return False


def _port_clash(exc: Exception) -> bool:
    """A port from free_port() was taken before the server bound it (parallel test runs)."""
    return any(marker in str(exc) for marker in ("Could not bind", "EADDRINUSE"))


class Restartable:
    def start(self) -> None: ...
    def stop(self) -> None: ...

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The server is unreachable inside the block, and answering again after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


def start_on_free_ports(configure: Callable[[], T]) -> T:
    """configure() picks ports and returns a stopped server; start it, retrying port clashes."""
    for attempt in range(3):
        server = configure()
        try:
            server.start()
        except RuntimeError as exc:
            if attempt == 2 or not _port_clash(exc):
                raise
            continue
        atexit.register(server.stop)  # benchmarks and interrupted runs leave no servers behind
        return server
    raise AssertionError("unreachable")
