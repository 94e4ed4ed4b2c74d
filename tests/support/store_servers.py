"""Real object stores on loopback: S3 (OpenStack Swift + s3api) and IPFS (js-ipfs 0.66.1).

The pytest plugin (``pytest_plugins = ["store_servers"]``) over swift_server.py and
ipfs_server.py, which benchmarks use directly:

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

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from ipfs_server import IpfsNode, ipfs_missing, start_ipfs_node
from server_procs import StoreServerUnavailable
from servers import unavailable
from swift_server import S3Server, start_s3_server, swift_missing

T = TypeVar("T", S3Server, IpfsNode)
INSTALL = "run `make test` or `bash scripts/install-test-servers.sh` (as root)"

__all__ = ["IpfsNode", "S3Server", "StoreServerUnavailable", "ipfs_missing", "start_ipfs_node", "start_s3_server",
           "swift_missing"]


def _session_server(start: Callable[[Path], T], root: Path, what: str) -> Iterator[T]:
    """Start a server for the session, stop it at the end; missing software fails under CI."""
    try:
        server = start(root)
    except StoreServerUnavailable as exc:
        unavailable(what, str(exc), INSTALL)
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from _session_server(start_s3_server, tmp_path_factory.mktemp("s3"), "S3 server (OpenStack Swift)")


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_server.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpfsNode]:
    yield from _session_server(start_ipfs_node, tmp_path_factory.mktemp("ipfs"), "IPFS node (js-ipfs)")
