"""Real servers the tests start themselves: PostgreSQL and headless Chromium.

``scripts/install-test-servers.sh`` (run by ``make test``) installs the Debian packages.
When something is missing the fixtures fail under CI (``CI=true``) and skip locally,
naming the command that installs it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

INSTALL_HINT = "run `bash scripts/install-test-servers.sh` (as root) or `make test`"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(what: str, why: str, install: str) -> None:
    """A server the tests need is not there: fail under CI, skip locally."""
    message = f"{what} is not available ({why}); {install}"
    if in_ci():
        pytest.fail(f"{message} [CI=true: a missing test server is a failure, not a skip]",
                    pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_lines_until(proc: subprocess.Popen, marker: str, timeout: float = 60.0) -> list[str]:
    """Lines a process prints (text mode), up to and including the first that starts with
    MARKER, or all of them if it ends or TIMEOUT passes first."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            break
        lines.append(line)
        if line.startswith(marker):
            break
    return lines


def stop_process(proc: subprocess.Popen, sig: int, timeout: float = 20.0) -> None:
    """Send SIG and wait; a process still there after TIMEOUT is killed and the wait fails."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.05)


# -- PostgreSQL ------------------------------------------------------------------------

PG_INSTALL = f"{INSTALL_HINT}; it does `apt-get install -y postgresql`"


def find_pg_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (PATH first, then Debian's)."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        real = Path(os.path.realpath(initdb)).parent
        if (real / "pg_ctl").exists() and (real / "postgres").exists():
            return real
        return Path(initdb).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda d: [int(x) if x.isdigit() else 0 for x in Path(d).parent.name.split(".")])
    for d in reversed(candidates):
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return Path(d)
    return None


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temp dir on 127.0.0.1:PORT (trust auth).

    As root the server runs as the ``postgres`` user (PostgreSQL refuses root), so the
    directory is created in /tmp and handed to that user.
    """

    def __init__(self, bindir: Path, database: str = "refuge") -> None:
        self.bindir = bindir
        self.database = database
        self.port = 0
        # /tmp, not $TMPDIR: the postgres user must be able to reach it, and the unix
        # socket path must stay short.
        self.dir = Path(tempfile.mkdtemp(prefix="refuge-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        self.datadir = self.dir / "data"
        self.logfile = self.dir / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(f"running as root and there is no `postgres` user; {PG_INSTALL}") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            self._as = [runuser, "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [*self._as, *args]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, cwd=self.dir)
        if proc.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}\n{log}")
        return proc

    def start(self) -> "PostgresServer":
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                  "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        last: Exception | None = None
        for _ in range(3):  # the free port may be taken between free_port() and bind()
            self.port = free_port()
            options = (f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                       "-c max_connections=200")
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                          "-o", options, "-w", "-t", "60", "start", timeout=90)
                break
            except RuntimeError as exc:
                last = exc
        else:
            raise RuntimeError(f"PostgreSQL did not start: {last}")
        self.create_database(self.database)
        return self

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database (``refuge``)."""
        return self.url_for(self.database)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE name; returns its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        try:
            if (self.datadir / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w",
                          "-t", "30", "stop", timeout=60)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Start a server or report it unavailable (fail in CI, skip locally)."""
    bindir = find_pg_bindir()
    if bindir is None:
        unavailable("PostgreSQL server (initdb, pg_ctl)", "not on PATH nor in /usr/lib/postgresql/*/bin",
                    PG_INSTALL)
    server = PostgresServer(bindir)
    try:
        return server.start()
    except Exception as exc:
        server.stop()
        unavailable("PostgreSQL server", f"it did not start: {exc}", PG_INSTALL)
        raise


# -- Chromium through Playwright ---------------------------------------------------------

BROWSER_INSTALL = (f"{INSTALL_HINT}; it does `apt-get install -y chromium` "
                   "(Playwright's own browser download does not work here)")


def need_chromium() -> None:
    """Fail under CI (skip locally) when Debian's Chromium is not there to run."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable("Chromium", f"{CHROMIUM} is missing", BROWSER_INSTALL)


def start_browser():
    """(playwright, browser): headless Debian Chromium driven by Playwright."""
    need_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("Playwright", str(exc), "pip install -e '.[test]' (or `make install`)")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                     timeout=60_000)
    except Exception as exc:
        pw.stop()
        unavailable("Chromium", f"it did not launch: {exc}", BROWSER_INSTALL)
        raise
    return pw, browser
