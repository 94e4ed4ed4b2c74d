"""A target's published IPFS mirror as one CAR v1 file (``refuge bundle NAME --format car``),
to carry on a USB stick and load into any IPFS node with ``ipfs dag import FILE.car``: the
node then serves the mirror under the very address Refuge published, ``ipfs://<cid>/``.

:func:`write_car` finds the mirror's CID in the catalog (the target's current IPFS
mirror, or the newest one of the capture asked for), reads the DAG under it from the
configured node and writes it as a CAR whose single root is that CID: every block once,
depth-first from the root (links in order), so the same mirror always gives the same file.

Where the blocks come from, and why (decided by trying both on js-ipfs 0.66.1; Kubo has
answered both calls the same way for years):

- ``dag/export``, one streamed request for the whole DAG, is the standard call and by far
  the fastest. Both nodes export depth-first, each block once, which is the order written
  here, so the blocks pass straight through: each is checked against its CID (sha2-256) and
  its links are read, so that a missing, extra or reordered block is noticed.
- ``block/get``, one request per block, works on any node; it takes over from the first
  block the export does not give in the expected order (a node that orders blocks
  otherwise, or stops early), so the file is the same either way.
- Rebuilding the blocks from the export folder instead would have to reproduce the node's
  UnixFS layout byte for byte (directories included) and would not prove that the node
  serves that CID at all: not done.

A block whose bytes do not match its CID fails the bundle with a one-line error naming the
CID; so does a block over :data:`MAX_BLOCK`. The CAR is written to a temporary file beside
OUT and renamed into place, so OUT is always either the old file or a whole new one.
Memory stays bounded by one block plus the set of CIDs already written.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine

from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.formats.car import (
    DAG_PB,
    RAW,
    CarError,
    check_block,
    cid_key,
    cid_text,
    dag_pb_links,
    encode_header,
    read_sections,
    section_head,
)
from refuge.storage import catalog
from refuge.storage.catalog import mirrors
from refuge.storage.out_file import checked_out
from refuge.storage.stores.cid import as_cidv1, cid_bytes
from refuge.storage.stores.interface import StoreError, StoreUnavailable
from refuge.storage.stores.ipfs import IpfsStore
from refuge.storage.warc.sealed import fsync_dir

log = logging.getLogger(__name__)

# Nodes chunk files at 256 KiB by default and at most 1 MiB; a dag-pb node wraps that in a few bytes.
MAX_BLOCK = (1 << 20) + 1024
MAX_SECTION = MAX_BLOCK + 128  # the CID and its length


@dataclass(frozen=True)
class CarBundle:
    path: Path
    target: str
    capture_id: str
    root_cid: str  # the mirror's CID as published (base32 CIDv1)
    blocks: int
    size: int  # bytes of the CAR file
    sha256: str  # hex, of the CAR file

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def write_car(settings: Settings, engine: Engine, name: str, out: Path, capture_id: str | None = None) -> CarBundle:
    """Write target NAME's published IPFS mirror (its current one, or the newest of CAPTURE_ID)
    to OUT (a file name ending in .car) as a CAR v1 whose root is the mirror's CID."""
    target = catalog.get_target(engine, name)
    row = (mirrors.last_publish(engine, target.id, "ipfs") if capture_id is None
           else mirrors.capture_publish(engine, target.id, "ipfs", capture_id))
    if row is None:
        which = f"capture {capture_id!r} of target {name!r}" if capture_id else f"target {name!r}"
        again = f"refuge publish {name}" + (f" --capture {capture_id}" if capture_id else "")
        raise BadInput(f"{which}: no mirror published to IPFS; run `{again}` with an [ipfs] store "
                       f"configured first")
    if settings.ipfs is None:
        raise BadInput(f"target {name!r}: its IPFS mirror {row['content']} is on a node, but no [ipfs] store is "
                       f"configured: set ipfs.api in refuge.toml to the node that holds it")
    out = checked_out(out, ".car", "a CAR bundle")
    root_text = as_cidv1(row["content"])
    store = IpfsStore(settings.ipfs)
    if not store.pinned(root_text):
        raise StoreError(f"ipfs: mirror {root_text} of {name} (capture {row['capture_id']}) is not pinned on the "
                         f"node at ipfs.api = {settings.ipfs.api}: it may be garbage-collected; publish it again")
    root = cid_bytes(root_text)
    tmp = out.with_name(f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as raw:
            written = _write(raw, root, store)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    blocks, size, digest = written
    return CarBundle(path=out, target=name, capture_id=str(row["capture_id"]), root_cid=root_text, blocks=blocks,
                     size=size, sha256=digest)


def _write(raw: BinaryIO, root: bytes, store: IpfsStore) -> tuple[int, int, str]:
    """The CAR into RAW; (blocks, bytes, sha256 hex)."""
    sha = hashlib.sha256()
    size = blocks = 0

    def put(data: bytes) -> None:
        nonlocal size
        raw.write(data)
        sha.update(data)
        size += len(data)

    def fetch(cid: bytes) -> bytes:
        return store.get_block(cid_text(cid), MAX_BLOCK)

    put(encode_header(root))
    exported = _exported(store, root)
    try:
        for cid, data in dag_blocks(root, exported, fetch):
            put(section_head(cid, len(data)))
            put(data)
            blocks += 1
    except CarError as exc:
        raise StoreError(f"ipfs: the node at ipfs.api = {store.settings.api} sent a bad block or CAR: {exc}") from None
    finally:
        exported.close()
    return blocks, size, sha.hexdigest()


def _exported(store: IpfsStore, root: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The node's export of ROOT as (CID, data); when the node refuses to export (a node
    without ``dag/export``), nothing: block/get then gives every block."""
    try:
        yield from read_sections(store.export_dag(cid_text(root)), MAX_SECTION)
    except StoreUnavailable:
        raise
    except StoreError as exc:
        log.info("no export from the node (%s); fetching the mirror block by block", exc)


def dag_blocks(root: bytes, sections: Iterator[tuple[bytes, bytes]],
               fetch: Callable[[bytes], bytes]) -> Iterator[tuple[bytes, bytes]]:
    """(binary CID, data) of every block of the UnixFS DAG under ROOT, each once, depth-first
    with links in order, each checked against its CID (a BadBlock names the one that is not).

    SECTIONS is a node's export of that DAG (CID, data); its blocks are used while they come
    in exactly this order (repeats of blocks already given are passed over). From the first
    one that does not, the export is closed and FETCH gets each remaining block by its CID."""
    stack = [root]
    seen: set[bytes] = set()
    stream: Iterator[tuple[bytes, bytes]] | None = sections
    while stack:
        cid = stack.pop()
        key = cid_key(cid)
        if key in seen:
            continue
        seen.add(key)
        data = None
        if stream is not None:
            try:
                got = next((s for s in stream if cid_key(s[0]) == key or cid_key(s[0]) not in seen), None)
                why = "ends" if got is None else "goes another way"
            except CarError as exc:  # a stream broken off inside a block, say
                got, why = None, f"breaks ({exc})"
            if got is not None and cid_key(got[0]) == key:
                data = got[1]
            else:
                log.info("the node's export %s at block %s; fetching the rest block by block", why, cid_text(cid))
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
                stream = None
        if data is None:
            data = fetch(cid)
        if len(data) > MAX_BLOCK:
            raise CarError(f"block {cid_text(cid)} is {len(data)} bytes, over the limit of {MAX_BLOCK}")
        parts = check_block(cid, data)
        if parts.codec == DAG_PB:
            stack.extend(reversed(dag_pb_links(data)))
        elif parts.codec != RAW:
            raise CarError(f"block {cid_text(cid)} has codec 0x{parts.codec:x}: a UnixFS tree has only "
                           f"dag-pb and raw blocks")
        yield cid, data
