"""The IPFS store: a node's RPC API (Kubo, or any node with the same API).

Files are added as CIDv1 with raw leaves (the CID :mod:`refuge.storage.stores.cid` computes
locally), pinned, and linked into the node's MFS at `<mfs_root>/<target>/<capture>/<file>`
so an operator can browse them. This is the only module that talks to ipfshttpclient:
it builds `ipfshttpclient.Client` directly, because `ipfshttpclient.connect()` refuses
every daemon newer than 0.8 (current Kubo included) although the API calls used here
have not changed. Besides the Store interface, a few operations on whole folders, MFS
paths and pins serve publishing static mirrors, and two read a published DAG back block by
block (CAR bundles): those two go through requests directly, because ipfshttpclient reads
a streamed answer in pieces as large as the node chooses to send, and a node that
misbehaves must not make one piece as large as memory.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

from refuge.config.errors import first_line, redact
from refuge.config.store_settings import IpfsSettings
from refuge.storage.stores.cid import as_cidv1, same_cid
from refuge.storage.stores.interface import FileRef, Missing, StoreError, StoreUnavailable


class IpfsStore:
    name = "ipfs"

    def __init__(self, settings: IpfsSettings) -> None:
        self.settings = settings
        self._client: Any = None

    # -- the Store interface ------------------------------------------------------------

    def location(self, f: FileRef) -> str:
        if not f.cid:
            raise StoreError(f"ipfs: {f.name} has no CID yet (its capture's manifest is not written)")
        return f.cid

    def mfs_path(self, f: FileRef) -> str:
        return f"{self.settings.mfs_root.rstrip('/')}/{f.relative}"

    def capture_dir(self, target: str, capture: str) -> str:
        return f"{self.settings.mfs_root.rstrip('/')}/{target}/{capture}"

    def has(self, f: FileRef) -> bool:
        cid = self.location(f)
        if not self.pinned(cid):
            return False
        linked = self.mfs_hash(self.mfs_path(f))
        return linked is not None and same_cid(linked, cid)

    def put(self, f: FileRef, source: Path) -> str:
        expected = self.location(f)
        added = self._call(self.client.add, str(source), cid_version=1, raw_leaves=True, pin=True,
                           opts={"cid-base": "base32"})
        got = str(added["Hash"])
        if not same_cid(got, expected):
            raise StoreError(f"ipfs: the node gave {f.name} the CID {got}, not {expected}: "
                             f"it does not add files as CIDv1 with raw leaves and 256 KiB chunks")
        self.link(self.mfs_path(f), expected)
        return expected

    def read(self, f: FileRef) -> Iterator[bytes]:
        cid = self.location(f)
        if not self.pinned(cid):
            raise Missing(f"ipfs: {cid} is not pinned on the node (it may be garbage-collected)")
        mfs = self.mfs_hash(self.mfs_path(f))
        if mfs is None or not same_cid(mfs, cid):
            raise Missing(f"ipfs: MFS {self.mfs_path(f)} does not hold {cid}")
        return self._stream(cid)

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"store": "ipfs", "where": redact(self.settings.api), "reachable": False,
                               "version": None, "free_bytes": None, "error": None}
        try:
            version = self._call(self.client.version)
            repo = self._call(self.client.repo.stat)
        except StoreError as exc:
            doc["error"] = str(exc)
            return doc
        used, limit = int(repo.get("RepoSize", 0)), int(repo.get("StorageMax", 0))
        # A node with no storage limit reports a huge one (js-ipfs: 2^53 - 1): "unlimited".
        free = max(limit - used, 0) if 0 < limit < 2 ** 50 else None
        doc.update(reachable=True, version=f"{version.get('Version')}", free_bytes=free, used_bytes=used)
        return doc

    def describe(self, f: FileRef) -> dict[str, Any]:
        doc: dict[str, Any] = {"mfs_path": self.mfs_path(f)}
        if f.cid:
            doc["cid"] = f.cid
            doc["gateways"] = [f"{g.rstrip('/')}/ipfs/{f.cid}?filename={f.name}" for g in self.settings.gateways]
        return doc

    def directory_cid(self, target: str, capture: str) -> str | None:
        """The CID of the capture's MFS folder: one CID that reaches every file of it
        (as CIDv1: some nodes make MFS folders CIDv0)."""
        found = self.mfs_hash(self.capture_dir(target, capture))
        return as_cidv1(found) if found else None

    # -- the node -----------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            import ipfshttpclient

            # ipfshttpclient 0.7 passes urllib3 an argument it has deprecated: noise, not news.
            warnings.filterwarnings("ignore", message="The 'strict' parameter", category=FutureWarning)
            try:
                self._client = ipfshttpclient.Client(_multiaddr(self.settings.api), timeout=self.settings.timeout)
            except ipfshttpclient.exceptions.Error as exc:
                raise StoreUnavailable(f"ipfs: setting ipfs.api = {self.settings.api!r} is not usable: "
                                       f"{first_line(exc)}") from None
        return self._client

    # -- folders, MFS and pins (what publishing a mirror needs) ----------------------------
    # Each call turns ipfshttpclient's errors into one-line StoreErrors (see _error).

    def add_tree(self, root: Path) -> str:
        """Add the folder ROOT as one directory (CIDv1, raw leaves, base32), pinned
        recursively; its CID. Dot-files are added too; symbolic links are not."""
        # period_special=False: dot-files (.well-known/...) are part of the tree too.
        added = self._call(self.client.add, str(root), recursive=True, cid_version=1, raw_leaves=True, pin=True,
                           period_special=False, opts={"cid-base": "base32"})
        entries = added if isinstance(added, list) else [added]
        top = [e for e in entries if "/" not in str(e.get("Name", ""))]
        if len(top) != 1:
            raise StoreError(f"ipfs: the node's answer to adding {root} names no single top folder")
        return as_cidv1(str(top[0]["Hash"]))

    def unpin(self, cid: str) -> bool:
        """Unpin CID when it is pinned (recursively); whether it was."""
        if not self.pinned(cid):
            return False
        self._call(self.client.pin.rm, as_cidv1(cid))
        return True

    def pinned(self, cid: str) -> bool:
        """Whether CID is pinned recursively on the node."""
        import ipfshttpclient

        try:
            found = self.client.pin.ls(cid, type="recursive", timeout=self.settings.timeout)
        except ipfshttpclient.exceptions.ErrorResponse:
            return False  # "not pinned"
        except ipfshttpclient.exceptions.Error as exc:
            raise self._error(exc) from None
        return any(same_cid(k, cid) for k in (found.get("Keys") or {}))

    def mfs_hash(self, path: str) -> str | None:
        """The CID MFS PATH holds (as the node writes it), or None when PATH is empty."""
        import ipfshttpclient

        try:
            return str(self.client.files.stat(path, timeout=self.settings.timeout)["Hash"])
        except ipfshttpclient.exceptions.ErrorResponse:
            return None  # "file does not exist"
        except ipfshttpclient.exceptions.Error as exc:
            raise self._error(exc) from None

    def link(self, path: str, cid: str) -> str | None:
        """Point MFS PATH (absolute) at CID, replacing whatever else is there (a file or a
        folder); returns the CID PATH held before, None when it was empty."""
        current = self.mfs_hash(path)
        if current is not None and same_cid(current, cid):
            return current
        if current is not None:
            self._call(self.client.files.rm, path, recursive=True)
        parent = path.rsplit("/", 1)[0]
        if parent:
            self._call(self.client.files.mkdir, parent, parents=True)
        self._call(self.client.files.cp, f"/ipfs/{cid}", path)
        return current

    # -- a published DAG, block by block (CAR bundles) -------------------------------------------

    def export_dag(self, cid: str) -> Iterator[bytes]:
        """The DAG under CID as a CAR v1 stream (``dag/export``), in pieces of at most 64 KiB,
        from the blocks the node holds (``offline``: it asks no other node). Closing the
        iterator ends the request. Each read waits at most ``timeout``."""
        return self._rpc_stream("dag/export", cid)

    def get_block(self, cid: str, limit: int) -> bytes:
        """One block's bytes (``block/get``, offline), refused when longer than LIMIT."""
        data = bytearray()
        for piece in self._rpc_stream("block/get", cid):
            data += piece
            if len(data) > limit:
                raise StoreError(f"ipfs: block {cid} from the node at {redact(self.settings.api)} is over "
                                 f"{limit} bytes: refused")
        return bytes(data)

    def _rpc_stream(self, command: str, arg: str) -> Iterator[bytes]:
        url = f"{_api_url(self.settings.api)}/api/v0/{command}"
        where = f"ipfs.api = {redact(self.settings.api)}"
        answered = False
        try:
            with requests.post(url, params={"arg": arg, "offline": "true"}, stream=True,
                               timeout=self.settings.timeout) as answer:
                answered = True
                if answer.status_code != 200:
                    raise StoreError(f"ipfs: {command} {arg}: the node at {where} answered "
                                     f"{answer.status_code}: {_rpc_message(answer)}")
                yield from answer.iter_content(chunk_size=_PIECE)
        except requests.RequestException as exc:
            # requests reports a read that timed out inside a streamed body as a ConnectionError.
            if isinstance(exc, requests.Timeout) or isinstance(exc.args[0] if exc.args else None, ReadTimeoutError):
                raise StoreUnavailable(f"ipfs: {command} {arg}: no answer from the node at {where} within "
                                       f"{self.settings.timeout:g} s (it may not hold the block, or be "
                                       f"overloaded)") from None
            if answered:
                raise StoreError(f"ipfs: {command} {arg}: the node at {where} broke off its answer: "
                                 f"{first_line(exc)}") from None
            raise StoreUnavailable(f"ipfs: cannot reach {where}: {first_line(exc)}") from None

    # -- the node's API ---------------------------------------------------------------------

    def _stream(self, cid: str) -> Iterator[bytes]:
        import ipfshttpclient

        try:
            stream = self.client.cat(cid, stream=True, timeout=self.settings.timeout)
            with stream:
                yield from stream
        except ipfshttpclient.exceptions.Error as exc:
            raise self._error(exc) from None

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import ipfshttpclient

        kwargs.setdefault("timeout", self.settings.timeout)
        try:
            return fn(*args, **kwargs)
        except ipfshttpclient.exceptions.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> StoreError:
        import ipfshttpclient

        if isinstance(exc, (ipfshttpclient.exceptions.ConnectionError, ipfshttpclient.exceptions.TimeoutError)):
            return StoreUnavailable(f"ipfs: cannot reach ipfs.api = {self.settings.api}: {first_line(exc)}")
        return StoreError(f"ipfs: {first_line(exc)}")


_PIECE = 64 * 1024
_ERROR_BYTES = 4096  # of an error answer's body, for its message


def _rpc_message(answer: requests.Response) -> str:
    """The node's error message (Kubo's RPC answers errors as JSON with a Message), one line."""
    body = b""
    for piece in answer.iter_content(chunk_size=_ERROR_BYTES):
        body += piece
        if len(body) >= _ERROR_BYTES:
            break
    text = body[:_ERROR_BYTES].decode("utf-8", "replace")
    try:
        text = str(json.loads(text).get("Message") or text)
    except (ValueError, AttributeError):
        pass
    return first_line(text) if text.strip() else answer.reason or "no message"


def _api_url(api: str) -> str:
    """The API as an http(s) URL, also when given as a multiaddr (/ip4|ip6|dns*/HOST/tcp/PORT[/http|/https])."""
    if not api.startswith("/"):
        return api.rstrip("/")
    parts = api.strip("/").split("/")
    if len(parts) < 4 or parts[0] not in ("ip4", "ip6", "dns", "dns4", "dns6") or parts[2] != "tcp":
        raise StoreUnavailable(f"ipfs: setting ipfs.api = {api!r} is not usable: expected /ip4/HOST/tcp/PORT/http")
    host = f"[{parts[1]}]" if parts[0] == "ip6" else parts[1]
    scheme = "https" if parts[4:5] == ["https"] else "http"
    return f"{scheme}://{host}:{parts[3]}"


def _multiaddr(api: str) -> str:
    """The API as ipfshttpclient wants it: a multiaddr, also when given as an http URL."""
    if api.startswith("/"):
        return api
    parts = urlsplit(api)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
    proto = "ip6" if ":" in host else ("ip4" if host.replace(".", "").isdigit() else "dns")
    return f"/{proto}/{host}/tcp/{port}/{parts.scheme}"
