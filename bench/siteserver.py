"""Serve the generated sites on 127.0.0.1: Debian's nginx when it is there (installed
with apt-get when missing and we are root), else a threaded Python server.

Every request is logged, one line each, so the harness counts what each crawler
fetched between two offsets of the access log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import procs

HERE = Path(__file__).resolve().parent

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    types {{
        text/html html;
        text/css css;
        application/javascript js;
        image/png png;
        text/plain txt;
    }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types text/css application/javascript text/plain;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 65;
    client_body_temp_path {work}/tmp-body;
    proxy_temp_path {work}/tmp-proxy;
    fastcgi_temp_path {work}/tmp-fastcgi;
    uwsgi_temp_path {work}/tmp-uwsgi;
    scgi_temp_path {work}/tmp-scgi;
    log_format bench '"$request" $status $body_bytes_sent "$http_user_agent"';
{servers}
}}
"""

NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        root {root};
        index index.html;
        access_log {log} bench;
        etag on;
    }}
"""


@dataclass
class Served:
    name: str
    root: Path
    port: int
    access_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def requests_since(self, offset: int) -> list[tuple[str, str, int]]:
        """(method, path, status) for every request logged after OFFSET."""
        time.sleep(0.2)  # let the last lines land
        out = []
        with open(self.access_log, "rb") as fh:
            fh.seek(offset)
            for line in fh.read().decode("utf-8", "replace").splitlines():
                m = re.match(r'"(\S+) (\S+)[^"]*" (\d+)', line)
                if m:
                    out.append((m.group(1), m.group(2), int(m.group(3))))
        return out


def find_nginx(install: bool) -> str | None:
    for cand in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.access(cand, os.X_OK):
            return cand
    if not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    print("# installing nginx-light with apt-get (no service is started: policy-rc.d)", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for pkgs in (["nginx-light"], ["nginx"]):
        r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *pkgs], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *pkgs], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0 and os.access("/usr/sbin/nginx", os.X_OK):
            # The package may have started its own service where policy-rc.d allows it: we leave
            # that alone (it listens on port 80, not on our ports).
            return "/usr/sbin/nginx"
    return None


class SiteServer:
    """One server process serving several (root, port) sites."""

    def __init__(self, work: Path, kind: str = "auto") -> None:
        self.work = work
        self.kind = kind
        self.sites: list[Served] = []
        self.procs: list[subprocess.Popen] = []
        self.description = ""

    def start(self, sites: dict[str, Path]) -> list[Served]:
        self.work.mkdir(parents=True, exist_ok=True)
        for name, root in sites.items():
            log = self.work / f"access-{name}.log"
            log.unlink(missing_ok=True)
            self.sites.append(Served(name, root.resolve(), procs.free_port(), log))
        nginx = None
        if self.kind in ("auto", "nginx"):
            nginx = find_nginx(install=True)
            if nginx is None and self.kind == "nginx":
                raise RuntimeError("nginx requested but not found and could not be installed")
        if nginx:
            self._start_nginx(nginx)
        else:
            self._start_python()
        for s in self.sites:
            procs.wait_port(s.port, self.procs[0] if len(self.procs) == 1 else None)
        return self.sites

    def _start_nginx(self, nginx: str) -> None:
        for d in ("tmp-body", "tmp-proxy", "tmp-fastcgi", "tmp-uwsgi", "tmp-scgi"):
            (self.work / d).mkdir(exist_ok=True)
        user = "user root root;" if os.geteuid() == 0 else ""  # workers read the site under /work as root
        servers = "".join(NGINX_SERVER.format(port=s.port, root=s.root, log=s.access_log) for s in self.sites)
        conf = self.work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=self.work.resolve(), user=user, servers=servers), encoding="utf-8")
        p = procs.spawn([nginx, "-p", str(self.work.resolve()), "-c", str(conf.resolve())],
                        log=self.work / "nginx.stderr")
        self.procs.append(p)
        ver = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        self.description = f"{ver.replace('nginx version: ', '')} (2 workers, sendfile, keep-alive)"

    def _start_python(self) -> None:
        for s in self.sites:
            p = procs.spawn([sys.executable, str(HERE / "static_server.py"), str(s.root), str(s.port),
                             str(s.access_log)], log=self.work / f"pyserver-{s.name}.stderr")
            self.procs.append(p)
        self.description = "python ThreadingHTTPServer (bench/static_server.py, HTTP/1.1)"

    def stop(self) -> None:
        for p in self.procs:
            procs.stop(p)
        self.procs.clear()


def throughput(url_paths: list[str], base: str, seconds: float = 3.0, threads: int = 4) -> float:
    """Requests per second the server answers for this client (several keep-alive sessions)."""
    import threading

    import requests

    stop_at = time.monotonic() + seconds
    counts = [0] * threads

    def worker(i: int) -> None:
        with requests.Session() as s:
            j = i
            while time.monotonic() < stop_at:
                r = s.get(base + url_paths[j % len(url_paths)].lstrip("/"))
                r.content  # noqa: B018
                counts[i] += 1
                j += threads

    t0 = time.monotonic()
    ths = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return sum(counts) / (time.monotonic() - t0)
