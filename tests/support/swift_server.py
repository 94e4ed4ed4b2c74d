"""A real S3 server on loopback: OpenStack Swift with its s3api layer, from Debian.

``start_s3_server(root)`` sets it up under ROOT (configs, rings, one disk) on free ports;
raises StoreServerUnavailable when Swift is not installed (``make test`` installs it).
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import os
import pwd
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from server_procs import Restartable, StoreServerUnavailable, answers, kill_group, spawn, start_on_free_ports, wait_until
from servers import free_port

SWIFT_CONF = Path("/etc/swift/swift.conf")  # Swift reads its hash salt from this fixed path
SWIFT_PYTHON = "/usr/bin/python3"  # the interpreter Debian's swift modules belong to
SWIFT_SERVERS = ("account", "container", "object", "proxy")
PART_POWER = 6


def swift_missing() -> str | None:
    """Why Swift cannot run here, or None."""
    needed = [Path(f"/usr/bin/swift-{name}-server") for name in SWIFT_SERVERS]
    absent = [str(p) for p in (*needed, SWIFT_CONF, Path(SWIFT_PYTHON)) if not p.exists()]
    return f"missing {', '.join(absent)}" if absent else None


# bind_timeout: a taken port fails the start in 5 s instead of Swift's 30 s of retries.
_CONF = """\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
bind_timeout = 5
user = {user}
swift_dir = {root}/etc
devices = {root}/node
mount_check = false
log_name = {name}

[pipeline:main]
pipeline = {pipeline}
"""

_BACKEND_CONF = _CONF + """
[app:{name}-server]
use = egg:swift#{name}

[filter:healthcheck]
use = egg:swift#healthcheck
"""

_PROXY_FILTERS = ("catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "cache",
                  "listing_formats", "bulk", "tempurl", "s3api", "tempauth", "copy", "slo", "dlo",
                  "versioned_writes", "symlink", "proxy-logging")

# There is no memcached. tempauth refuses to run without the cache middleware, and checks
# S3 signatures fine with it; only its Swift tokens (/auth/v1.0) need a real memcached, so
# make_public() goes through the S3 API. memcache_servers names a port nothing listens on,
# so a stray memcached on :11211 cannot serve container info cached by another run.
_PROXY_CONF = _CONF + """
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcache_port}
""" + "".join(f"\n[filter:{f}]\nuse = egg:swift#{f.replace('-', '_')}\n"
              for f in dict.fromkeys(_PROXY_FILTERS) if f not in ("s3api", "tempauth", "cache"))

# One device per ring, one replica, built in Swift's own Python: one process for all three
# rings instead of nine swift-ring-builder runs.
_RING_SCRIPT = """\
import sys
from swift.common.ring import RingBuilder
etc, part_power = sys.argv[1], int(sys.argv[2])
for arg in sys.argv[3:]:
    name, port = arg.split("=")
    b = RingBuilder(part_power, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "device": "d1", "weight": 100})
    b.rebalance()
    b.save(f"{etc}/{name}.builder")
    b.get_ring().save(f"{etc}/{name}.ring.gz")
"""


def _add_content_md5(params: dict[str, Any], **_: Any) -> None:
    # boto3 >= 1.36 sends a CRC32 checksum instead of Content-MD5, which Swift's s3api
    # still requires on DeleteObjects.
    body = params["body"]
    if isinstance(body, str):
        body = body.encode()
    params["headers"]["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


@dataclass
class S3Server(Restartable):
    endpoint_url: str
    root: Path
    access_key: str = "test:tester"
    secret_key: str = "testing"
    region: str = "us-east-1"
    ports: dict[str, int] = field(default_factory=dict, repr=False)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    def client(self, **overrides: Any) -> Any:
        """A boto3 S3 client for this server (path-style, short timeouts); keyword
        arguments override boto3.client()'s, e.g. aws_secret_access_key."""
        import boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30,
                        retries={"max_attempts": 2, "mode": "standard"})
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url, "region_name": self.region, "config": config,
            "aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}
        client = boto3.client("s3", **{**options, **overrides})
        client.meta.events.register("before-call.s3.DeleteObjects", _add_content_md5)
        return client

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def make_public(self, bucket: str) -> None:
        """Let anyone read the bucket's objects at public_url(): s3api turns the canned ACL
        into the Swift container ACL `.r:*,.rlistings` (see _PROXY_CONF for why not Swift's API)."""
        self.client().put_bucket_acl(Bucket=bucket, ACL="public-read")

    def public_url(self, bucket: str, key: str) -> str:
        return f"{self.endpoint_url}/v1/AUTH_test/{bucket}/{quote(key)}"

    def object_data_file(self, bucket: str, key: str) -> Path:
        """The file on disk holding a single-part object's bytes (for corruption tests),
        found as Swift finds it: the md5 of the salted path names partition and directory."""
        salt = configparser.ConfigParser(interpolation=None)
        salt.read(SWIFT_CONF, encoding="latin1")
        prefix, suffix = (salt.get("swift-hash", f"swift_hash_path_{which}", fallback="")
                          .encode("latin1") for which in ("prefix", "suffix"))
        digest = hashlib.md5(prefix + f"/AUTH_test/{bucket}/{key}".encode() + suffix).digest()
        part = struct.unpack_from(">I", digest)[0] >> (32 - PART_POWER)
        hexdigest = digest.hex()
        directory = self.root / "node" / "d1" / "objects" / str(part) / hexdigest[-3:] / hexdigest
        if not (data := sorted(directory.glob("*.data"))):
            raise FileNotFoundError(f"no .data file for {bucket}/{key} in {directory}")
        return data[-1]  # named by timestamp: the newest is the live object

    def start(self) -> None:
        """Start the four servers (again) on the same ports and data; wait until healthy."""
        if self._procs:
            return
        logs = [self.root / "log" / f"{name}.log" for name in SWIFT_SERVERS]
        for name, log in zip(SWIFT_SERVERS, logs):
            # -v logs to the console (our file) as well as to syslog.
            conf = self.root / "etc" / f"{name}-server.conf"
            self._procs[name] = spawn([f"/usr/bin/swift-{name}-server", str(conf), "-v"], log)
        try:
            wait_until(lambda: all(answers("GET", f"http://127.0.0.1:{port}/healthcheck")
                                    for port in self.ports.values()),
                        self._procs, logs, "Swift", timeout=30)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        procs, self._procs = self._procs, {}
        for proc in procs.values():
            kill_group(proc)


def _configure_swift(root: Path) -> S3Server:
    etc = root / "etc"
    for d in (etc, root / "log", root / "node" / "d1"):
        d.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in SWIFT_SERVERS}
    # Swift switches to `user` even when it already runs as that user: name ourselves.
    common = {"user": pwd.getpwuid(os.getuid()).pw_name, "root": root}
    for name in ("account", "container", "object"):
        (etc / f"{name}-server.conf").write_text(_BACKEND_CONF.format(
            port=ports[name], name=name, pipeline=f"healthcheck {name}-server", **common))
    (etc / "proxy-server.conf").write_text(_PROXY_CONF.format(
        port=ports["proxy"], name="proxy", pipeline=" ".join((*_PROXY_FILTERS, "proxy-server")),
        memcache_port=free_port(), **common))
    rings = subprocess.run([SWIFT_PYTHON, "-c", _RING_SCRIPT, str(etc), str(PART_POWER),
                            *(f"{n}={ports[n]}" for n in ("account", "container", "object"))],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                           check=False)
    if rings.returncode != 0:
        raise RuntimeError(f"building Swift rings failed:\n{rings.stdout}\n{rings.stderr}")
    return S3Server(endpoint_url=f"http://127.0.0.1:{ports['proxy']}", root=root, ports=ports)


def start_s3_server(root: Path) -> S3Server:
    """Set up Swift under ``root`` (configs, rings, disk) on free ports and start it."""
    if missing := swift_missing():
        raise StoreServerUnavailable(f"OpenStack Swift: {missing}")
    return start_on_free_ports(lambda: _configure_swift(Path(root).resolve()))
