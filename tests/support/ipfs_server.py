"""A real IPFS node on loopback: js-ipfs 0.66.1 (Kubo's RPC API and a gateway), from npm.

``start_ipfs_node(root)`` initialises an empty repo under ROOT and starts the daemon
offline on free ports; raises StoreServerUnavailable when js-ipfs is not installed
(``make test`` installs it into .test-servers/ipfs).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests
from server_procs import (HTTP_TIMEOUT, REPO_ROOT, Restartable, StoreServerUnavailable, answers, kill_group,
                          listens, spawn, start_on_free_ports, wait_until)
from servers import free_port

JSIPFS = REPO_ROOT / ".test-servers" / "ipfs" / "node_modules" / ".bin" / "jsipfs"
POLYFILL = REPO_ROOT / "scripts" / "ipfs-node" / "polyfill.cjs"


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
class IpfsNode(Restartable):
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
        self._proc = spawn([str(JSIPFS), "daemon", "--offline", "--enable-preload=false"],
                            self.log, env=_ipfs_env(self.repo))
        try:
            wait_until(lambda: (answers("POST", f"{self.api_url}/api/v0/version")
                                 and listens(self.gateway_url)),
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
            kill_group(proc)


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
    return start_on_free_ports(lambda: _configure_ipfs(repo))
