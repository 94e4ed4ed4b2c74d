"""Signing the mirror list in minisign's format (Ed25519), so anyone can check it with
``minisign -V`` and the published public key.

The formats, as minisign 0.11 writes and reads them (all base64 is standard, padded):

- public key file (``refuge.pub``, ``mirrors.pub``)::

      untrusted comment: minisign public key <KEY ID>
      base64("Ed" || key_id[8] || ed25519_public_key[32])

- signature file (``mirrors.json.minisig``)::

      untrusted comment: <free text, not covered by any signature>
      base64("ED" || key_id[8] || Ed25519(BLAKE2b-512(file)))
      trusted comment: <one line>
      base64(Ed25519(signature[64] || trusted_comment_bytes))

  "ED" is minisign's prehashed algorithm (its default since 0.10; ``minisign -V -H``
  accepts nothing else). The legacy "Ed" form signs the file itself; verify() refuses it.

``<KEY ID>`` is how minisign prints a key id: the 8 bytes read as a little-endian
integer, in 16 upper-case hex digits (so the bytes appear reversed).

Ed25519 comes from ``cryptography``; BLAKE2b-512 (libsodium's unkeyed
``crypto_generichash`` with 64 output bytes) from hashlib.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from refuge.config.errors import BadInput, Failure

KEY_ID_BYTES = 8
SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

PK_ALG = b"Ed"            # the algorithm tag of a public key
SIG_ALG_HASHED = b"ED"    # prehashed signature: Ed25519 over BLAKE2b-512 of the file
SIG_ALG_LEGACY = b"Ed"    # legacy signature: Ed25519 over the file itself

COMMENT_PREFIX = "untrusted comment: "
TRUSTED_PREFIX = "trusted comment: "
# minisign reads the trusted-comment line with an 8192-byte fgets buffer and signs at
# most 8192 - sizeof("trusted comment: ") - 1 bytes of comment.
TRUSTED_COMMENT_MAX = 8192 - (len(TRUSTED_PREFIX) + 1) - 1
# minisign reads the untrusted-comment line (newline included) into 1024 bytes.
UNTRUSTED_LINE_MAX = 1024 - 1



class BadSignature(Failure):
    """A signature that does not check out; the message is one line saying why."""


def key_id_hex(key_id: bytes) -> str:
    """A key id as minisign prints it (little-endian 64-bit integer, %016X)."""
    return key_id[::-1].hex().upper()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None


def _prehash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=64).digest()


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key pair with a minisign key id.

    ``seed`` is the 32-byte Ed25519 secret (RFC 8032's private key); it stays out of repr().
    """

    key_id: bytes
    seed: bytes = field(repr=False)
    _private: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    public_key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_BYTES:
            raise ValueError(f"a key id is {KEY_ID_BYTES} bytes")
        if not isinstance(self.seed, bytes) or len(self.seed) != SEED_BYTES:
            raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes")
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        object.__setattr__(self, "_private", private)
        object.__setattr__(self, "public_key",
                           private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @classmethod
    def generate(cls) -> SigningKey:
        """A new key pair with a random key id (as ``minisign -G`` makes one)."""
        return cls(key_id=secrets.token_bytes(KEY_ID_BYTES), seed=secrets.token_bytes(SEED_BYTES))

    @property
    def key_id_hex(self) -> str:
        """The key id as minisign prints it."""
        return key_id_hex(self.key_id)

    def public_key_b64(self) -> str:
        """The public key's base64 line alone: what ``minisign -P`` takes."""
        return b64(PK_ALG + self.key_id + self.public_key)

    def public_key_file(self) -> str:
        """The text of a minisign public key file (what ``minisign -p`` reads)."""
        return f"{COMMENT_PREFIX}minisign public key {self.key_id_hex}\n{self.public_key_b64()}\n"

    def sign(self, data: bytes, trusted_comment: str) -> str:
        """The text of a ``.minisig`` file for ``data`` (prehashed, as ``minisign -S`` signs).

        ``trusted_comment`` is one line of text, covered by the signature (put the file
        name and a timestamp or version in it, so an old list cannot be replayed as new).
        Deterministic: the same key, data and comment give the same text.
        """
        comment = _check_trusted_comment(trusted_comment)
        signature = self._private.sign(_prehash(bytes(data)))
        global_signature = self._private.sign(signature + comment)
        return (f"{COMMENT_PREFIX}signature from refuge mirror-list key {self.key_id_hex}\n"
                f"{b64(SIG_ALG_HASHED + self.key_id + signature)}\n"
                f"{TRUSTED_PREFIX}{trusted_comment}\n"
                f"{b64(global_signature)}\n")


def _check_trusted_comment(comment: str) -> bytes:
    if not isinstance(comment, str):
        raise BadInput(f"trusted comment: expected text, got {type(comment).__name__}")
    bad = next((c for c in comment if c in "\r\n\0"), None)
    if bad is not None:
        raise BadInput(f"trusted comment {comment[:40]!r}: must be one line "
                       f"(no CR, LF or NUL; found {bad!r})")
    try:
        raw = comment.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"trusted comment {comment[:40]!r}: not encodable as UTF-8") from None
    if len(raw) > TRUSTED_COMMENT_MAX:
        raise BadInput(f"trusted comment: {len(raw)} bytes, over minisign's limit of {TRUSTED_COMMENT_MAX}")
    return raw


# -- verification ----------------------------------------------------------------------

def _parse_public_key(text: str) -> tuple[bytes, Ed25519PublicKey]:
    """(key id, key) from a minisign public key file's text or its base64 line alone."""
    if not isinstance(text, str):
        raise BadInput(f"public key: expected text, got {type(text).__name__}")
    lines = [line.rstrip("\r") for line in text.strip().split("\n")]
    if len(lines) == 1:
        line = lines[0]
    elif len(lines) == 2 and lines[0].startswith(COMMENT_PREFIX.rstrip()):
        line = lines[1]
    else:
        raise BadInput("public key: not a minisign public key "
                       "(want an 'untrusted comment:' line and a base64 line, or the base64 line alone)")
    raw = unb64(line.strip())
    if raw is None or len(raw) != len(PK_ALG) + KEY_ID_BYTES + PUBLIC_KEY_BYTES:
        raise BadInput(f"public key {line.strip()[:60]!r}: not the base64 of a minisign public key")
    if raw[:2] != PK_ALG:
        raise BadInput(f"public key {line.strip()[:60]!r}: unsupported algorithm {raw[:2]!r} (want 'Ed')")
    try:
        key = Ed25519PublicKey.from_public_bytes(raw[2 + KEY_ID_BYTES:])
    except ValueError:
        raise BadInput(f"public key {line.strip()[:60]!r}: not an Ed25519 public key") from None
    return raw[2:2 + KEY_ID_BYTES], key


def verify(public_key_file_text: str, data: bytes, minisig_text: str) -> str:
    """Check ``minisig_text`` (a .minisig file's text) over ``data``; return its trusted comment.

    ``public_key_file_text`` is a minisign public key file's text (or its base64 line
    alone). Only prehashed ("ED") signatures are accepted, as with ``minisign -V -H``.
    Raises BadSignature (one line: malformed, legacy, wrong key id, bad signature, bad
    global signature), or BadInput when the public key itself is malformed.
    """
    key_id, public = _parse_public_key(public_key_file_text)
    if not isinstance(minisig_text, str):
        raise BadSignature(f"malformed signature: expected text, got {type(minisig_text).__name__}")
    lines = minisig_text.split("\n")
    # minisign needs the first three lines newline-terminated; the fourth may end the file.
    if len(lines) < 4:
        raise BadSignature("malformed signature: fewer than four lines")
    if any(line.strip("\r") for line in lines[4:]):
        raise BadSignature("malformed signature: text after the global signature")
    untrusted, sig_line, trusted_line, global_line = (line.rstrip("\r") for line in lines[:4])
    if not untrusted.startswith(COMMENT_PREFIX):
        raise BadSignature(f"malformed signature: the first line does not start with {COMMENT_PREFIX!r}")
    if len(untrusted.encode("utf-8", "surrogatepass")) + 1 > UNTRUSTED_LINE_MAX:
        raise BadSignature("malformed signature: untrusted comment too long for minisign")
    sig = unb64(sig_line)
    if sig is None or len(sig) != 2 + KEY_ID_BYTES + SIGNATURE_BYTES:
        raise BadSignature("malformed signature: the second line is not a base64 minisign signature")
    if not trusted_line.startswith(TRUSTED_PREFIX):
        raise BadSignature(f"malformed signature: the third line does not start with {TRUSTED_PREFIX!r}")
    trusted = trusted_line[len(TRUSTED_PREFIX):]
    try:
        trusted_raw = trusted.encode("utf-8")
    except UnicodeEncodeError:
        raise BadSignature("malformed signature: the trusted comment is not valid text") from None
    if "\r" in trusted or "\0" in trusted or len(trusted_raw) > TRUSTED_COMMENT_MAX:
        raise BadSignature("malformed signature: the trusted comment is too long or has CR/NUL in it")
    global_sig = unb64(global_line.strip())
    if global_sig is None or len(global_sig) != SIGNATURE_BYTES:
        raise BadSignature("malformed signature: the fourth line is not a base64 global signature")

    alg, sig_key_id, signature = sig[:2], sig[2:2 + KEY_ID_BYTES], sig[2 + KEY_ID_BYTES:]
    if alg == SIG_ALG_LEGACY:
        raise BadSignature("legacy (non-prehashed) minisign signature: only prehashed 'ED' signatures are accepted")
    if alg != SIG_ALG_HASHED:
        raise BadSignature(f"malformed signature: unsupported algorithm {alg!r}")
    if sig_key_id != key_id:
        raise BadSignature(f"wrong key id: signed by key {key_id_hex(sig_key_id)}, "
                           f"the public key is {key_id_hex(key_id)}")
    try:
        public.verify(signature, _prehash(bytes(data)))
    except InvalidSignature:
        raise BadSignature("bad signature: the data does not match the signature") from None
    try:
        public.verify(global_sig, signature + trusted_raw)
    except InvalidSignature:
        raise BadSignature("bad global signature: the trusted comment does not match") from None
    return trusted
