"""Captures with known files, settings wired to the real S3 server and IPFS node, and a
lying IPFS node (a proxy that flips a byte in what `cat` returns)."""

from __future__ import annotations

import http.server
import os
import random
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import requests

from refuge.config.settings import Settings
from refuge.config.store_settings import IpfsSettings, S3Settings
from refuge.storage import catalog
from refuge.storage.replicate import queue_capture
from replay_helpers import ArchiveWriter
from servers import free_port

AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
           "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def use_credentials(monkeypatch: Any, s3_server: Any | None, tmp_path: Path) -> None:
    """Only the test server's credentials, from the environment (boto3's standard chain);
    nothing from the machine's ~/.aws."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254
    if s3_server is not None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)


def store_settings(base: Settings, s3_server: Any | None = None, bucket: str = "", ipfs_api: str = "",
                   **s3: Any) -> Settings:
    """BASE with [s3] and/or [ipfs] pointing at the test servers. Each call gets its own
    MFS folder, since the IPFS node is shared by the whole session."""
    s3_settings = None
    if s3_server is not None:
        s3_settings = S3Settings(bucket=bucket, endpoint_url=s3.pop("endpoint_url", s3_server.endpoint_url),
                                 prefix="archive/", region=s3_server.region, addressing_style="path",
                                 timeout=10.0, **s3)
    ipfs_settings = IpfsSettings(api=ipfs_api, gateways=(), mfs_root=f"/refuge-test-{uuid.uuid4().hex[:8]}",
                                 timeout=30.0) if ipfs_api else None
    return base.replace(s3=s3_settings, ipfs=ipfs_settings)


def settings_toml(settings: Settings) -> str:
    """The same store settings as refuge.toml text, for the CLI run as a subprocess."""
    lines = [f"allow_private_networks = {str(settings.allow_private_networks).lower()}",
             f"timeout = {settings.timeout}", f"backoff = {settings.backoff}",
             f"warc_max_bytes = {settings.warc_max_bytes}"]
    if settings.s3:
        s = settings.s3
        lines += ["[s3]", f'bucket = "{s.bucket}"', f'endpoint_url = "{s.endpoint_url}"', f'prefix = "{s.prefix}"',
                  f'region = "{s.region}"', f'addressing_style = "{s.addressing_style}"',
                  f"part_size = {s.part_size}", f"concurrency = {s.concurrency}", f"timeout = {s.timeout}"]
    if settings.ipfs:
        i = settings.ipfs
        lines += ["[ipfs]", f'api = "{i.api}"', "gateways = []", f'mfs_root = "{i.mfs_root}"',
                  f"timeout = {i.timeout}"]
    return "\n".join(lines) + "\n"


@dataclass
class Made:
    capture_id: str
    target: str
    warcs: list[Path]


def make_capture(settings: Settings, engine: Any, name: str = "site", *, records: int = 3,
                 payload_size: int = 300_000, seed: int = 1) -> Made:
    """A finished capture of RECORDS incompressible responses, rolled over several WARC
    files when warc_max_bytes is small, with its manifest written and its files queued."""
    rng = random.Random(seed)
    with ArchiveWriter(settings, engine, name, f"https://{name}.example/") as w:
        for i in range(records):
            w.response(f"https://{name}.example/doc{i}.pdf", rng.randbytes(payload_size),
                       headers=(("Content-Type", "application/pdf"),))
    queue_capture(settings, engine, w.capture_id)
    return Made(w.capture_id, name, [s.path for s in w.sealed])


def capture_files(settings: Settings, engine: Any, capture_id: str) -> list[dict[str, Any]]:
    return [dict(f, local=settings.data / f["path"]) for f in catalog.capture_files(engine, capture_id)]


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Change one byte in place, as bit rot or tampering would."""
    size = path.stat().st_size
    offset = size // 2 if offset is None else offset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))


class LyingNode:
    """An HTTP proxy in front of a node's RPC API that flips one byte in every `cat`
    answer: a node serving wrong bytes under a CID."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        handler = self._handler()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}/http"

    def _handler(self) -> type:
        upstream = self.upstream

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type",)}
                answer = requests.post(upstream + self.path, data=body, headers=headers, timeout=30)
                content = answer.content
                if self.path.startswith("/api/v0/cat") and answer.ok and content:
                    middle = len(content) // 2
                    content = content[:middle] + bytes([content[middle] ^ 0x01]) + content[middle + 1:]
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/octet-stream"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> "LyingNode":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def subprocess_env(s3_server: Any, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in AWS_ENV}
    env.update(AWS_ACCESS_KEY_ID=s3_server.access_key, AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
               AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"), AWS_EC2_METADATA_DISABLED="true")
    return env


def iter_keys(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])
