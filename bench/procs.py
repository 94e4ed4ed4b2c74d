"""Child processes of the benchmark: started in their own process group, measured,
and always ended (normal exit, error, Ctrl-C or SIGTERM)."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import psutil
except ImportError:  # the [bench] extra brings it; without it peak RSS comes from wait4 only
    psutil = None

_children: list[subprocess.Popen] = []
_lock = threading.Lock()


def _end(p: subprocess.Popen, grace: float = 5.0) -> None:
    """End P's process group (it was started with its own session), by its id."""
    if p.poll() is not None and not _group_alive(p.pid):
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                p.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            except ChildProcessError:
                pass
            if not _group_alive(p.pid):
                return
            time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def cleanup() -> None:
    with _lock:
        children = list(reversed(_children))
        _children.clear()
    for p in children:
        try:
            _end(p)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass


def _on_signal(signum, frame):  # noqa: ARG001
    cleanup()
    raise KeyboardInterrupt(f"signal {signum}")


def install_handlers() -> None:
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    # Ctrl-C raises KeyboardInterrupt (even when started with SIGINT ignored, as `cmd &` does);
    # run.py's finally and atexit call cleanup().
    signal.signal(signal.SIGINT, signal.default_int_handler)


def spawn(cmd: list[str], *, log: Path | None = None, cwd: Path | None = None,
          env: dict | None = None) -> subprocess.Popen:
    """Start CMD in its own process group, registered for cleanup."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, cwd=cwd, env=env, start_new_session=True)
    finally:
        if log:
            out.close()
    with _lock:
        _children.append(p)
    return p


def stop(p: subprocess.Popen) -> None:
    _end(p)
    with _lock:
        if p in _children:
            _children.remove(p)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class RunResult:
    cmd: list[str]
    returncode: int
    seconds: float
    peak_rss: int  # bytes: the polled process-tree sum (ru_maxrss without psutil)
    peak_rss_tree: int  # bytes, polled sum over the tree (0 without psutil)
    maxrss_kernel: int  # bytes, ru_maxrss from wait4 (largest single process, reaped descendants included)
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system CPU of the process (and its reaped children), from wait4


def run_measured(cmd: list[str], *, log: Path, env: dict | None = None, cwd: Path | None = None,
                 timeout: float = 3600.0, poll: float | None = None) -> RunResult:
    """Run CMD to completion, stdout to LOG.out and stderr to LOG.err; its wall time, and
    with POLL (seconds) the peak RSS of the whole process tree.

    Polling walks /proc every POLL seconds on the same cores the command uses, which
    slows a command that uses every core more than a single-threaded one: timed runs
    leave it off, and memory is measured in runs of its own."""
    out_path = log.with_name(log.name + ".out")
    err_path = log.with_name(log.name + ".err")
    # The previous run's files may still be waiting to be written back; without this the
    # next tool's fsync (Refuge seals its WARC files with one) pays for the last one's writes.
    os.sync()
    t0 = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                             start_new_session=True)
    with _lock:
        _children.append(p)

    peak_tree = 0
    stop_poll = threading.Event()

    def poller() -> None:
        nonlocal peak_tree
        if psutil is None or poll is None:
            return
        try:
            root = psutil.Process(p.pid)
        except psutil.Error:
            return
        while not stop_poll.is_set():
            total = 0
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                break
            for q in procs:
                try:
                    total += q.memory_info().rss
                except psutil.Error:
                    pass
            peak_tree = max(peak_tree, total)
            stop_poll.wait(poll)

    th = threading.Thread(target=poller, daemon=True)
    th.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        if time.monotonic() > deadline:
            stop_poll.set()
            _end(p)
            raise TimeoutError(f"{cmd[0]} ran longer than {timeout}s")
        time.sleep(0.005)
    seconds = time.perf_counter() - t0
    stop_poll.set()
    th.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    _end(p, grace=1.0)  # anything it left running in its group
    with _lock:
        if p in _children:
            _children.remove(p)
    # ru_maxrss of a forked child can count pages it shared with this (Python) parent before
    # exec, so it overstates small programs: the polled tree sum is the figure when psutil is there.
    kernel = rusage.ru_maxrss * 1024
    return RunResult(cmd, p.returncode, seconds, peak_tree if psutil is not None and peak_tree else kernel, peak_tree,
                     rusage.ru_maxrss * 1024,
                     out_path.read_text(encoding="utf-8", errors="replace"),
                     err_path.read_text(encoding="utf-8", errors="replace"),
                     rusage.ru_utime + rusage.ru_stime)
