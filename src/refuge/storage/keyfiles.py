"""Secret key files under DATA/keys/: made on first use, never overwritten, owner-only; in
distributed mode one copy per cluster, kept in the catalog.

Each kind of key (the mirror list's Ed25519 key in mirror.publish.signing_key, the WACZ
packages' ECDSA key in storage.wacz.signing) says how it is made, written and read (a
KeyKind); this module keeps the rules every kind shares:

- `DATA/keys/` is a 0700 directory; a key file is 0600, ASCII text of at most 64 KiB. A
  file open to group or others, unreadable, or not what its kind reads is refused with
  BadInput naming it: a key is never silently replaced.
- Creation is atomic and safe between racing processes: the text is written whole to a
  private temporary file, then hard-linked into place (link() fails when the name
  exists), so exactly one key wins and nobody reads a half-written file. Where the
  filesystem has no hard links, O_EXCL creation stands in.
- Distributed mode (cluster_key): the catalog's shared value NAME holds the key's text.
  The first machine to need it offers its own key if it has one (a deployment that grows
  keeps the key its readers already trust), else a new one; a machine whose own key
  differs from the cluster's is refused, and nothing is overwritten.
- A public key file beside it (write_public) is rewritten, atomically, when missing or
  different.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import Engine

from refuge.config.errors import BadInput, Failure
from refuge.storage.catalog.shared import first_value
from refuge.storage.warc.sealed import fsync_dir

KEY_DIR = "keys"
MAX_KEY_FILE = 65536

K = TypeVar("K")


@dataclass(frozen=True)
class KeyKind(Generic[K]):
    """One kind of key: FILE under DATA/keys/, SHARED_NAME among the catalog's shared values,
    how to GENERATE one, its file TEXT, how to PARSE a file's text (BadInput naming the path
    given when it is not one), and how to DESCRIBE it in a message (a key id, a fingerprint).
    Keys compare equal when they are the same key."""

    file: str
    shared_name: str
    generate: Callable[[], K]
    text: Callable[[K], str]
    parse: Callable[[Path, str], K]
    describe: Callable[[K], str]


def key_dir(data_dir: Path) -> Path:
    """DATA_DIR/keys, made (0700) if missing."""
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


def load_or_create(kind: KeyKind[K], data_dir: Path) -> K:
    """This machine's key of KIND under DATA_DIR/keys/, made on first use."""
    key_path = key_dir(data_dir) / kind.file
    key = read_key(kind, key_path)
    if key is None:
        try:
            create_secret(key_path, kind.text(kind.generate()))
        except OSError as exc:
            raise BadInput(f"{key_path}: cannot create the signing key ({exc.strerror or exc})") from None
        key = read_key(kind, key_path)
        if key is None:
            raise Failure(f"{key_path}: the signing key vanished right after it was created")
    return key


def cluster_key(kind: KeyKind[K], data_dir: Path, engine: Engine) -> K:
    """The one key of KIND of a cluster (distributed mode), kept in the catalog so every
    machine signs alike; a copy goes under DATA_DIR/keys as on one machine."""
    key_path = key_dir(data_dir) / kind.file
    local = read_key(kind, key_path)
    text = first_value(engine, kind.shared_name, kind.text(local if local is not None else kind.generate()))
    key = kind.parse(Path(f"catalog: shared_values {kind.shared_name}"), text)
    if local is None:
        try:
            create_secret(key_path, text)
        except OSError as exc:
            raise BadInput(f"{key_path}: cannot write the cluster's signing key ({exc.strerror or exc})") from None
        local = read_key(kind, key_path)
    if local is None or local != key:
        raise BadInput(f"{key_path}: this machine's signing key is not the cluster's ({kind.describe(key)}, "
                       f"kept in the catalog): move it aside to use the cluster's")
    return key


def read_key(kind: KeyKind[K], path: Path) -> K | None:
    """The key of KIND in PATH, or None when there is no such file."""
    text = read_secret(path)
    return None if text is None else kind.parse(path, text)


def read_secret(path: Path) -> str | None:
    """The text of the key file PATH, or None when there is none. BadInput naming PATH for a
    file that is not a regular file, is open to group or others, is over 64 KiB or is not
    ASCII."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the signing key ({exc.strerror or exc})") from None
    chunks: list[bytes] = []
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"{path}: cannot read the signing key (not a regular file)")
        if os.name == "posix" and st.st_mode & 0o077:
            raise BadInput(f"{path}: signing key is accessible to group or others "
                           f"(mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it")
        while chunk := os.read(fd, MAX_KEY_FILE):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_KEY_FILE:
                raise BadInput(f"{path}: corrupt signing key file (too big)")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the signing key ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("ascii")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: corrupt signing key file (not ASCII text)") from None


def create_secret(key_path: Path, text: str) -> None:
    """Write TEXT to KEY_PATH (0600) unless some other process got there first (see the
    module's docstring); OSError when it cannot be written."""
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
    with contextlib.suppress(OSError):  # the key is in place; a directory that cannot be synced keeps it too
        fsync_dir(key_path.parent)


def write_public(pub_path: Path, text: str) -> None:
    """Make PUB_PATH hold TEXT (atomically; identical writers may race harmlessly)."""
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


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create PATH with TEXT; FileExistsError if it is already there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)  # the umask must not loosen (or tighten) what was asked
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
