"""`/metrics` on the admin listener: the archive's figures in Prometheus text format.

Contract: `render(settings, engine)` returns the body and its Content-Type. The catalog's
figures are read at scrape time by a collector (a few grouped queries, never a scan of
the cdx index; removed targets are left out); the replay server's are the sums of what
every replay process of this machine wrote under DATA/metrics/replay
(mirror.replay.metrics). Families:

    refuge_targets                                   targets being captured
    refuge_captures{target,status}                   captures in the catalog (a gauge:
                                                     a running capture becomes complete)
    refuge_captured_pages{target}                    pages and bytes over all captures (gauges:
    refuge_captured_bytes{target}                    a resumed capture's figures are replaced)
    refuge_last_complete_capture_timestamp_seconds{target}, _pages{target}, _bytes{target}
    refuge_replication_pending{store}                copies waiting for a store
    refuge_replication_failing{store}                of which the last try failed
    refuge_fixity_copies{target,result}              copies by last check: ok, bad, missing
    refuge_fixity_failures{target}                   bad + missing
    refuge_mirror_up{target,channel,style,url,vantage}  1 up, 0 down, by the newest check
                                                     of the mirror's current content
    refuge_alerts_failing{event}                     conditions an alert reports failing
    refuge_replay_requests_total{kind,status}        replay requests (route kind, status class)
    refuge_replay_request_seconds{kind}              their latency (histogram)
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine

from refuge.config.settings import Settings
from refuge.mirror.replay.metrics import metrics_dir
from refuge.storage import catalog
from refuge.storage.catalog import alert_state, figures, replicas
from refuge.storage.catalog.db import parse_iso
from refuge.storage.stores.interface import configured_store_names


def render(settings: Settings, engine: Engine) -> tuple[bytes, str]:
    """The scrape: (body, Content-Type)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CatalogCollector(settings, engine))
    replay = metrics_dir(settings)
    if replay.is_dir():  # no replay server has run on this machine yet: no replay figures
        MultiProcessCollector(registry, path=str(replay))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class CatalogCollector:
    """The catalog's figures, read afresh at each scrape."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        yield from self._captures()
        yield from self._replication()
        yield from self._fixity()
        yield from self._mirrors()
        yield from self._alerts()

    def _captures(self) -> Iterator[Metric]:
        names = [t.name for t in catalog.list_targets(self.engine)]
        yield GaugeMetricFamily("refuge_targets", "Targets being captured", value=len(names))
        counts = GaugeMetricFamily("refuge_captures", "Captures in the catalog, by target and status",
                                   labels=["target", "status"])
        # Gauges, not counters: a resumed capture's figures are replaced by its finished run's.
        pages = GaugeMetricFamily("refuge_captured_pages", "Pages captured, over all captures", labels=["target"])
        size = GaugeMetricFamily("refuge_captured_bytes", "Bytes captured, over all captures", labels=["target"])
        totals: dict[str, list[int]] = {name: [0, 0] for name in names}
        for row in figures.capture_counts(self.engine):
            counts.add_metric([row["target"], row["status"]], row["captures"])
            totals.setdefault(row["target"], [0, 0])
            totals[row["target"]][0] += int(row["pages"])
            totals[row["target"]][1] += int(row["bytes"])
        for name, (p, b) in sorted(totals.items()):
            pages.add_metric([name], p)
            size.add_metric([name], b)
        yield from (counts, pages, size)
        yield from self._last_complete()

    def _last_complete(self) -> Iterator[Metric]:
        when = GaugeMetricFamily("refuge_last_complete_capture_timestamp_seconds",
                                 "When each target's newest complete capture finished (Unix time)", labels=["target"])
        pages = GaugeMetricFamily("refuge_last_complete_capture_pages", "Pages of the newest complete capture",
                                  labels=["target"])
        size = GaugeMetricFamily("refuge_last_complete_capture_bytes", "Bytes of the newest complete capture",
                                 labels=["target"])
        for name, last in sorted(figures.last_complete(self.engine).items()):
            if last["finished"]:
                when.add_metric([name], _unix(last["finished"]))
            pages.add_metric([name], last["pages"])
            size.add_metric([name], last["bytes"])
        yield from (when, pages, size)

    def _replication(self) -> Iterator[Metric]:
        stores = [s for s in configured_store_names(self.settings) if s != "local"]
        pending = GaugeMetricFamily("refuge_replication_pending", "Copies waiting to be made, by store",
                                    labels=["store"])
        failing = GaugeMetricFamily("refuge_replication_failing", "Waiting copies whose last try failed, by store",
                                    labels=["store"])
        for store, q in figures.replication_queue(self.engine, stores).items():
            pending.add_metric([store], q["pending"])
            failing.add_metric([store], q["failing"])
        yield from (pending, failing)

    def _fixity(self) -> Iterator[Metric]:
        names = {t.id: t.name for t in catalog.list_targets(self.engine)}
        copies = GaugeMetricFamily("refuge_fixity_copies", "Copies by the result of their last check",
                                   labels=["target", "result"])
        failures = GaugeMetricFamily("refuge_fixity_failures", "Copies last found bad or missing", labels=["target"])
        for target_id, doc in sorted(replicas.fixity_by_target(self.engine).items()):
            if target_id not in names:
                continue
            for result in ("ok", "bad", "missing"):
                copies.add_metric([names[target_id], result], doc[result])
            failures.add_metric([names[target_id]], doc["bad"] + doc["missing"])
        yield from (copies, failures)

    def _mirrors(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("refuge_mirror_up", "1 if the newest check of a mirror's current content from a "
                               "vantage point succeeded, else 0",
                               labels=["target", "channel", "style", "url", "vantage"])
        for c in figures.current_checks(self.engine):
            labels = [c["target"], c["channel"], c["style"], c["url"], c["vantage"]]
            up.add_metric(labels, 1 if c["status"] == "up" else 0)
        yield up

    def _alerts(self) -> Iterator[Metric]:
        failing: dict[str, set[str]] = {}
        for row in alert_state.list_states(self.engine):
            if row["state"] == "failing" and row.get("event"):
                failing.setdefault(row["event"], set()).add(str(row.get("subject")))
        family = GaugeMetricFamily("refuge_alerts_failing", "Conditions an alert reports failing, by event",
                                   labels=["event"])
        for event, subjects in sorted(failing.items()):
            family.add_metric([event], len(subjects))
        yield family


def _unix(text: str) -> float:
    return parse_iso(text).timestamp()
