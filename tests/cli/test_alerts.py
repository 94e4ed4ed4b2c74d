"""Alerts arrive once per change of state, and once when it recovers: over a real webhook
receiver and a real SMTP server (aiosmtpd), both on 127.0.0.1, from real captures (a
target whose port refuses connections fails; the fixture site completes)."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from alert_receivers import SmtpReceiver, WebhookReceiver, wait_for
from refuge.archiver.capture import run_capture
from refuge.cli import alerts
from refuge.cli.main import main
from refuge.cli.scheduler import CaptureScheduler
from refuge.config.settings import Settings, load_settings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import events, mirrors, replicas
from refuge.storage.catalog.db import utcnow
from refuge.storage.catalog.mirrors import Published
from refuge.storage.replicate import queue_capture
from servers import free_port

PAYLOAD_KEYS = {"event", "state", "subject", "detail", "at", "refuge_version"}


@pytest.fixture
def webhook():
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def smtp():
    receiver = SmtpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


def configured(tmp_path: Path, alerts_toml: str, smtp: SmtpReceiver | None = None, **extra: str) -> Settings:
    """Settings loaded from a real refuge.toml with these [[alert]] tables (and [smtp])."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    text = "allow_private_networks = true\nbackoff = 0.05\ntimeout = 5.0\nretries = 1\n" + alerts_toml
    if smtp is not None:
        text += f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nfrom = "refuge@example.org"\nstarttls = false\n'
    (data / "refuge.toml").write_text(text, encoding="utf-8")
    return load_settings(environ={"REFUGE_DATA": str(data), **extra})


def both(webhook: WebhookReceiver) -> str:
    return f'[[alert]]\nwebhook = "{webhook.url}"\n\n[[alert]]\nemail = "ops@example.org"\n'


def fail_capture(settings: Settings, engine, name: str = "site") -> dict:
    catalog.save_target(engine, make_target(f"http://127.0.0.1:{free_port()}/", name=name))
    summary = run_capture(settings, engine, name)
    assert summary["status"] == "failed"
    return summary


def complete_capture(settings: Settings, engine, site, name: str = "site") -> dict:
    catalog.save_target(engine, make_target(site.abs("/km/"), name=name, max_pages=2))
    summary = run_capture(settings, engine, name)
    assert summary["status"] == "complete"
    return summary


def test_a_failed_capture_alerts_once_on_each_channel_then_recovers_once(tmp_path, webhook, smtp,
                                                                           fixture_site) -> None:
    settings = configured(tmp_path, both(webhook), smtp)
    engine = catalog.connect(settings.catalog_url)
    failed = fail_capture(settings, engine)

    sent = alerts.evaluate(settings, engine)
    assert [(o.event, o.state, o.delivered) for o in sent] == [("capture_failed", "failing", True)] * 2
    [hook] = webhook.received
    assert set(hook) == PAYLOAD_KEYS
    assert (hook["event"], hook["state"], hook["subject"]) == ("capture_failed", "failing", "site")
    assert failed["id"] in hook["detail"]
    [mail] = smtp.messages
    assert "FAILING" in mail["Subject"] and "capture failed" in mail["Subject"] and "site" in mail["Subject"]
    assert mail["To"] == "ops@example.org" and mail["From"] == "refuge@example.org"
    assert failed["id"] in mail.get_payload()

    assert alerts.evaluate(settings, engine) == []  # nothing changed: nothing sent
    assert len(webhook.received) == 1 and len(smtp.messages) == 1

    complete_capture(settings, engine, fixture_site)
    sent = alerts.evaluate(settings, engine)
    assert [(o.event, o.state) for o in sent] == [("capture_failed", "recovered")] * 2
    assert [r["state"] for r in webhook.received] == ["failing", "recovered"]
    assert "recovered" in smtp.messages[1]["Subject"]
    assert alerts.evaluate(settings, engine) == []
    assert len(webhook.received) == 2 and len(smtp.messages) == 2

    recorded = events.list_events(engine, kind="alert")
    assert sorted((e["action"], e["detail"]["state"]) for e in recorded) == [
        ("alert.capture_failed", "failing")] * 2 + [("alert.capture_failed", "recovered")] * 2
    assert all("hunter2" not in str(e) for e in recorded)  # the webhook's token is never recorded


def test_a_first_healthy_evaluation_is_silent(tmp_path, webhook, fixture_site) -> None:
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\n')
    engine = catalog.connect(settings.catalog_url)
    complete_capture(settings, engine, fixture_site)
    assert alerts.evaluate(settings, engine) == []
    assert webhook.received == []
    rows = alerts.current(settings, engine)
    assert [(r["event"], r["subject"], r["state"]) for r in rows] == [("capture_failed", "site", "ok")]
    assert rows[0]["since"] is not None  # recorded, silently


def test_failures_in_a_row_are_counted_before_alerting(tmp_path, webhook, fixture_site) -> None:
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\nfailures_in_a_row = 2\n')
    engine = catalog.connect(settings.catalog_url)
    fail_capture(settings, engine)
    assert alerts.evaluate(settings, engine) == [] and webhook.received == []
    fail_capture(settings, engine)
    assert [o.state for o in alerts.evaluate(settings, engine)] == ["failing"]
    assert webhook.received[0]["detail"].startswith("2 failed in a row")
    fail_capture(settings, engine)
    assert alerts.evaluate(settings, engine) == []  # still failing: no new alert
    complete_capture(settings, engine, fixture_site)
    assert [o.state for o in alerts.evaluate(settings, engine)] == ["recovered"]
    fail_capture(settings, engine)  # one failure after a success is not two in a row
    assert alerts.evaluate(settings, engine) == []
    assert [r["state"] for r in webhook.received] == ["failing", "recovered"]


def test_an_alert_that_could_not_be_delivered_is_sent_at_the_next_evaluation(tmp_path, webhook, caplog) -> None:
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\ntimeout = 2\n')
    engine = catalog.connect(settings.catalog_url)
    fail_capture(settings, engine)
    webhook.stop()  # the receiver is down: connections refused
    with caplog.at_level(logging.WARNING):
        [outcome] = alerts.evaluate(settings, engine)
    assert not outcome.delivered and "connection refused" in outcome.error
    assert "not delivered" in caplog.text and "hunter2" not in caplog.text and "/hook" not in caplog.text
    [row] = alerts.current(settings, engine)
    assert row["state"] == "failing" and row["unsent"]
    assert events.list_events(engine, kind="alert") == []  # only what was delivered is recorded

    webhook.start()
    assert [(o.state, o.delivered) for o in alerts.evaluate(settings, engine)] == [("failing", True)]
    assert [r["state"] for r in webhook.received] == ["failing"]
    assert webhook.paths == ["/hook?token=hunter2-secret"]
    assert alerts.evaluate(settings, engine) == []
    assert len(webhook.received) == 1 and not alerts.current(settings, engine)[0]["unsent"]


def test_a_webhook_answering_an_error_is_tried_again_later_not_flooded(tmp_path, webhook) -> None:
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\n')
    engine = catalog.connect(settings.catalog_url)
    fail_capture(settings, engine)
    webhook.answer = 400  # a final answer: not retried within the delivery
    [outcome] = alerts.evaluate(settings, engine)
    assert "HTTP 400" in outcome.error
    for _ in range(3):
        alerts.evaluate(settings, engine)
    # After three failed evaluations the next waits a minute: this one sends nothing.
    assert alerts.evaluate(settings, engine) == []
    webhook.answer = 204
    later = alerts.evaluate(settings, engine, now=utcnow() + timedelta(minutes=2))
    assert [(o.state, o.delivered) for o in later] == [("failing", True)]
    assert len(webhook.received) == 1


def test_two_evaluations_at_once_send_one_alert(tmp_path, webhook) -> None:
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\n')
    engine = catalog.connect(settings.catalog_url)
    fail_capture(settings, engine)
    start = threading.Barrier(4)
    results: list = []

    def evaluate() -> None:
        start.wait()
        results.extend(alerts.evaluate(settings, catalog.connect(settings.catalog_url)))

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 1 and len(webhook.received) == 1


def test_a_store_alerts_only_after_it_stayed_unreachable(tmp_path, webhook, fixture_site) -> None:
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\non = ["store_unreachable"]\n'
                                    f'store_unreachable_minutes = 30\n'
                                    f'[s3]\nbucket = "b"\nendpoint_url = "http://127.0.0.1:{free_port()}"\n')
    engine = catalog.connect(settings.catalog_url)
    capture = complete_capture(settings, engine, fixture_site)
    refs = queue_capture(settings, engine, capture["id"])
    replicas.mark_store_failed(engine, refs, "s3", "Could not connect to the endpoint URL")
    now = utcnow()
    assert alerts.evaluate(settings, engine, now=now) == []
    assert alerts.current(settings, engine, now=now)[0]["state"] == "pending"
    assert alerts.evaluate(settings, engine, now=now + timedelta(minutes=10)) == []
    sent = alerts.evaluate(settings, engine, now=now + timedelta(minutes=31))
    assert [(o.event, o.subject, o.state) for o in sent] == [("store_unreachable", "s3", "failing")]
    assert "Could not connect" in webhook.received[0]["detail"]
    for ref in refs:
        replicas.mark_copied(engine, ref, "s3", f"key/{ref.name}")
    assert [o.state for o in alerts.evaluate(settings, engine, now=now + timedelta(minutes=32))] == ["recovered"]
    assert len(webhook.received) == 2


def test_fixity_damage_and_a_mirror_down_alert_once_each(tmp_path, webhook, fixture_site) -> None:
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\non = ["fixity_damage", "mirror_down"]\n')
    engine = catalog.connect(settings.catalog_url)
    capture = complete_capture(settings, engine, fixture_site)
    refs = queue_capture(settings, engine, capture["id"])
    replicas.record_check(engine, refs[0], "local", "bad", "sha256 differs", "0" * 64, refs[0].size)
    target = catalog.get_target(engine, "site")

    def publish(cid: str) -> int:
        [mirror_id] = mirrors.record_publish(engine, target.id, capture["id"], cid * 8, "ipfs",
                                             [Published("ipfs", "path", f"https://ipfs.io/ipfs/{cid}/", cid)], {})
        return mirror_id

    def check(mirror_id: int, cid: str, status: str) -> None:
        mirrors.record_checks(engine, [_Check(mirror_id, "direct", status, f"{status}: by test", 0.1,
                                              catalog.now_iso())], {mirror_id: cid * 8})

    first = publish("bafyaaaa")
    check(first, "bafyaaaa", "down")
    sent = alerts.evaluate(settings, engine)
    assert sorted((o.event, o.state) for o in sent) == [("fixity_damage", "failing"), ("mirror_down", "failing")]
    down = webhook.of("mirror_down")[0]
    assert down["subject"] == "site ipfs path mirror on ipfs.io, from direct"
    # A republish under a new CID is the same mirror: not checked yet is no news, and down
    # again is no change.
    second = publish("bafybbbb")
    assert alerts.evaluate(settings, engine) == []
    check(second, "bafybbbb", "down")
    assert alerts.evaluate(settings, engine) == []
    check(second, "bafybbbb", "up")
    replicas.record_check(engine, refs[0], "local", "ok", None, refs[0].sha256, refs[0].size)
    assert sorted((o.event, o.state) for o in alerts.evaluate(settings, engine)) == [
        ("fixity_damage", "recovered"), ("mirror_down", "recovered")]
    assert len(webhook.received) == 4


class _Check:
    def __init__(self, mirror_id, vantage, status, detail, seconds, checked_at) -> None:  # noqa: ANN001
        self.mirror_id, self.vantage, self.status = mirror_id, vantage, status
        self.detail, self.seconds, self.checked_at = detail, seconds, checked_at


def test_the_scheduler_alerts_right_after_a_failed_capture(tmp_path, webhook) -> None:
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\n').replace(
        startup_spread=0.0, alert_seconds=3600.0)  # the interval's next run is an hour away
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(f"http://127.0.0.1:{free_port()}/", name="down", every="1h"))
    scheduler = CaptureScheduler(settings, engine, threading.Event())
    scheduler.start()
    try:
        hook = wait_for(lambda: webhook.of("capture_failed"), timeout=60)
    finally:
        scheduler.shutdown()
    assert [(h["subject"], h["state"]) for h in hook] == [("down", "failing")]


def test_refuge_alerts_command_shows_states_and_sends_a_test(tmp_path, webhook, smtp, capsys) -> None:
    settings = configured(tmp_path, both(webhook), smtp)
    engine = catalog.connect(settings.catalog_url)
    fail_capture(settings, engine)
    data = ["--data", str(settings.data)]
    assert main([*data, "alerts"]) == 0
    out = capsys.readouterr().out
    assert "failing" in out and "capture_failed" in out and "hunter2" not in out
    assert main([*data, "alerts", "check"]) == 0
    assert "delivered" in capsys.readouterr().out and len(webhook.received) == 1
    assert main([*data, "alerts", "test"]) == 0
    assert [r["state"] for r in webhook.of("test")] == ["test"]
    assert "test alert" in smtp.messages[-1]["Subject"]
    webhook.stop()
    assert main([*data, "alerts", "test", "--json"]) == 1  # one channel failed: exit 1
    assert '"delivered": false' in capsys.readouterr().out


@pytest.mark.postgres
def test_alerts_and_metrics_on_postgresql(tmp_path, webhook, fixture_site, postgres_server) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from refuge.cli.admin.metrics import render

    url = postgres_server.create_database("alerts" + uuid.uuid4().hex[:10])
    settings = configured(tmp_path, f'[[alert]]\nwebhook = "{webhook.url}"\non = ["capture_failed", "store_unreachable"]\n'
                                    f'[s3]\nbucket = "b"\nendpoint_url = "http://127.0.0.1:{free_port()}"\n'
                          ).replace(database_url=url)
    engine = catalog.connect(settings.catalog_url)
    assert engine.dialect.name == "postgresql"
    fail_capture(settings, engine)
    fail_capture(settings, engine)
    assert [o.state for o in alerts.evaluate(settings, engine)] == ["failing"]
    assert alerts.evaluate(settings, engine) == []
    complete_capture(settings, engine, fixture_site)
    assert [o.state for o in alerts.evaluate(settings, engine)] == ["recovered"]
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(render(settings, engine)[0].decode()) for s in f.samples}
    assert samples[("refuge_captures", (("status", "failed"), ("target", "site")))] == 2
    assert samples[("refuge_captures", (("status", "complete"), ("target", "site")))] == 1
    assert samples[("refuge_replication_pending", (("store", "s3"),))] == replicas.pending_count(engine, ["s3"]) > 0
    replicas.mark_store_failed(engine, replicas.file_refs(engine, settings.data), "s3", "refused")
    assert alerts.evaluate(settings, engine) == []  # unreachable since now: pending
    later = alerts.evaluate(settings, engine, now=utcnow() + timedelta(minutes=31))
    assert [(o.event, o.state) for o in later] == [("store_unreachable", "failing")]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # loopback only
def test_email_logs_in_and_a_refusal_names_no_password(tmp_path, caplog) -> None:
    server = SmtpReceiver(login=("refuge", "right-pass")).start()
    try:
        toml = (f'[[alert]]\nemail = "ops@example.org"\n[smtp]\nhost = "127.0.0.1"\nport = {server.port}\n'
                'from = "refuge@example.org"\nusername = "refuge"\nstarttls = false\n')
        settings = configured(tmp_path, toml, REFUGE_SMTP_PASSWORD="right-pass")
        engine = catalog.connect(settings.catalog_url)
        assert alerts.send_test(settings, engine)[0]["delivered"]
        assert server.logins == [("refuge", "right-pass")] and len(server.messages) == 1

        wrong = configured(tmp_path, toml, REFUGE_SMTP_PASSWORD="wrong-pass")
        fail_capture(wrong, engine)
        with caplog.at_level(logging.WARNING):
            [outcome] = alerts.evaluate(wrong, engine)
        assert not outcome.delivered and "refused it (535)" in outcome.error
        # A refused login is final: one session (smtplib tries PLAIN, then LOGIN), not three.
        assert len(server.logins) == 1 + 2
        assert "wrong-pass" not in caplog.text and "wrong-pass" not in str(alerts.current(wrong, engine))
    finally:
        server.stop()


def test_email_with_starttls_is_never_sent_in_the_clear(tmp_path, smtp) -> None:
    toml = f'[[alert]]\nemail = "ops@example.org"\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nfrom = "r@e.org"\n'
    settings = configured(tmp_path, toml)  # starttls defaults to true; this server offers no TLS
    [result] = alerts.send_test(settings, catalog.connect(settings.catalog_url))
    assert not result["delivered"] and "does not offer STARTTLS" in result["error"]
    assert smtp.messages == []
