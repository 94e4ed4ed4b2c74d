"""The replay server's request counting, in-process: route kinds, status classes, timing
until the body is closed, and a process's other metrics and environment left as they were."""

from __future__ import annotations

import os

import pytest
from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.test import Client

from refuge.mirror.replay.metrics import CountingMiddleware, meters, route_kind


@pytest.mark.parametrize("path, kind", [
    ("/web/20261127234140id_/https://news.example/", "web"), ("/web", "web"), ("/website", "other"),
    ("/data/kamnotra/", "data"), ("/mirrors", "mirrors"), ("/mirrors.json.minisig", "mirrors"),
    ("/refuge.pub", "mirrors"), ("/", "other"), ("/healthz", "other"),
])
def test_route_kinds(path: str, kind: str) -> None:
    assert route_kind(path) == kind


def _app(environ, start_response):  # noqa: ANN001
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("broken")
    status = "404 Not Found" if path.startswith("/data/") else "200 OK"
    start_response(status, [("Content-Type", "text/plain")])

    def body():
        yield b"one"
        yield b"two"
    return body()


def _samples(directory) -> dict:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples}


def test_requests_are_counted_when_their_body_is_closed(tmp_path) -> None:
    before_class, before_env = values.ValueClass, os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    app = CountingMiddleware(_app, meters(tmp_path))
    assert values.ValueClass is before_class and os.environ.get("PROMETHEUS_MULTIPROC_DIR") == before_env
    client = Client(app)
    assert client.get("/web/https://news.example/", buffered=True).data == b"onetwo"
    assert client.get("/data/x/", buffered=True).status_code == 404
    with pytest.raises(RuntimeError):
        client.get("/boom")
    samples = _samples(tmp_path)
    assert samples[("refuge_replay_requests_total", (("kind", "web"), ("status", "2xx")))] == 1
    assert samples[("refuge_replay_requests_total", (("kind", "data"), ("status", "4xx")))] == 1
    assert samples[("refuge_replay_requests_total", (("kind", "other"), ("status", "5xx")))] == 1
    assert samples[("refuge_replay_request_seconds_count", (("kind", "web"),))] == 1

    response = app({"PATH_INFO": "/web/x", "REQUEST_METHOD": "GET"}, lambda *a: None)
    next(iter(response))  # sent in part: not counted until the server closes it
    assert _samples(tmp_path)[("refuge_replay_request_seconds_count", (("kind", "web"),))] == 1
    response.close()
    assert _samples(tmp_path)[("refuge_replay_request_seconds_count", (("kind", "web"),))] == 2
