"""The mirror list's signing key on disk: DATA/keys/mirrors.key (owner-only, made on first
use, never overwritten) and mirrors.pub beside it (publish.signing holds the format). In
distributed mode the cluster has one key, kept in the catalog (cluster_key)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from sqlalchemy import Engine

from refuge.config.errors import BadInput, Failure
from refuge.config.settings import Settings
from refuge.mirror.publish.signing import KEY_ID_BYTES, PK_ALG, PUBLIC_KEY_BYTES, SEED_BYTES, SigningKey, b64, unb64
from refuge.storage.catalog.shared import first_value

KEY_DIR = "keys"
KEY_FILE = "mirrors.key"
PUB_FILE = "mirrors.pub"
KEY_FORMAT = "1"


def _key_file_text(key: SigningKey) -> str:
    return ("# Refuge mirror-list signing key. SECRET: keep this file owner-only (0600).\n"
            f"# Ed25519 seed and minisign public key, key id {key.key_id_hex}.\n"
            "# Not a minisign secret key file: minisign -S cannot use it.\n"
            f"refuge-signing-key: {KEY_FORMAT}\n"
            f"seed: {b64(key.seed)}\n"
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
    seed = unb64(fields["seed"])
    public = unb64(fields["public-key"])
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


def _create_key(key_path: Path, text: str | None = None) -> None:
    """Write a new key (or the key file TEXT) to ``key_path`` unless some other process
    got there first.

    The key is written whole to a private temporary file and then hard-linked into
    place: link() fails when the name exists, so of two racing processes exactly one
    key wins and nobody ever reads a half-written file. Where the filesystem has no
    hard links, O_EXCL creation stands in.
    """
    text = text if text is not None else _key_file_text(SigningKey.generate())
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
    keys = _key_dir(data_dir)
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


def signing_key(settings: Settings, engine: Engine) -> SigningKey:
    """The key that signs the mirror list: the cluster's in distributed mode, else this
    machine's own."""
    return cluster_key(settings.data, engine) if settings.queue else load_or_create_key(settings.data)


def cluster_key(data_dir: Path, engine: Engine) -> SigningKey:
    """The one signing key of a cluster (distributed mode), kept in the catalog so every
    machine signs the mirror list alike; a copy goes under DATA_DIR/keys as on one machine.

    The first machine to need it offers its own key if it has one (a deployment that grows
    keeps the key its readers already trust), else a new one. A machine whose own key
    differs from the cluster's is refused with BadInput naming its key file: nothing
    is overwritten, and the operator decides which key stays."""
    keys = _key_dir(data_dir)
    key_path = keys / KEY_FILE
    local = _read_key(key_path)
    text = first_value(engine, "mirror-signing-key", _key_file_text(local or SigningKey.generate()))
    key = _parse_key_file(Path("catalog: shared_values mirror-signing-key"), text)
    if local is None:
        try:
            _create_key(key_path, text)
        except OSError as exc:
            raise BadInput(f"{key_path}: cannot write the cluster's signing key ({exc.strerror or exc})") from None
        local = _read_key(key_path)
    if local is None or (local.key_id, local.seed) != (key.key_id, key.seed):
        raise BadInput(f"{key_path}: this machine's signing key is not the cluster's (key id {key.key_id_hex}, "
                       f"kept in the catalog): move it aside to use the cluster's")
    _write_public(keys / PUB_FILE, key.public_key_file())
    return key


def _key_dir(data_dir: Path) -> Path:
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
    return keys
