"""Work the admin API and console start and do not wait for: a capture, a publish, a
fixity audit, a mirror check; and a capture's WACZ package (`packages`, packages.py: made
in this process whatever the mode, since it is this server that sends it).

On one machine it runs here, in a few background threads (captures beside upkeep, so a
long audit never holds a capture back), through the same LocalActions the scheduler
uses. In distributed mode (`queue = "postgres"`) it is queued for a `refuge worker`.
Each start is recorded in the audit log with who asked. Either way the catalog is where
its progress and result are read: the capture's row,
the replicas' fixity, the mirrors' checks. Nothing is kept in this process that a
restart would lose, but work still running here when it stops (a capture seals what it
wrote and is resumed by the next one).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from refuge.cli.admin.operations import Conflict, Invalid, get_target
from refuge.cli.admin.packages import Packages
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.config.targets import check_capturable
from refuge.mirror.publish.publisher import channels
from refuge.storage import catalog
from refuge.storage.catalog import events
from refuge.storage.catalog.events import Actor

log = logging.getLogger(__name__)
UPKEEP = ("verify", "publish", "check")
_EVERYTHING = {"verify": "all copies", "check": "all mirrors"}  # the audit log's subject of each
CAPTURE_ID_WAIT = 10.0  # seconds to wait for a capture started here to have its id


class Background:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.stop = threading.Event()
        self._captures = ThreadPoolExecutor(max_workers=settings.max_concurrent_captures,
                                            thread_name_prefix="admin-capture")
        self._upkeep = ThreadPoolExecutor(max_workers=1, thread_name_prefix="admin-upkeep")
        self._lock = threading.Lock()
        self._local: Any = None
        self.packages = Packages(settings, engine)

    def capture(self, name: str, actor: Actor) -> dict[str, Any]:
        """Start a capture of NAME for ACTOR (in the audit log): {target, capture (its id,
        once it has one), job (a queue job id)}."""
        started = self._start_capture(name)
        events.record(self.engine, actor, "capture.start", name, {"capture": started["capture"], "job": started["job"]})
        return started

    def upkeep(self, kind: str, actor: Actor, target: str | None = None) -> dict[str, Any]:
        """Start KIND (verify | publish | check; publish needs TARGET) for ACTOR: {kind, target, job}."""
        if kind == "publish":
            assert target is not None
            get_target(self.engine, target)
            if not channels(self.settings):
                raise Invalid("name", "nothing to publish to: configure [s3] and/or [ipfs] in refuge.toml")
        started = self._start_upkeep(kind, target)
        events.record(self.engine, actor, f"{kind}.start", target or _EVERYTHING[kind], {"job": started["job"]})
        return started

    def _start_capture(self, name: str) -> dict[str, Any]:
        target = get_target(self.engine, name)
        try:
            check_capturable(target.spec)
        except BadInput as exc:  # the target is fine, but what it is clashes with capturing it
            raise Conflict(str(exc)) from None
        running = catalog.list_captures(self.engine, name, limit=1, status="running")
        if running:
            raise Conflict(f"name: a capture of {name} is running already ({running[0]['id']})")
        if self.settings.queue:
            from refuge.cli import jobs

            app = jobs.queue_app(self.settings)
            with app.open():
                job = jobs.enqueue_capture(app, target.name)
            return {"target": name, "capture": None, "job": job}
        before = time.time()
        newest = catalog.list_captures(self.engine, name, limit=1)
        self._captures.submit(self._actions().capture, name)
        return {"target": name, "capture": self._new_capture_id(name, newest, before), "job": None}

    def _start_upkeep(self, kind: str, target: str | None) -> dict[str, Any]:
        if self.settings.queue:
            from refuge.cli import jobs

            app = jobs.queue_app(self.settings)
            with app.open():
                if kind == "publish":
                    assert target is not None
                    job = jobs.enqueue_publish(app, target)
                else:
                    job = jobs.enqueue_upkeep(app, "audit" if kind == "verify" else kind)
            return {"kind": kind, "target": target, "job": job}
        if kind == "publish":
            self._upkeep.submit(self._publish, target)
        elif kind == "verify":
            self._upkeep.submit(self._actions().audit)
        else:
            self._upkeep.submit(self._actions().check)
        return {"kind": kind, "target": target, "job": None}

    def shutdown(self) -> None:
        """Ask running work to stop (a capture seals what it wrote) and wait for it."""
        self.stop.set()
        self.packages.shutdown()
        self._captures.shutdown(wait=True, cancel_futures=True)
        self._upkeep.shutdown(wait=True, cancel_futures=True)

    def _actions(self) -> Any:
        """One LocalActions for all work started here, so its pushes take turns."""
        with self._lock:
            if self._local is None:
                from refuge.cli.local_actions import LocalActions  # the capture stack, loaded when first needed

                self._local = LocalActions(self.settings, self.engine, self.stop)
            return self._local

    def _publish(self, target: str) -> None:
        from refuge.cli.local_actions import log_publish
        from refuge.mirror.publish.publisher import publish

        try:
            log_publish(target, publish(self.settings, self.engine, target))
        except Exception:  # noqa: BLE001 - logged; the console shows the mirrors' state
            log.exception("publishing %s failed", target)

    def _new_capture_id(self, name: str, before: list[dict[str, Any]], since: float) -> str | None:
        """The id of the capture just started for NAME (a resumed one keeps its id)."""
        deadline = since + CAPTURE_ID_WAIT
        old = before[0] if before else None
        while time.time() < deadline:
            newest = catalog.list_captures(self.engine, name, limit=1)
            if newest and (old is None or newest[0]["id"] != old["id"] or newest[0]["status"] == "running"
                           or newest[0]["finished"] != old["finished"]):
                return newest[0]["id"]
            time.sleep(0.1)
        return None
