"""The IPFS CID a Kubo-compatible node gives a file, computed locally in (nearly) constant memory.

Refuge needs a file's CID before uploading it and must check that bytes a node returns
really are the CID asked for (a lying or broken node must not poison the archive), so the
CID is computed here: no maintained Python library builds multi-chunk UnixFS DAGs, and the
layout is small. It matches ``ipfs add --cid-version=1 --raw-leaves`` with the default
chunker (``size-262144``) and the default balanced layout (174 links per node):

- The data is cut into 262144-byte leaves (the last may be shorter). Each leaf is a raw
  block: CIDv1, codec raw (0x55), sha2-256 multihash.
- A file of one leaf (so any file of at most 262144 bytes, the empty file included: one
  empty leaf) has that raw leaf's CID as its CID.
- Otherwise the leaves are grouped, in order, in batches of 174 under dag-pb (0x70) UnixFS
  File nodes; those nodes again in batches of 174, and so on until one node is left, the
  root. A batch of one node that is not the whole file still gets its own parent node.
- A dag-pb node is serialized Links first, then Data. Each PBLink holds Hash (the child's
  binary CID), Name (the empty string, written as an empty field) and Tsize: a raw leaf's
  length, or a dag-pb child's encoded length plus the Tsizes of its own links. Data is a
  UnixFS message: Type=File (2), filesize (the bytes below the node), one unpacked
  blocksizes entry per child (the file bytes below that child) and no Data bytes.

Every detail above was checked against a real node (js-ipfs 0.66.1); see tests/storage/test_cid.py.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from pathlib import Path
from typing import NamedTuple

from refuge.formats.car import encode_varint, read_varint

CHUNK_SIZE = 262144
MAX_LINKS = 174
RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


_varint = functools.lru_cache(maxsize=4096)(encode_varint)  # the same few sizes recur in every node


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _cid_v1(codec: int, digest: bytes) -> bytes:
    return _varint(1) + _varint(codec) + bytes((SHA2_256, len(digest))) + digest


class _Node(NamedTuple):
    cid: bytes  # binary CID
    tsize: int  # bytes of all blocks in this subtree (the parent's link Tsize)
    filesize: int  # file bytes in this subtree (the parent's blocksizes entry)


def _parent(children: list[_Node]) -> _Node:
    """A dag-pb UnixFS File node over ``children``."""
    filesize = sum(c.filesize for c in children)
    data = b"\x08\x02\x18" + _varint(filesize) + b"".join(b"\x20" + _varint(c.filesize) for c in children)
    # PBLink: Hash (1), Name (2, empty but present), Tsize (3); PBNode: Links (2) first, then Data (1).
    links = b"".join(_field(2, _field(1, c.cid) + b"\x12\x00\x18" + _varint(c.tsize)) for c in children)
    block = links + _field(1, data)
    tsize = len(block) + sum(c.tsize for c in children)
    return _Node(_cid_v1(DAG_PB, hashlib.sha256(block).digest()), tsize, filesize)


class CidBuilder:
    """Incremental CID of a file: feed it bytes in pieces of any size with :meth:`update`.

    Holds one running sha256 and the 32-byte digest of each finished leaf (all of them
    full-sized), never the data itself. ``chunk_size`` is the node's
    ``chunker=size-N``; Refuge uses the default (a small one lets tests check deep trees).
    """

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._chunk = chunk_size
        self._digests = bytearray()  # sha256 of each finished (full) leaf, back to back
        self._hash = hashlib.sha256()
        self._leaf_size = 0
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self._size += len(view)
        pos = 0
        while pos < len(view):
            if self._leaf_size == self._chunk:
                self._finish_leaf()
            take = min(self._chunk - self._leaf_size, len(view) - pos)
            self._hash.update(view[pos:pos + take])
            self._leaf_size += take
            pos += take

    def _finish_leaf(self) -> None:
        self._digests += self._hash.digest()
        self._hash = hashlib.sha256()
        self._leaf_size = 0

    def cid_binary(self) -> bytes:
        """The binary CID of the bytes fed so far (more may be fed afterwards)."""
        full = self._chunk
        level = [_Node(_cid_v1(RAW, bytes(self._digests[i:i + 32])), full, full)
                 for i in range(0, len(self._digests), 32)]
        if self._leaf_size or not level:
            level.append(_Node(_cid_v1(RAW, self._hash.copy().digest()), self._leaf_size, self._leaf_size))
        while len(level) > 1:  # a lone leaf is its own root; otherwise batch up to one node
            level = [_parent(level[i:i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
        return level[0].cid

    def cid(self) -> str:
        """The base32 CIDv1 string ('b...') of the bytes fed so far."""
        return _base32(self.cid_binary())


def _base32(raw: bytes) -> str:
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def bytes_cid(data: bytes | bytearray | memoryview) -> str:
    """CID of ``data`` (base32 CIDv1)."""
    builder = CidBuilder()
    builder.update(data)
    return builder.cid()


def file_cid(path: Path | str, bufsize: int = 1 << 20) -> str:
    """CID of the file at ``path`` (base32 CIDv1), read through one reused buffer."""
    builder = CidBuilder()
    buf = bytearray(bufsize)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            builder.update(view[:n])
    return builder.cid()


def _b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        if ch not in _B58_INDEX:
            raise ValueError(f"invalid base58btc character {ch!r}")
        n = n * 58 + _B58_INDEX[ch]
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


def cid_bytes(text: str) -> bytes:
    """Binary form of a CID string: CIDv1 in base32 ('b'/'B') or base58btc ('z'), or CIDv0 ('Qm...').

    A CIDv0 is returned as the equivalent CIDv1 (dag-pb, same multihash), so that the two
    spellings of one DAG compare equal. Raises ValueError for anything malformed.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"not a CID: {text!r}")
    text = text.strip()
    try:
        if len(text) == 46 and text.startswith("Qm"):
            mh = _b58decode(text)
            if len(mh) != 34 or mh[:2] != bytes((SHA2_256, 32)):
                raise ValueError("not a sha2-256 multihash")
            return _cid_v1(DAG_PB, mh[2:])
        prefix, body = text[0], text[1:]
        if prefix in "bB":
            if body != (body.lower() if prefix == "b" else body.upper()):
                raise ValueError("mixed case")
            try:
                raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
            except binascii.Error as exc:
                raise ValueError(f"invalid base32 ({exc})") from None
        elif prefix == "z":
            raw = _b58decode(body)
        else:
            raise ValueError(f"unsupported multibase prefix {prefix!r} (expected 'b', 'z' or 'Qm...')")
        version, pos = read_varint(raw, 0)
        if version != 1:
            raise ValueError(f"CID version {version} (expected 1)")
        _codec, pos = read_varint(raw, pos)
        _hash_code, pos = read_varint(raw, pos)
        length, pos = read_varint(raw, pos)
        if len(raw) - pos != length:
            raise ValueError(f"multihash digest is {len(raw) - pos} bytes, declared {length}")
        return raw
    except ValueError as exc:
        raise ValueError(f"malformed CID {text!r}: {exc}") from None


def same_cid(a: str, b: str) -> bool:
    """Whether two CID strings (any supported encoding) name the same content."""
    return cid_bytes(a) == cid_bytes(b)


def as_cidv1(text: str) -> str:
    """The same CID as base32 CIDv1 (a v0 'Qm...' too): case-insensitive, so it also works
    as a subdomain on gateways that serve https://<cid>.ipfs.<gateway>/."""
    return _base32(cid_bytes(text))
