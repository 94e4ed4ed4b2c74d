"""CAR v1 (Content Addressable aRchive), the file ``ipfs dag import`` reads, and the few IPLD
pieces a CAR of a UnixFS tree needs: binary CIDs, checking a block against its CID, the
links of a dag-pb node. Pure: bytes in, bytes out, no I/O.

    CAR      = varint(len(header)) header section*
    header   = DAG-CBOR {"roots": [CID], "version": 1}
    section  = varint(len(cid) + len(data)) cid data

(https://ipld.io/specs/transport/car/carv1/). CIDs are handled in binary form: a CIDv1 is
varint(1) varint(codec) multihash, a CIDv0 a bare sha2-256 multihash (0x12 0x20 + 32 bytes)
of a dag-pb block. The header is written by hand: it has one fixed shape, and its DAG-CBOR
encoding is fully determined (map keys sorted by length, then bytes: "roots" before
"version"; a CID is tag 42 over a byte string of 0x00 and the binary CID).

Everything read here may come from a node that misbehaves: every length is checked before
anything is buffered, and every error is a one-line :class:`CarError`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
IDENTITY = 0x00
MAX_HEADER = 64 * 1024  # one root takes about 60 bytes


class CarError(ValueError):
    """Malformed CAR, CID or block (one line)."""


class BadBlock(CarError):
    """A block's bytes are not the ones its CID names."""

    def __init__(self, cid: bytes, message: str) -> None:
        super().__init__(message)
        self.cid = cid


# -- varints and CIDs -----------------------------------------------------------------------

def encode_varint(n: int) -> bytes:
    """Unsigned LEB128, as multiformats and CAR write lengths."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """(value, position after it) of the varint at POS; CarError when truncated or longer than 9 bytes."""
    value = shift = 0
    end = min(len(buf), pos + 9)
    while pos < end:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise CarError("truncated or overlong varint")


class Cid(NamedTuple):
    codec: int
    hash_code: int
    digest: bytes
    length: int  # bytes the binary CID takes


def parse_cid(buf: bytes | bytearray | memoryview, pos: int = 0) -> Cid:
    """The binary CID that starts at POS (v0 or v1)."""
    if buf[pos:pos + 2] == b"\x12\x20":
        if len(buf) - pos < 34:
            raise CarError("truncated CIDv0")
        return Cid(DAG_PB, SHA2_256, bytes(buf[pos + 2:pos + 34]), 34)
    start = pos
    version, pos = read_varint(buf, pos)
    if version != 1:
        raise CarError(f"CID version {version} (expected 0 or 1)")
    codec, pos = read_varint(buf, pos)
    hash_code, pos = read_varint(buf, pos)
    size, pos = read_varint(buf, pos)
    if size > 128 or len(buf) - pos < size:
        raise CarError(f"CID digest of {size} bytes: truncated or too long")
    return Cid(codec, hash_code, bytes(buf[pos:pos + size]), pos + size - start)


def cid_key(cid: bytes) -> bytes:
    """One spelling per block: a CIDv0 as the CIDv1 that names the same dag-pb block."""
    return b"\x01\x70" + cid if cid[:2] == b"\x12\x20" and len(cid) == 34 else cid


def cid_text(cid: bytes) -> str:
    """The CID as lowercase base32 CIDv1 ('bafy...'), for messages."""
    return "b" + base64.b32encode(cid_key(cid)).decode("ascii").lower().rstrip("=")


def check_block(cid: bytes, data: bytes | bytearray | memoryview) -> Cid:
    """CID's parts, after checking that DATA is the block CID names (sha2-256, or identity);
    BadBlock naming the CID when it is not."""
    parts = parse_cid(cid)
    if parts.length != len(cid):
        raise BadBlock(cid, f"block {cid_text(cid)}: CID has trailing bytes")
    if parts.hash_code == SHA2_256:
        if hashlib.sha256(data).digest() != parts.digest:
            raise BadBlock(cid, f"block {cid_text(cid)}: its bytes do not hash to its CID (sha2-256)")
    elif parts.hash_code == IDENTITY:
        if bytes(data) != parts.digest:
            raise BadBlock(cid, f"block {cid_text(cid)}: its bytes are not the ones inlined in its CID")
    else:
        raise BadBlock(cid, f"block {cid_text(cid)}: multihash 0x{parts.hash_code:x} cannot be checked "
                            f"(only sha2-256 and identity)")
    return parts


# -- dag-pb ---------------------------------------------------------------------------------

def dag_pb_links(data: bytes | bytearray | memoryview) -> list[bytes]:
    """The binary CIDs a dag-pb node links to, in order (PBNode: Links = field 2, each a
    PBLink whose field 1 is Hash; Data = field 1 is skipped). CarError when malformed."""
    view = memoryview(data).cast("B")
    links = []
    for number, value in _fields(view):
        if number == 2:
            if not isinstance(value, memoryview):
                raise CarError("dag-pb: Links is not a message")
            hashes = [v for n, v in _fields(value) if n == 1]
            if len(hashes) != 1 or not isinstance(hashes[0], memoryview):
                raise CarError("dag-pb: a link without exactly one Hash")
            cid = bytes(hashes[0])
            if parse_cid(cid).length != len(cid):
                raise CarError("dag-pb: a link's Hash has trailing bytes")
            links.append(cid)
    return links


def _fields(view: memoryview) -> Iterator[tuple[int, memoryview | int]]:
    """(field number, bytes or integer) of each protobuf field: varints (0) and
    length-delimited fields (2) only, as dag-pb has no others."""
    pos = 0
    while pos < len(view):
        key, pos = read_varint(view, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(view, pos)
            yield number, value
        elif wire == 2:
            size, pos = read_varint(view, pos)
            if size > len(view) - pos:
                raise CarError("dag-pb: a field runs past the end of the block")
            yield number, view[pos:pos + size]
            pos += size
        else:
            raise CarError(f"dag-pb: wire type {wire} in field {number}")


# -- writing --------------------------------------------------------------------------------

def encode_header(root: bytes) -> bytes:
    """The CAR v1 header with the single root ROOT (binary CID), its length varint included."""
    parse_cid(root)  # a CarError for anything that is not one CID
    tagged = b"\x00" + root  # DAG-CBOR's CID: tag 42 over the multibase-identity prefix and the CID
    body = (b"\xa2" + b"\x65roots" + b"\x81" + b"\xd8\x2a" + _cbor_bytes_head(len(tagged)) + tagged
            + b"\x67version" + b"\x01")
    return encode_varint(len(body)) + body


def _cbor_bytes_head(n: int) -> bytes:
    """The head of a CBOR byte string (major type 2) of N bytes, in its shortest form."""
    if n < 24:
        return bytes((0x40 | n,))
    if n < 0x100:
        return bytes((0x58, n))
    return b"\x59" + n.to_bytes(2, "big")  # a CID is far shorter than 65536 bytes


def section_head(cid: bytes, size: int) -> bytes:
    """What precedes a block of SIZE bytes in a CAR: the section's length and the CID."""
    return encode_varint(len(cid) + size) + cid


# -- reading --------------------------------------------------------------------------------

def read_sections(chunks: Iterable[bytes], max_section: int) -> Iterator[tuple[bytes, bytes]]:
    """(binary CID, data) of each section of the CAR v1 stream CHUNKS (pieces of any size),
    after its header, which is skipped. A section longer than MAX_SECTION is refused before
    it is buffered; a stream that stops inside a section is a CarError. CHUNKS is closed
    (when it can be) once reading stops."""
    buf = bytearray()
    pos = 0
    header_done = False
    source = iter(chunks)
    try:
        while True:
            if pos > (1 << 20):  # drop what is consumed, now and then rather than at every section
                del buf[:pos]
                pos = 0
            size, start = _section_size(buf, pos)
            if size is not None:
                limit = MAX_HEADER if not header_done else max_section
                if size > limit:
                    what = "header" if not header_done else "section"
                    raise CarError(f"CAR {what} of {size} bytes, over the limit of {limit}")
                if len(buf) - start >= size:
                    body = bytes(buf[start:start + size])
                    pos = start + size
                    if not header_done:
                        header_done = True
                        continue
                    cid = parse_cid(body)
                    yield body[:cid.length], body[cid.length:]
                    continue
            piece = next(source, None)
            if piece is None:
                if pos < len(buf) or not header_done:
                    raise CarError("CAR stream ends inside a section" if header_done else "CAR stream has no header")
                return
            buf += piece
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _section_size(buf: bytearray, pos: int) -> tuple[int | None, int]:
    """(length, where the section starts) of the varint at POS, or (None, POS) when it is
    not all there yet."""
    try:
        return read_varint(buf, pos)
    except CarError:
        if len(buf) - pos >= 9:
            raise
        return None, pos
