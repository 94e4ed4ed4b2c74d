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
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

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

KEY_DIR = "keys"
KEY_FILE = "mirrors.key"
PUB_FILE = "mirrors.pub"
KEY_FORMAT = "1"


class BadSignature(Failure):
    """A signature that does not check out; the message is one line saying why."""


def key_id_hex(key_id: bytes) -> str:
    """A key id as minisign prints it (little-endian 64-bit integer, %016X)."""
    return key_id[::-1].hex().upper()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes | None:
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
        return _b64(PK_ALG + self.key_id + self.public_key)

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
                f"{_b64(SIG_ALG_HASHED + self.key_id + signature)}\n"
                f"{TRUSTED_PREFIX}{trusted_comment}\n"
                f"{_b64(global_signature)}\n")


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
    raw = _unb64(line.strip())
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
    sig = _unb64(sig_line)
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
    global_sig = _unb64(global_line.strip())
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


# -- the key pair on disk --------------------------------------------------------------

def _key_file_text(key: SigningKey) -> str:
    return ("# Refuge mirror-list signing key. SECRET: keep this file owner-only (0600).\n"
            f"# Ed25519 seed and minisign public key, key id {key.key_id_hex}.\n"
            "# Not a minisign secret key file: minisign -S cannot use it.\n"
            f"refuge-signing-key: {KEY_FORMAT}\n"
            f"seed: {_b64(key.seed)}\n"
            f"public-key: {key.public_key_b64()}\n")


def _parse_key_file(path: Path, text: str) -> SigningKey:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        if not sep or name.strip() in fields:
            raise BadInput(f"{path}: corrupt signing key file (unexpected line {line[:30]!r}...)")
        fields[name.strip()] = value.strip()
    if fields.get("refuge-signing-key") != KEY_FORMAT:
        raise BadInput(f"{path}: corrupt signing key file (no 'refuge-signing-key: {KEY_FORMAT}' line)")
    if set(fields) != {"refuge-signing-key", "seed", "public-key"}:
        raise BadInput(f"{path}: corrupt signing key file (want exactly refuge-signing-key, seed, public-key)")
    seed = _unb64(fields["seed"])
    public = _unb64(fields["public-key"])
    if seed is None or len(seed) != SEED_BYTES:
        raise BadInput(f"{path}: corrupt signing key file (seed is not {SEED_BYTES} bytes of base64)")
    if public is None or len(public) != 2 + KEY_ID_BYTES + PUBLIC_KEY_BYTES or public[:2] != PK_ALG:
        raise BadInput(f"{path}: corrupt signing key file (public-key is not a minisign public key)")
    key = SigningKey(key_id=public[2:2 + KEY_ID_BYTES], seed=seed)
    if key.public_key != public[2 + KEY_ID_BYTES:]:
        raise BadInput(f"{path}: corrupt signing key file (the seed does not give the recorded public key)")
    return key


def _read_key(path: Path) -> SigningKey | None:
    """The key in ``path``, or None when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the signing key ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"{path}: cannot read the signing key (not a regular file)")
        if os.name == "posix" and st.st_mode & 0o077:
            raise BadInput(f"{path}: signing key is accessible to group or others "
                           f"(mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it")
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) > 65536:
                raise BadInput(f"{path}: corrupt signing key file (too big)")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the signing key ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    try:
        text = b"".join(chunks).decode("ascii")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: corrupt signing key file (not ASCII text)") from None
    return _parse_key_file(path, text)


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create ``path`` with ``text``; FileExistsError if it is already there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_key(key_path: Path) -> None:
    """Write a new key to ``key_path`` unless some other process got there first.

    The key is written whole to a private temporary file and then hard-linked into
    place: link() fails when the name exists, so of two racing processes exactly one
    key wins and nobody ever reads a half-written file. Where the filesystem has no
    hard links, O_EXCL creation stands in.
    """
    text = _key_file_text(SigningKey.generate())
    tmp = key_path.with_name(f".{key_path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    _write_new(tmp, text, 0o600)
    try:
        try:
            os.link(tmp, key_path)
        except FileExistsError:
            return
        except OSError:
            try:
                _write_new(key_path, text, 0o600)
            except FileExistsError:
                return
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(key_path.parent)


def _write_public(pub_path: Path, text: str) -> None:
    """Make ``pub_path`` hold ``text`` (atomically; identical writers may race harmlessly)."""
    try:
        if pub_path.read_text(encoding="ascii") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    tmp = pub_path.with_name(f".{pub_path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        _write_new(tmp, text, 0o644)
        os.replace(tmp, pub_path)
    except OSError as exc:
        raise Failure(f"{pub_path}: cannot write the public key ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_key(data_dir: Path) -> SigningKey:
    """The mirror-list signing key under ``data_dir/keys/``, made on first use.

    ``keys/mirrors.key`` (mode 0600, in a 0700 directory) holds the secret in Refuge's
    own small text format: comment lines starting with ``#``, then::

        refuge-signing-key: 1
        seed: <base64 of the 32-byte Ed25519 seed>
        public-key: <the minisign public key's base64 line: "Ed" || key id || public key>

    It is NOT a minisign secret key file (minisign's is scrypt-encrypted and laid out
    differently); ``minisign -S`` cannot read it, and refuge cannot read minisign's.
    ``keys/mirrors.pub`` is the minisign public key file, rewritten from the key when
    missing or different.

    Creation is atomic and safe between processes (see _create_key). A key file that is
    unreadable, corrupt, or open to group or others is refused with BadInput naming it.
    """
    keys = Path(data_dir) / KEY_DIR
    try:
        keys.mkdir(mode=0o700, parents=True)
        if os.name == "posix":
            os.chmod(keys, 0o700)
    except FileExistsError:
        if not keys.is_dir():
            raise BadInput(f"{keys}: not a directory (it should hold the signing keys)") from None
    except OSError as exc:
        raise BadInput(f"{keys}: cannot create the key directory ({exc.strerror or exc})") from None
    key_path = keys / KEY_FILE
    key = _read_key(key_path)
    if key is None:
        try:
            _create_key(key_path)
        except OSError as exc:
            raise BadInput(f"{key_path}: cannot create the signing key ({exc.strerror or exc})") from None
        key = _read_key(key_path)
        if key is None:
            raise Failure(f"{key_path}: the signing key vanished right after it was created")
    _write_public(keys / PUB_FILE, key.public_key_file())
    return key
