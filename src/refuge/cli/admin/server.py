"""Running the admin server: on `admin_host:admin_port`, in one process with a few
threads (admins are few; the catalog is what it reads), beside the work it starts.

`refuge admin` runs it alone, until stopped; `refuge run` runs it in a thread beside
the scheduler and the replay server (`admin_in_background`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from refuge.cli.admin.app import MAX_BODY, AdminApp, allowed_hosts
from refuge.cli.admin.background import Background
from refuge.config.settings import Settings
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog

log = logging.getLogger(__name__)
THREADS = 8


LOOPBACK = ("127.0.0.1", "::1", "[::1]", "0.0.0.0", "::", "localhost")


def console_url(settings: Settings, port: int) -> str:
    """Where admins open the console. On this machine that is http://localhost:PORT/, not
    127.0.0.1: cookies belong to a host name whatever the port, and the replay server's
    default name is 127.0.0.1, so the console's cookie is never sent to archived pages."""
    if settings.admin_public_url:
        return settings.admin_public_url
    host = "localhost" if settings.admin_host in LOOPBACK else settings.admin_host
    return f"http://{host}:{port}/"


@contextmanager
def admin_server(settings: Settings, port: int | None = None) -> Iterator[str]:
    """The admin server running in background threads; yields its base URL."""
    engine = catalog.connect(settings.catalog_url, pool=THREADS + 2)
    background = Background(settings, engine)
    app = AdminApp(settings, engine, background)
    try:
        with running_server(app, settings.admin_host, settings.admin_port if port is None else port,
                            threads=THREADS, max_body=MAX_BODY, name="admin") as url:
            port = urlsplit(url).port or 0
            app.hosts = allowed_hosts(settings, port)
            log.info("admin console on %s (log in as a user from `refuge user add`)", console_url(settings, port))
            if urlsplit(console_url(settings, port)).hostname == settings.host:
                log.warning("the admin console and the replay server share the host name %s: browsers send the "
                            "console's cookie to the replay server too; give the console a name of its own "
                            "(admin_public_url)", settings.host)
            yield url
    finally:
        background.shutdown()
        engine.dispose()


def serve_admin(settings: Settings) -> None:
    """The admin server until Ctrl-C or SIGTERM."""
    with admin_server(settings):
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


def admin_in_background(settings: Settings, stop: threading.Event) -> threading.Thread:
    """The admin server in a thread of its own until STOP is set (`refuge run`)."""
    def run() -> None:
        try:
            with admin_server(settings):
                stop.wait()
        except Exception:  # noqa: BLE001 - the replay and the captures go on without it
            log.exception("admin server stopped")

    thread = threading.Thread(target=run, name="admin-server", daemon=True)
    thread.start()
    return thread
