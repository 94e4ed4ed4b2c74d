"""pywb, the reference CDX server, on loopback: the /cdx tests ask it and Refuge the same
questions about the same WARC files.

    pywb_missing() -> str | None                     why pywb cannot run here, or None
    start_pywb(root, warcs) -> PywbServer            a running `wayback` over the WARCS
    PywbServer.cdx(coll, params) -> requests.Response, .stop()

pywb lives in its own venv, .test-servers/pywb, which scripts/install-test-servers.sh
makes (`make test` runs it); nothing of it is imported here. start_pywb builds, under
ROOT, two collections over the same files:

- ``refuge``: ``wb-manager init`` + ``wb-manager add``, so pywb copies the WARC files and
  indexes them with its own indexer (CDXJ): the rows to compare with.
- ``paged``: the same CDXJ lines as a ZipNum index of one line per block. pywb pages only
  ZipNum indexes, and its pageSize counts blocks; with one line a block it counts lines,
  as Refuge's pageSize does, so paging can be compared too.

The server is `wayback` bound to 127.0.0.1 on a free port, in its own process group,
stopped with the group.
"""

from __future__ import annotations

import atexit
import gzip
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests
from server_procs import REPO_ROOT, kill_group, listens, wait_until
from servers import free_port

VENV = REPO_ROOT / ".test-servers" / "pywb"
STAMP = VENV / ".installed"
COLL, PAGED = "refuge", "paged"

CONFIG = """\
collections:
    {coll}: auto
    {paged}:
        index: {index}
        archive_paths: {archive}/
framed_replay: false
enable_memento: true
"""


def pywb_missing() -> str | None:
    """Why pywb cannot run here (the venv or a command missing), or None."""
    absent = [str(p) for p in (VENV / "bin" / "wayback", VENV / "bin" / "wb-manager", STAMP) if not p.exists()]
    return f"missing {', '.join(absent)}" if absent else None


@dataclass
class PywbServer:
    root: Path
    port: int
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def index(self) -> Path:
        """The CDXJ index pywb made of the WARC files."""
        return self.root / "collections" / COLL / "indexes" / "index.cdxj"

    def cdx(self, params: dict[str, str] | list[tuple[str, str]], coll: str = COLL) -> requests.Response:
        return requests.get(f"{self.base}/{coll}/cdx", params=params, timeout=30)

    def start(self) -> None:
        log = self.root / "wayback.log"
        with open(log, "ab") as out:  # in ROOT, where its config.yaml and collections are
            self._proc = subprocess.Popen([str(VENV / "bin" / "wayback"), "-b", "127.0.0.1", "-p", str(self.port)],
                                          cwd=self.root, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          env={"PATH": f"{VENV / 'bin'}:/usr/bin:/bin", "PYTHONUNBUFFERED": "1"})
        try:
            wait_until(lambda: listens(self.base), {"wayback": self._proc}, [log], "pywb", timeout=60,
                       fatal="Address already in use")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_group(proc)


def start_pywb(root: Path, warcs: list[Path]) -> PywbServer:
    """pywb serving the two collections over WARCS (see the module's docstring), from ROOT."""
    root.mkdir(parents=True, exist_ok=True)
    log = root / "wb-manager.log"
    with open(log, "ab") as out:
        for args in (["init", COLL], ["add", COLL, *map(str, warcs)]):
            subprocess.run([str(VENV / "bin" / "wb-manager"), *args], cwd=root, check=True, stdout=out,
                           stderr=subprocess.STDOUT, timeout=300)
    server = PywbServer(root, 0)
    summary = zipnum(server.index, root / "zipnum")
    (root / "config.yaml").write_text(CONFIG.format(coll=COLL, paged=PAGED, index=summary,
                                                    archive=root / "collections" / COLL / "archive"))
    for attempt in range(3):  # a free port may be taken before pywb binds it
        server.port = free_port()
        try:
            server.start()
            atexit.register(server.stop)  # an interrupted run leaves no server behind
            return server
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def zipnum(cdxj: Path, folder: Path) -> Path:
    """CDXJ as a ZipNum index in FOLDER, one line a block: part-00000.cdx.gz (each line its
    own gzip member), index.idx (a line per block: its first key, part, offset, length,
    block number) and index.loc (where the part is). Returns the .idx path."""
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / "part-00000.cdx.gz"
    summary = []
    offset = 0
    with open(part, "wb") as out:
        for number, line in enumerate(cdxj.read_bytes().splitlines(keepends=True)):
            block = gzip.compress(line, mtime=0)
            out.write(block)
            key = b" ".join(line.split(b" ", 2)[:2]).decode()
            summary.append(f"{key}\tpart-00000\t{offset}\t{len(block)}\t{number}\n")
            offset += len(block)
    (folder / "index.idx").write_text("".join(summary))
    (folder / "index.loc").write_text(f"part-00000\t{part}\n")
    return folder / "index.idx"
