"""Evaluating alerts: compare each condition with its last known state, and on a change
send one alert to each [[alert]] that wants it.

Contract:
- one alert per change of state, and one when it recovers, never a flood. Each alert
  keeps its own view of each condition and subject (a row of alert_states), since its
  thresholds are its own: capture_failed alerts after `failures_in_a_row` failed
  captures in a row; store_unreachable after the store has been seen unreachable
  (state "pending") for `store_unreachable_minutes`;
- a condition seen failing with no earlier row alerts; a first-ever healthy one is
  recorded "ok" silently. A subject not observed now (a mirror whose new content is not
  checked yet, a removed target) is no news: its row stays as it was. The rows of an
  alert, or of an event, no longer configured are forgotten;
- two processes evaluating at once are safe: the state changes only where it still is
  what was read, in a transaction (storage.catalog.alert_state), and only the process
  that changed it sends;
- delivery: the change is recorded first, marked unsent, then sent. A delivery that
  fails is logged (redacted) and stays unsent: the next evaluation sends it again (each
  evaluation tries once; after three failed evaluations the pause between them doubles
  from a minute up to an hour). A process that dies while sending leaves it unsent too,
  and it is sent again once the delivery's lease (its longest possible duration) is over.
  If a condition changes back before its alert got through, nothing is sent: the admin
  keeps the last state they were told of ("told"). Every alert delivered is recorded as
  an event (kind "alert", action "alert.<event>").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import Engine

from refuge.cli.alert_conditions import Observation, observe
from refuge.cli.alert_delivery import ATTEMPTS, DeliveryFailed, Message, deliver
from refuge.config.alert_settings import EVENTS, Alert
from refuge.config.settings import Settings
from refuge.storage.catalog import alert_state, events
from refuge.storage.catalog.alert_state import StateRow
from refuge.storage.catalog.db import iso, parse_iso, utcnow

log = logging.getLogger(__name__)
SYSTEM = events.Actor(events.SYSTEM, events.SYSTEM)
DEFAULT_ALERT = Alert(name="(none configured)")  # what `refuge alerts` judges by when no [[alert]] is set


@dataclass(frozen=True)
class Outcome:
    """One alert this evaluation sent, or tried to."""

    alert: str
    event: str
    subject: str
    state: str  # failing | recovered
    delivered: bool
    error: str | None = None


def evaluate(settings: Settings, engine: Engine, now: datetime | None = None) -> list[Outcome]:
    """One evaluation of every configured alert: record changes, send what they call for."""
    if not settings.alerts:
        return []
    now = now or utcnow()
    wanted_events = {e for a in settings.alerts for e in a.on}
    seen = observe(settings, engine, wanted_events, max(a.failures_in_a_row for a in settings.alerts))
    rows = alert_state.read_states(engine)
    expected: set[str] = set()
    outcomes: list[Outcome] = []
    for alert in settings.alerts:
        for obs in seen:
            if obs.event not in alert.on:
                continue
            key = alert_state.state_key(alert.name, obs.event, obs.subject)
            expected.add(key)
            outcome = _step(settings, engine, alert, obs, key, rows.get(key), now)
            if outcome is not None:
                outcomes.append(outcome)
    wanted = {(a.name, e) for a in settings.alerts for e in a.on}
    for key, row in rows.items():
        doc = row.doc
        if key not in expected and "alert" in doc and (doc["alert"], doc.get("event")) not in wanted:
            alert_state.forget(engine, row)
    return outcomes


def _wanted(alert: Alert, obs: Observation, old: StateRow | None, now: datetime) -> str:
    """The state ALERT gives the condition now: ok, failing, or pending (a store not out for long enough)."""
    failing = obs.failing and (obs.event != "capture_failed" or obs.streak >= alert.failures_in_a_row)
    if not failing:
        return "ok"
    if obs.event != "store_unreachable" or alert.store_unreachable_minutes <= 0:
        return "failing"
    if old is not None and old.state == "failing":
        return "failing"
    if old is not None and old.state == "pending":
        waited = now - _time(old.since)
        return "failing" if waited >= timedelta(minutes=alert.store_unreachable_minutes) else "pending"
    return "pending"


def _announce(told: str | None, state: str) -> str | None:
    """What to tell the admin, who last heard TOLD, now that the state is STATE."""
    if state == "failing" and told != "failing":
        return "failing"
    if state == "ok" and told == "failing":
        return "recovered"
    return None


def _step(settings: Settings, engine: Engine, alert: Alert, obs: Observation, key: str, old: StateRow | None,
          now: datetime) -> Outcome | None:
    state = _wanted(alert, obs, old, now)
    before = old.doc if old is not None else {}
    told = before.get("told")
    if not before.get("sent", True) and (before.get("retry_at") or "") > iso(now):
        # A delivery is under way (or waits out its pause): what it achieves decides what the
        # admin has been told, so a change of state is taken up only after it.
        return None
    if old is None or old.state != state:
        news = _announce(told, state)
        doc = {"alert": alert.name, "event": obs.event, "subject": obs.subject, "detail": obs.detail,
               "told": told, "sent": news is None, "attempts": 0, "retry_at": None, "error": None}
        if news is not None:
            doc.update(attempts=1, retry_at=iso(now + _lease(settings, alert)))
        row = StateRow(key, state, iso(now), alert_state.encode(doc))
        if not alert_state.replace(engine, key, old, row.state, row.since, row.detail):
            return None  # another evaluation changed it first; it sends
        return _send(settings, engine, alert, row, news) if news is not None else None
    if before.get("sent", True):
        return None
    news = _announce(told, state)
    if news is None:  # nothing left to say (cannot happen with a consistent row; keep it quiet)
        return None
    attempts = int(before.get("attempts", 0)) + 1
    doc = {**before, "attempts": attempts, "retry_at": iso(now + _lease(settings, alert))}
    row = StateRow(key, old.state, old.since, alert_state.encode(doc))
    if not alert_state.replace(engine, key, old, row.state, row.since, row.detail):
        return None  # another evaluation is sending it
    return _send(settings, engine, alert, row, news)


def _send(settings: Settings, engine: Engine, alert: Alert, row: StateRow, news: str) -> Outcome:
    doc = row.doc
    message = Message(doc["event"], news, doc["subject"], doc["detail"], row.since)
    try:
        deliver(alert, settings.smtp, message, settings.user_agent)
    except DeliveryFailed as exc:
        error = str(exc)
        log.warning("alert %s %s: %s not delivered (%s); it is sent again at the next evaluation", doc["event"],
                    news, doc["subject"], error)
        failed = {**doc, "error": error, "retry_at": iso(utcnow() + _pause(int(doc.get("attempts", 1))))}
        alert_state.replace(engine, row.key, row, row.state, row.since, alert_state.encode(failed))
        return Outcome(alert.name, doc["event"], doc["subject"], news, False, error)
    done = {**doc, "sent": True, "told": "failing" if news == "failing" else "ok", "error": None, "retry_at": None}
    alert_state.replace(engine, row.key, row, row.state, row.since, alert_state.encode(done))
    events.record(engine, SYSTEM, f"alert.{doc['event']}", doc["subject"],
                  {"state": news, "alert": alert.name, "channel": alert.channel, "detail": doc["detail"],
                   "since": row.since}, kind="alert")
    log.info("alert %s %s: %s sent to %s", doc["event"], news, doc["subject"], alert.channel)
    return Outcome(alert.name, doc["event"], doc["subject"], news, True)


def _lease(settings: Settings, alert: Alert) -> timedelta:
    """The longest one delivery can take: no other evaluation sends it meanwhile."""
    timeout = alert.timeout if alert.webhook else (settings.smtp.timeout if settings.smtp else 30.0) * 4
    return timedelta(seconds=ATTEMPTS * timeout + 10)


def _pause(attempts: int) -> timedelta:
    """How long after ATTEMPTS failed deliveries the next may start: at once (the next
    evaluation) for the first three, then 1, 2, 4 ... minutes, at most an hour."""
    if attempts < 3:
        return timedelta(0)
    return timedelta(seconds=min(60 * 2 ** (attempts - 3), 3600))


def _time(text: str) -> datetime:
    return parse_iso(text)


def current(settings: Settings, engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every condition's state as each configured alert sees it now (what the next evaluation
    would make it), with when it began and whether the admin was told: `refuge alerts`."""
    now = now or utcnow()
    alerts = settings.alerts or (DEFAULT_ALERT,)
    rows = alert_state.read_states(engine)
    seen = observe(settings, engine, {e for a in alerts for e in a.on} or set(EVENTS),
                   max(a.failures_in_a_row for a in alerts))
    found = []
    for alert in alerts:
        for obs in (o for o in seen if o.event in alert.on):
            old = rows.get(alert_state.state_key(alert.name, obs.event, obs.subject))
            state = _wanted(alert, obs, old, now)
            same = old is not None and old.state == state
            doc = old.doc if same else {}
            found.append({"alert": alert.name if settings.alerts else None, "event": obs.event,
                          "subject": obs.subject, "state": state, "since": old.since if same else None,
                          "told": doc.get("told"), "unsent": same and not doc.get("sent", True),
                          "error": doc.get("error"), "detail": obs.detail})
    order = {"failing": 0, "pending": 1, "ok": 2}
    return sorted(found, key=lambda r: (order[r["state"]], r["event"], r["subject"], r["alert"] or ""))


def send_test(settings: Settings, engine: Engine) -> list[dict[str, Any]]:
    """One test alert to every configured channel; what became of each."""
    results = []
    message = Message("test", "test", "refuge alerts test",
                      "A test alert: if you read this, this channel works.", iso(utcnow()))
    for alert in settings.alerts:
        try:
            deliver(alert, settings.smtp, message, settings.user_agent)
        except DeliveryFailed as exc:
            results.append({"alert": alert.name, "channel": alert.channel, "delivered": False, "error": str(exc)})
            continue
        events.record(engine, SYSTEM, "alert.test", alert.name, {"channel": alert.channel}, kind="alert")
        results.append({"alert": alert.name, "channel": alert.channel, "delivered": True, "error": None})
    return results


def evaluate_logged(settings: Settings, engine: Engine) -> None:
    """evaluate(), for the scheduler: a failure is logged, never raised (the next run tries again)."""
    try:
        evaluate(settings, engine)
    except Exception:  # noqa: BLE001 - the scheduler must outlive a failed evaluation
        log.exception("alert evaluation failed")


class AlertingActions:
    """The scheduler's actions, with alerts evaluated right after each capture, fixity
    audit and mirror check (not after replication: store_unreachable waits for minutes
    anyway, so the interval serves it)."""

    def __init__(self, inner: Any, evaluate_now: Callable[[], None]) -> None:
        self.inner = inner
        self.evaluate_now = evaluate_now

    def capture(self, name: str) -> None:
        self.inner.capture(name)
        self.evaluate_now()

    def replicate(self) -> None:
        self.inner.replicate()

    def audit(self) -> None:
        self.inner.audit()
        self.evaluate_now()

    def check(self) -> None:
        self.inner.check()
        self.evaluate_now()


def alerting(actions: Any, settings: Settings, engine: Engine) -> Any:
    """ACTIONS, evaluating alerts after the work that changes what they watch (when any are configured)."""
    if not settings.alerts:
        return actions
    return AlertingActions(actions, lambda: evaluate_logged(settings, engine))
