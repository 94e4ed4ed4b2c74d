"""The mirror list's signing key on disk: DATA/keys/mirrors.key (owner-only, made on first
use, never overwritten) and mirrors.pub beside it (publish.signing holds the format). In
distributed mode the cluster has one key, kept in the catalog (cluster_key). How key files
are created, read and shared is storage.keyfiles'; this module says what this key's file
holds."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.mirror.publish.signing import KEY_ID_BYTES, PK_ALG, PUBLIC_KEY_BYTES, SEED_BYTES, SigningKey, b64, unb64
from refuge.storage import keyfiles

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


MIRROR_KEY = keyfiles.KeyKind(file=KEY_FILE, shared_name="mirror-signing-key", generate=SigningKey.generate,
                              text=_key_file_text, parse=_parse_key_file,
                              describe=lambda key: f"key id {key.key_id_hex}")


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

    Creation is atomic and safe between processes (storage.keyfiles). A key file that is
    unreadable, corrupt, or open to group or others is refused with BadInput naming it.
    """
    key = keyfiles.load_or_create(MIRROR_KEY, data_dir)
    keyfiles.write_public(keyfiles.key_dir(data_dir) / PUB_FILE, key.public_key_file())
    return key


def signing_key(settings: Settings, engine: Engine) -> SigningKey:
    """The key that signs the mirror list: the cluster's in distributed mode, else this
    machine's own."""
    return cluster_key(settings.data, engine) if settings.queue else load_or_create_key(settings.data)


def cluster_key(data_dir: Path, engine: Engine) -> SigningKey:
    """The one signing key of a cluster (distributed mode), kept in the catalog so every
    machine signs the mirror list alike (storage.keyfiles.cluster_key says how a machine
    with a key of its own is treated)."""
    key = keyfiles.cluster_key(MIRROR_KEY, data_dir, engine)
    keyfiles.write_public(keyfiles.key_dir(data_dir) / PUB_FILE, key.public_key_file())
    return key
