"""Real `refuge` processes of distributed mode for tests: each with a data directory of
its own, as if on a machine of its own, sharing a test PostgreSQL (catalog and queue)
and a test S3 bucket (the archive). The `cluster` fixture gives a fresh database and
bucket per test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from swift_server import S3Server
from tiny_site import Route, page

@dataclass(frozen=True)
class Cluster:
    database_url: str
    s3: S3Server
    bucket: str


@pytest.fixture
def cluster(postgres_server, s3_server: S3Server, s3_bucket: str) -> Cluster:  # type: ignore[no-untyped-def]
    return Cluster(postgres_server.create_database("c" + uuid.uuid4().hex[:12]), s3_server, s3_bucket)


REFUGE = str(Path(sys.executable).with_name("refuge"))
TARGETS = 6


def env_for(data: Path, cluster: Cluster, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("REFUGE_", "AWS_"))},
            "REFUGE_DATA": str(data), "REFUGE_DATABASE_URL": cluster.database_url, "REFUGE_QUEUE": "postgres",
            "REFUGE_S3_BUCKET": cluster.bucket, "REFUGE_S3_ENDPOINT_URL": cluster.s3.endpoint_url,
            "AWS_ACCESS_KEY_ID": cluster.s3.access_key, "AWS_SECRET_ACCESS_KEY": cluster.s3.secret_key,
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(data / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(data / "no-aws-credentials"),
            "REFUGE_ALLOW_PRIVATE_NETWORKS": "true", "REFUGE_STALE_CAPTURE_SECONDS": "4",
            # These tests are about jobs and the archive; publishing each capture only slows them.
            "REFUGE_PUBLISH_AFTER_CAPTURE": "false", **extra}


def refuge(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([REFUGE, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@contextmanager
def worker(data: Path, cluster: Cluster, concurrency: int = 2) -> Iterator[subprocess.Popen]:
    with process(data, cluster, "worker", "--concurrency", str(concurrency)) as proc:
        yield proc


@contextmanager
def process(data: Path, cluster: Cluster, *args: str, **env: str) -> Iterator[subprocess.Popen]:
    """`refuge ARGS...` running in the background, its log in DATA/ARGS[0].log; stopped
    with SIGTERM (SIGKILL if it takes a minute) when the block ends. ENV: more settings."""
    data.mkdir(parents=True, exist_ok=True)
    with open(data / f"{args[0]}.log", "ab") as log:
        proc = subprocess.Popen([REFUGE, *args],
                                env=env_for(data, cluster, **env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def site_routes(pages: int, delay: float) -> dict[str, Route]:
    routes = {"/robots.txt": Route(b"", 404, "text/plain")}
    for t in range(TARGETS):
        links = [f"/t{t}/p{i}.html" for i in range(pages)]
        routes[f"/t{t}/"] = Route(page(*links, title=f"t{t}"))
        routes.update({path: Route(page(title=path), delay=delay) for path in links})
    return routes


def wait_until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
