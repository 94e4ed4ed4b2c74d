"""pywb, the reference replay server, in its own virtual environment (bench/.venv-pywb),
with one collection holding the WARC files under test.

pywb is installed from PyPI by name with the venv's pip; nothing of it is committed.
Set PYWB_SPEC (e.g. ``pywb==2.8.3``) to pin another release.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import procs

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-pywb"
DEFAULT_SPEC = os.environ.get("PYWB_SPEC", "pywb")
UWSGI_SPEC = "pyuwsgi==2.0.30.post1"  # a wheel: no compiler needed, gevent loop built in

# framed_replay off: /<coll>/<timestamp>/<url> answers with the rewritten page itself,
# not pywb's top-frame wrapper (which holds an iframe and none of the page's content).
CONFIG = """\
collections:
    {coll}: auto
framed_replay: false
enable_memento: true
"""


def bin_path(name: str) -> Path:
    return VENV / "bin" / name


def ensure_venv(spec: str = DEFAULT_SPEC) -> str:
    """Create the venv and install pywb when missing; return the installed version."""
    py = bin_path("python")
    if not py.exists():
        print(f"# creating {VENV} and installing {spec} (first run only)", file=sys.stderr, flush=True)
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    if not bin_path("wayback").exists() or not _version():
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", spec], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"pip install {spec} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    v = _version()
    if not v:
        raise RuntimeError("pywb installed but `import pywb` fails in its venv")
    return v


def _version() -> str:
    r = subprocess.run([str(bin_path("python")), "-c", "import pywb; print(pywb.__version__)"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def make_collection(root: Path, coll: str, warcs: list[Path]) -> Path:
    """A fresh pywb directory at ROOT with collection COLL indexing WARCS. Returns the CDXJ index."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(CONFIG.format(coll=coll), encoding="utf-8")
    log = root / "wb-manager.log"
    with open(log, "ab") as fh:
        subprocess.run([str(bin_path("wb-manager")), "init", coll], cwd=root, check=True, stdout=fh, stderr=fh)
        # One call per batch keeps the command line short for many files.
        for i in range(0, len(warcs), 200):
            subprocess.run([str(bin_path("wb-manager")), "add", coll, *map(str, warcs[i:i + 200])], cwd=root,
                           check=True, stdout=fh, stderr=fh)
    idx = root / "collections" / coll / "indexes" / "index.cdxj"
    if not idx.exists() or idx.stat().st_size == 0:
        raise RuntimeError(f"pywb made no index for {coll}; see {log}")
    return idx


def ensure_uwsgi() -> None:
    """uWSGI in pywb's venv, from the pyuwsgi wheel (built with the gevent loop)."""
    if not bin_path("uwsgi").exists():
        r = subprocess.run([str(bin_path("python")), "-m", "pip", "install", "-q", UWSGI_SPEC],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"pip install pyuwsgi failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


def start_uwsgi(root: Path, port: int, processes: int):
    """pywb as its own uwsgi.ini deploys it (master, gevent with 100 async cores, monkey
    patched, 64 KiB buffers), in PROCESSES processes, bound to 127.0.0.1 only."""
    ensure_uwsgi()
    p = procs.spawn([str(bin_path("uwsgi")), "--http-socket", f"127.0.0.1:{port}", "--master",
                     "--buffer-size", "65536", "--die-on-term", "--gevent", "100",
                     "--env", "GEVENT_MONKEY_PATCH=1", "--wsgi", "pywb.apps.wayback",
                     "--processes", str(processes), "--disable-logging"],
                    cwd=root, log=root / "uwsgi.log", env=dict(os.environ, VIRTUAL_ENV=str(VENV)))
    procs.wait_port(port, p, timeout=60)
    return p


def start(root: Path, port: int):
    """Start `wayback` bound to 127.0.0.1 only; returns the process once it listens."""
    p = procs.spawn([str(bin_path("wayback")), "-b", "127.0.0.1", "-p", str(port)], cwd=root,
                    log=root / "wayback.log", env=dict(os.environ, PYTHONUNBUFFERED="1"))
    procs.wait_port(port, p, timeout=60)
    return p
