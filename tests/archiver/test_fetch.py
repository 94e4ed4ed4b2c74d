"""Fetching one URL: retries, Retry-After, size limits, the private-address guard."""

from __future__ import annotations

import threading
import time

import pytest

from refuge.archiver.fetch import FetchError, FetchPolicy, crawler_session, fetch

POLICY = FetchPolicy(timeout=5, retries=2, backoff=0.01, max_retry_after=2, max_bytes=1_000_000)


def test_retry_after_is_honoured(fixture_site) -> None:
    started = time.monotonic()
    ex = fetch(crawler_session("t", True), fixture_site.abs("/busy"), POLICY)
    assert ex.status == 200 and ex.attempts == 2
    assert time.monotonic() - started >= 0.9  # the fixture asks for 1 s
    assert fixture_site.hits.count("/busy") == 2


def test_a_retry_after_longer_than_the_limit_is_not_waited_for(fixture_site) -> None:
    policy = FetchPolicy(timeout=5, retries=2, backoff=0.01, max_retry_after=0.5, max_bytes=1_000_000)
    ex = fetch(crawler_session("t", True), fixture_site.abs("/busy"), policy)
    assert ex.status == 429 and "Retry-After" in (ex.gave_up or "")


def test_5xx_is_retried_until_it_recovers(fixture_site) -> None:
    ex = fetch(crawler_session("t", True), fixture_site.abs("/flaky"), POLICY)
    assert ex.status == 200 and ex.attempts == 2


def test_oversized_bodies_are_refused_with_and_without_content_length(fixture_site) -> None:
    for path in ("/big.bin", "/big-chunked.bin"):
        with pytest.raises(FetchError, match="max_response_bytes"):
            fetch(crawler_session("t", True), fixture_site.abs(path), POLICY)


def test_guard_refuses_loopback_at_connect_time(fixture_site) -> None:
    with pytest.raises(FetchError, match="REFUGE_ALLOW_PRIVATE_NETWORKS"):
        fetch(crawler_session("t", allow_private=False), fixture_site.url, POLICY)
    assert len(fixture_site.hits) == 0


def test_a_stop_ends_a_backoff_at_once() -> None:
    stop = threading.Event()
    policy = FetchPolicy(timeout=1, retries=5, backoff=30, max_retry_after=2, max_bytes=1000)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(FetchError, match="stopped"):
        fetch(crawler_session("t", True), "http://127.0.0.1:9/", policy, stop)  # nothing listens on port 9
    assert time.monotonic() - started < 5
