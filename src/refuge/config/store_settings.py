"""Settings of the replica stores: the `[s3]` and `[ipfs]` tables of refuge.toml.

A store is configured when its table is present (or its REFUGE_S3_* / REFUGE_IPFS_*
variables are set). Credentials are never settings: S3 takes them from boto3's own
chain (AWS_ACCESS_KEY_ID and friends, profiles, instance roles).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from refuge.config.errors import BadInput


@dataclass(frozen=True)
class S3Settings:
    bucket: str = ""
    endpoint_url: str = ""  # empty means AWS itself
    prefix: str = ""  # keys are PREFIX<target>/<capture>/<file>
    region: str = "us-east-1"
    addressing_style: str = "path"  # path | virtual
    # Uploads go up in parts of this size, a few at a time: memory stays bounded
    # (part_size x concurrency) whatever the file size.
    part_size: int = 16 * 1024 * 1024
    concurrency: int = 4
    timeout: float = 60.0  # connect and read timeout per request
    # Published mirrors go to PREFIX/mirrors/<target>/. public_read uploads them with the
    # public-read ACL (for buckets that allow it); public_base_url is where readers reach
    # the bucket (a bucket website, a CDN, the provider's own domain), e.g.
    # "https://refuge-mirror.s3.ap-southeast-1.amazonaws.com/". Empty: no S3 mirror URL.
    public_read: bool = False
    public_base_url: str = ""
    # Files not on this machine's disk are read from S3, a record at a time (replay, export,
    # verify); each process keeps the records it read in at most this much memory.
    cache_mb: int = 64
    # Distributed mode: delete a sealed file from this machine's disk once its S3 copy is
    # verified (S3 is the archive; the disk holds what is being written).
    keep_local: bool = True


@dataclass(frozen=True)
class IpfsSettings:
    api: str = "/ip4/127.0.0.1/tcp/5001/http"  # the node's RPC API, as a multiaddr or http URL
    gateways: tuple[str, ...] = ("https://ipfs.io", "https://dweb.link")
    # Gateways that also serve https://<cid>.ipfs.HOST/ (a mirror gets its own origin there).
    subdomain_gateways: tuple[str, ...] = ("https://dweb.link",)
    mfs_root: str = "/refuge"  # files are browsable in the node's MFS under this folder
    timeout: float = 120.0


_TABLES = {"s3": S3Settings, "ipfs": IpfsSettings}


def store_table(name: str, raw: Any, where: str) -> S3Settings | IpfsSettings:
    """The settings of store NAME from its TOML table, every key checked."""
    if not isinstance(raw, Mapping):
        raise BadInput(f"{where}: [{name}] must be a table")
    cls = _TABLES[name]
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise BadInput(f"{where}: unknown setting {key!r} in [{name}]")
        values[key] = _coerce(known[key].type, value, f"{where}: setting {name}.{key}")
    return _validated(name, cls(**values), where)


def store_from_environ(name: str, environ: Mapping[str, str],
                       base: S3Settings | IpfsSettings | None) -> S3Settings | IpfsSettings | None:
    """Apply REFUGE_S3_BUCKET-style variables on top of BASE (which may be unset)."""
    cls = _TABLES[name]
    values: dict[str, Any] = {}
    for f in fields(cls):
        var = f"REFUGE_{name.upper()}_{f.name.upper()}"
        raw = environ.get(var)
        if raw:
            if f.type in ("tuple[str, ...]",):
                raw = [part.strip() for part in raw.split(",") if part.strip()]
            values[f.name] = _coerce(f.type, raw, f"environment variable {var}")
    if not values:
        return base
    merged = {**({f.name: getattr(base, f.name) for f in fields(cls)} if base else {}), **values}
    return _validated(name, cls(**merged), "environment")


def _coerce(kind: Any, raw: Any, where: str) -> Any:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise BadInput(f"{where}: {raw!r} is not true or false")
    if kind == "int":
        try:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        except (TypeError, ValueError):
            raise BadInput(f"{where}: {raw!r} is not a whole number") from None
    if kind == "float":
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise BadInput(f"{where}: {raw!r} is not a number") from None
    if kind.startswith("tuple"):
        if not isinstance(raw, (list, tuple)) or not all(isinstance(v, str) for v in raw):
            raise BadInput(f"{where}: expected a list of strings, got {raw!r}")
        return tuple(raw)
    if not isinstance(raw, str):
        raise BadInput(f"{where}: expected a string, got {raw!r}")
    return raw


def _validated(name: str, s: Any, where: str) -> Any:
    if isinstance(s, S3Settings):
        if not s.bucket:
            raise BadInput(f"{where}: setting s3.bucket is required when [s3] is configured")
        if s.addressing_style not in ("path", "virtual"):
            raise BadInput(f"{where}: setting s3.addressing_style must be 'path' or 'virtual', "
                           f"got {s.addressing_style!r}")
        if s.endpoint_url and urlsplit(s.endpoint_url).scheme not in ("http", "https"):
            raise BadInput(f"{where}: setting s3.endpoint_url must be an http(s) URL, got {s.endpoint_url!r}")
        if s.prefix.startswith("/"):
            raise BadInput(f"{where}: setting s3.prefix must not start with '/', got {s.prefix!r}")
        if s.public_base_url and urlsplit(s.public_base_url).scheme not in ("http", "https"):
            raise BadInput(f"{where}: setting s3.public_base_url must be an http(s) URL, got {s.public_base_url!r}")
        # S3 allows at most 10,000 parts and at least 5 MiB per part.
        if s.part_size < 5 * 1024 * 1024 or s.concurrency < 1 or s.timeout <= 0 or s.cache_mb < 0:
            raise BadInput(f"{where}: settings s3.part_size (>= 5 MiB), s3.concurrency (>= 1), "
                           f"s3.timeout (> 0) and s3.cache_mb (>= 0) are out of range")
    if isinstance(s, IpfsSettings):
        if not (s.api.startswith("/") or urlsplit(s.api).scheme in ("http", "https")):
            raise BadInput(f"{where}: setting ipfs.api must be a multiaddr (/ip4/HOST/tcp/PORT/http) "
                           f"or an http URL, got {s.api!r}")
        for gateway in (*s.gateways, *s.subdomain_gateways):
            if urlsplit(gateway).scheme not in ("http", "https") or not urlsplit(gateway).hostname:
                raise BadInput(f"{where}: setting ipfs.gateways: {gateway!r} is not an http(s) URL")
        if not s.mfs_root.startswith("/") or s.timeout <= 0:
            raise BadInput(f"{where}: setting ipfs.mfs_root must start with '/' and ipfs.timeout be > 0")
    return s
