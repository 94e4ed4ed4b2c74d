"""Real object stores on loopback: S3 (OpenStack Swift + s3api) and IPFS (js-ipfs 0.66.1).

A pytest plugin (``pytest_plugins = ["store_servers"]``) and a library for benchmarks:

    s3_server  (session)   S3Server: .endpoint_url, .client(), .create_bucket(name),
                           .make_public(bucket), .public_url(bucket, key),
                           .object_data_file(bucket, key), .stop()/.start(), .down()
    s3_bucket  (function)  the name of a fresh, created bucket
    ipfs_node  (session)   IpfsNode: .api_url, .api_multiaddr, .gateway_url, .version,
                           .stop()/.start(), .down()

``start_s3_server(root)`` / ``start_ipfs_node(root)`` start them outside pytest; they raise
``StoreServerUnavailable`` when the software is not installed (``make test`` or
``scripts/install-test-servers.sh`` installs Debian's swift and js-ipfs into
``.test-servers/ipfs``). Each process runs in its own process group, logs to a file under
``root`` and is killed with its group on stop (and at exit, should nobody stop it).
"""

from __future__ import annotations

import atexit
import base64
import configparser
import contextlib
import hashlib
import json
import os
import pwd
import signal
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import pytest
import requests
from servers import free_port, unavailable

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL = "run `make test` or `bash scripts/install-test-servers.sh` (as root)"
SWIFT_CONF = Path("/etc/swift/swift.conf")  # Swift reads its hash salt from this fixed path
SWIFT_PYTHON = "/usr/bin/python3"  # the interpreter Debian's swift modules belong to
SWIFT_SERVERS = ("account", "container", "object", "proxy")
PART_POWER = 6
JSIPFS = REPO_ROOT / ".test-servers" / "ipfs" / "node_modules" / ".bin" / "jsipfs"
POLYFILL = REPO_ROOT / "scripts" / "ipfs-node" / "polyfill.cjs"
HTTP_TIMEOUT = 10.0
T = TypeVar("T", bound="_Restartable")


class StoreServerUnavailable(RuntimeError):
    """The server software is not installed."""


# -- processes ------------------------------------------------------------------------


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        # WNOWAIT leaves the leader unreaped, so its pid (the group id) cannot be reused
        # before the SIGKILL below reaches any child it left behind.
        while (time.monotonic() < deadline
               and os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None):
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _read(log: Path, offset: int = 0) -> bytes:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            return f.read()
    except OSError:
        return b""


def _wait_until(ready: Callable[[], bool], procs: dict[str, subprocess.Popen], logs: list[Path],
                what: str, timeout: float, fatal: str | None = None) -> None:
    """Poll ``ready()``; raise with the logs' tails if a process dies, a log shows ``fatal``
    (for servers that stay up after failing to listen), or time runs out."""
    deadline = time.monotonic() + timeout
    since = {log: len(_read(log)) for log in logs}  # restarts append: read only this run's
    while True:
        if dead := [name for name, p in procs.items() if p.poll() is not None]:
            why = f"{', '.join(dead)} exited"
        elif fatal and any(fatal.encode() in _read(log, at) for log, at in since.items()):
            why = f"it logged {fatal}"
        elif ready():
            return
        elif time.monotonic() > deadline:
            why = f"not ready after {timeout:.0f}s"
        else:
            time.sleep(0.05)
            continue
        tails = [f"--- {log}\n" + "\n".join(_read(log).decode(errors="replace").splitlines()[-30:])
                 for log in logs]
        raise RuntimeError(f"{what} did not start: {why}\n" + "\n".join(tails))


def _listens(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1.0):
            return True
    except OSError:
        return False


def _answers(method: str, url: str) -> bool:
    try:
        return requests.request(method, url, timeout=1.0).ok
    except requests.RequestException:
        return False


def _port_clash(exc: Exception) -> bool:
    """A port from free_port() was taken before the server bound it (parallel test runs)."""
    return any(marker in str(exc) for marker in ("Could not bind", "EADDRINUSE"))


class _Restartable:
    def start(self) -> None: ...
    def stop(self) -> None: ...

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The server is unreachable inside the block, and answering again after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


def _start_on_free_ports(configure: Callable[[], T]) -> T:
    """configure() picks ports and returns a stopped server; start it, retrying port clashes."""
    for attempt in range(3):
        server = configure()
        try:
            server.start()
        except RuntimeError as exc:
            if attempt == 2 or not _port_clash(exc):
                raise
            continue
        atexit.register(server.stop)  # benchmarks and interrupted runs leave no servers behind
        return server
    raise AssertionError("unreachable")


# -- S3: Swift with s3api ---------------------------------------------------------------


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
class S3Server(_Restartable):
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
            self._procs[name] = _spawn([f"/usr/bin/swift-{name}-server", str(conf), "-v"], log)
        try:
            _wait_until(lambda: all(_answers("GET", f"http://127.0.0.1:{port}/healthcheck")
                                    for port in self.ports.values()),
                        self._procs, logs, "Swift", timeout=30)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        procs, self._procs = self._procs, {}
        for proc in procs.values():
            _kill_group(proc)


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
    return _start_on_free_ports(lambda: _configure_swift(Path(root).resolve()))


# -- IPFS: js-ipfs ----------------------------------------------------------------------


def ipfs_missing() -> str | None:
    """Why js-ipfs cannot run here, or None."""
    absent = [str(p) for p in (JSIPFS, POLYFILL) if not p.exists()]
    return f"missing {', '.join(absent)}" if absent else None


def _ipfs_env(repo: Path) -> dict[str, str]:
    env = dict(os.environ, IPFS_PATH=str(repo))
    # Node 20 lacks Promise.withResolvers, which js-ipfs's dependencies call.
    env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} --require {POLYFILL}".strip()
    return env


@dataclass
class IpfsNode(_Restartable):
    api_url: str
    api_multiaddr: str
    gateway_url: str
    repo: Path
    version: str = ""
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.repo.parent / "ipfs.log"

    def start(self) -> None:
        """Start the daemon (again) on the same repo and ports; wait until it answers."""
        if self._proc is not None:
            return
        # Offline, no preload, and a config without swarm, bootstrap, delegates, MDNS or
        # routing: the node dials nothing. (Resolving a name would still ask DNS: tests don't.)
        self._proc = _spawn([str(JSIPFS), "daemon", "--offline", "--enable-preload=false"],
                            self.log, env=_ipfs_env(self.repo))
        try:
            _wait_until(lambda: (_answers("POST", f"{self.api_url}/api/v0/version")
                                 and _listens(self.gateway_url)),
                        {"jsipfs daemon": self._proc}, [self.log], "js-ipfs", timeout=60,
                        fatal="EADDRINUSE")
            r = requests.post(f"{self.api_url}/api/v0/version", timeout=HTTP_TIMEOUT)
            r.raise_for_status()
            self.version = r.json()["Version"]
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _kill_group(proc)


def _configure_ipfs(repo: Path) -> IpfsNode:
    api, gateway, rpc = free_port(), free_port(), free_port()
    config = json.loads((repo / "config").read_text())
    config["Addresses"].update({
        "API": f"/ip4/127.0.0.1/tcp/{api}", "Gateway": f"/ip4/127.0.0.1/tcp/{gateway}",
        "RPC": f"/ip4/127.0.0.1/tcp/{rpc}",
        "Swarm": [],  # even a loopback swarm address makes the offline daemon hang
        "Announce": [], "NoAnnounce": [], "Delegates": []})
    config["Bootstrap"] = []
    config["Routing"] = {"Type": "none"}
    config["Discovery"] = {"MDNS": {"Enabled": False}, "webRTCStar": {"Enabled": False}}
    (repo / "config").write_text(json.dumps(config, indent=2))
    return IpfsNode(api_url=f"http://127.0.0.1:{api}", gateway_url=f"http://127.0.0.1:{gateway}",
                    api_multiaddr=f"/ip4/127.0.0.1/tcp/{api}/http", repo=repo)


def start_ipfs_node(root: Path) -> IpfsNode:
    """Initialise an empty js-ipfs repo under ``root`` on free ports and start its daemon."""
    if missing := ipfs_missing():
        raise StoreServerUnavailable(f"js-ipfs: {missing}")
    repo = Path(root).resolve() / "repo"
    repo.parent.mkdir(parents=True, exist_ok=True)
    # A separate init for --empty-repo: `daemon --init-config` would pin welcome files.
    init = subprocess.run([str(JSIPFS), "init", "--profile", "test", "--empty-repo"],
                          env=_ipfs_env(repo), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, check=False)
    if init.returncode != 0:
        raise RuntimeError(f"jsipfs init exited {init.returncode}:\n{init.stdout}\n{init.stderr}")
    return _start_on_free_ports(lambda: _configure_ipfs(repo))


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    try:
        server = start_s3_server(tmp_path_factory.mktemp("s3"))
    except StoreServerUnavailable as exc:
        unavailable("S3 server (OpenStack Swift)", str(exc), INSTALL)
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_server.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpfsNode]:
    try:
        node = start_ipfs_node(tmp_path_factory.mktemp("ipfs"))
    except StoreServerUnavailable as exc:
        unavailable("IPFS node (js-ipfs)", str(exc), INSTALL)
        raise
    try:
        yield node
    finally:
        node.stop()
