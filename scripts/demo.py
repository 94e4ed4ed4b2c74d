"""`make demo`: the no-internet demo, and when the test servers are installed (Swift's S3
layer from Debian, js-ipfs in .test-servers/ipfs: `make test` installs both), the
sample site is also published to a local S3 bucket and IPFS node, and every mirror
URL is printed. Without them it is `refuge demo`.

The servers run on free loopback ports with their state under DATA/demo-servers, and
stop with the demo. The S3 credentials are the local Swift's fixed test account, not
a secret.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the server launchers the tests use

from refuge.cli.demo import run_demo  # noqa: E402
from refuge.config.settings import load_settings  # noqa: E402
from refuge.config.store_settings import IpfsSettings, S3Settings  # noqa: E402


def main() -> int:
    settings = load_settings()
    from store_servers import StoreServerUnavailable, start_ipfs_node, start_s3_server

    root = settings.data / "demo-servers"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with ExitStack() as stack:
        s3 = ipfs = None
        try:
            server = start_s3_server(root / "s3")
            stack.callback(server.stop)
            server.create_bucket("refuge-demo")
            server.make_public("refuge-demo")
            os.environ.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key)
            s3 = S3Settings(bucket="refuge-demo", endpoint_url=server.endpoint_url, region=server.region,
                            public_base_url=server.public_url("refuge-demo", ""), timeout=20.0)
            print(f"Local S3 server (OpenStack Swift): {server.endpoint_url}", flush=True)
        except StoreServerUnavailable as exc:
            print(f"No local S3 server ({exc}); `make test` installs one. Not publishing to S3.", flush=True)
        try:
            node = start_ipfs_node(root / "ipfs")
            stack.callback(node.stop)
            ipfs = IpfsSettings(api=node.api_url, gateways=(node.gateway_url,), subdomain_gateways=(), timeout=60.0)
            print(f"Local IPFS node (js-ipfs {node.version}), gateway {node.gateway_url}", flush=True)
        except StoreServerUnavailable as exc:
            print(f"No local IPFS node ({exc}); `make test` installs one. Not publishing to IPFS.", flush=True)
        return run_demo(settings, publish_to=(s3, ipfs))


if __name__ == "__main__":
    sys.exit(main())
