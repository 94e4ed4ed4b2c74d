"""The WACZ signature (the WACZ Signing and Verification spec's anonymous mode) and the key
that makes it, DATA/keys/wacz.key.

What is signed, as ArchiveWeb.page signs and ReplayWeb.page (wabac.js) checks:

    datapackage-digest.json = {"path": "datapackage.json", "hash": "sha256:<hex of datapackage.json>",
                               "signedData": {"hash", "signature", "publicKey", "created", "software"}}

- `hash`: the same "sha256:<hex>" string; the signature covers its UTF-8 bytes;
- `signature`: ECDSA with SHA-256, base64 of the raw r||s pair (IEEE P1363, as WebCrypto
  writes it), not DER;
- `publicKey`: base64 of the public key's DER SubjectPublicKeyInfo;
- `created`: the datapackage's own `created` (`wacz validate` requires them equal);
- `software`: "Refuge <version>".

The curve is P-384: the spec names none, and the reference implementations (ArchiveWeb.page's
signer, wabac.js's verifier) use P-384 for anonymous signatures; wabac.js imports the key
as P-384 and would fail on any other. check_signature accepts P-256, P-384 and P-521, a raw
or a DER signature, and the spec's other mode (a domain certificate, whose key is taken
from its first certificate; its chain and timestamp are not checked here).

The key file is the PKCS#8 PEM of the private key (`openssl` reads it), mode 0600, made on
first use; wacz.pub beside it is the public key's PEM. In distributed mode the cluster has
one key, kept in the catalog (storage.keyfiles).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from sqlalchemy import Engine

from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.storage import keyfiles

KEY_FILE = "wacz.key"
PUB_FILE = "wacz.pub"
CURVE = ec.SECP384R1()
CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}  # what a signature may use
ALGORITHM = "ECDSA P-384, SHA-256"
_ECDSA = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class WaczKey:
    """The private key that signs WACZ packages; PEM is its PKCS#8 text (kept out of repr)."""

    pem: str = field(repr=False)
    private: ec.EllipticCurvePrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = serialization.load_pem_private_key(self.pem.encode("ascii"), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
            raise ValueError(f"not an ECDSA {CURVES[CURVE.name]} private key")
        object.__setattr__(self, "private", key)

    @classmethod
    def generate(cls) -> WaczKey:
        return cls.of(ec.generate_private_key(CURVE))

    @classmethod
    def of(cls, key: ec.EllipticCurvePrivateKey) -> WaczKey:
        """KEY with its canonical PEM: two WaczKeys are equal when they are the same key."""
        return cls(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode("ascii"))

    def public_der(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def public_key_b64(self) -> str:
        """The public key as signedData.publicKey holds it."""
        return base64.b64encode(self.public_der()).decode("ascii")

    def public_key_pem(self) -> str:
        """The public key as `openssl` reads it (wacz.pub)."""
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def fingerprint(self) -> str:
        return fingerprint(self.public_key_b64())

    def sign(self, digest: str, created: str, software: str) -> dict[str, str]:
        """signedData for the datapackage digest DIGEST ("sha256:<hex>")."""
        r, s = decode_dss_signature(self.private.sign(digest.encode("utf-8"), _ECDSA))
        size = (self.private.curve.key_size + 7) // 8
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return {"hash": digest, "signature": base64.b64encode(raw).decode("ascii"),
                "publicKey": self.public_key_b64(), "created": created, "software": software}


def fingerprint(public_key_b64: str) -> str:
    """SHA-256 (hex) of a public key's DER bytes given in base64: a short name to compare keys
    by ("sha256:" and 64 hex digits; `openssl pkey -pubin -outform DER | sha256sum` gives it)."""
    try:
        der = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError):
        der = public_key_b64.encode("utf-8", "replace")
    return "sha256:" + hashlib.sha256(der).hexdigest()


def check_signature(signed: dict[str, Any]) -> tuple[bool, str | None, str | None]:
    """(signature_ok, the signer's public key in base64, why not) for a signedData object.
    Never raises: whatever is malformed is a reason."""
    sig_text = signed.get("signature")
    digest = signed.get("hash")
    if not isinstance(sig_text, str) or not isinstance(digest, str):
        return False, None, "signedData has no signature or no hash"
    public, why = _signer(signed)
    if public is None:
        return False, None, why
    key_b64 = base64.b64encode(public.public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)).decode("ascii")
    try:
        raw = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        return False, key_b64, "signedData.signature is not base64"
    size = (public.curve.key_size + 7) // 8
    forms = [raw]  # DER, as authsign writes it
    if len(raw) == 2 * size:  # raw r||s, as WebCrypto writes it (a DER signature may be as long)
        forms.insert(0, encode_dss_signature(int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")))
    for der in forms:
        try:
            public.verify(der, digest.encode("utf-8"), _ECDSA)
            return True, key_b64, None
        except (InvalidSignature, ValueError):
            continue
    return False, key_b64, "the signature does not match signedData.hash with signedData's key"


def _signer(signed: dict[str, Any]) -> tuple[ec.EllipticCurvePublicKey | None, str | None]:
    try:
        if isinstance(signed.get("publicKey"), str):
            key: Any = serialization.load_der_public_key(base64.b64decode(signed["publicKey"], validate=True))
        elif isinstance(signed.get("domainCert"), str):
            key = x509.load_pem_x509_certificate(signed["domainCert"].encode("ascii")).public_key()
        else:
            return None, "signedData has neither a publicKey nor a domainCert"
    except (binascii.Error, ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
        return None, "signedData's key is not a public key or certificate that can be read"
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        return None, f"signedData's key is not an ECDSA key on {', '.join(CURVES.values())}"
    return key, None


# -- the key on disk -----------------------------------------------------------------------

def _key_text(key: WaczKey) -> str:
    return ("# Refuge WACZ signing key (ECDSA P-384). SECRET: keep this file owner-only (0600).\n"
            f"# Public key fingerprint {key.fingerprint()}; the public key is in wacz.pub.\n" + key.pem)


def _parse_key(path: Path, text: str) -> WaczKey:
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise BadInput(f"{path}: corrupt signing key file (not an unencrypted PEM private key)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
        raise BadInput(f"{path}: corrupt signing key file (not an ECDSA {CURVES[CURVE.name]} private key)")
    return WaczKey.of(key)


WACZ_KEY = keyfiles.KeyKind(file=KEY_FILE, shared_name="wacz-signing-key", generate=WaczKey.generate,
                            text=_key_text, parse=_parse_key, describe=lambda key: f"key {key.fingerprint()}")


def wacz_key(settings: Settings, engine: Engine | None = None) -> WaczKey:
    """The key that signs WACZ packages: the cluster's in distributed mode (ENGINE needed),
    else this machine's own; wacz.pub is written beside it."""
    if settings.queue:
        if engine is None:
            raise ValueError("distributed mode: the cluster's key is in the catalog; give its engine")
        key = keyfiles.cluster_key(WACZ_KEY, settings.data, engine)
    else:
        key = keyfiles.load_or_create(WACZ_KEY, settings.data)
    keyfiles.write_public(keyfiles.key_dir(settings.data) / PUB_FILE, key.public_key_pem())
    return key


def own_public_key(data_dir: Path) -> str | None:
    """This machine's WACZ public key (base64 DER), read from DATA_DIR/keys/wacz.pub; None
    when there is none or it cannot be read (nothing is made: verifying is read-only)."""
    try:
        pem = (Path(data_dir) / keyfiles.KEY_DIR / PUB_FILE).read_bytes()[:keyfiles.MAX_KEY_FILE]
        key = serialization.load_pem_public_key(pem)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (OSError, ValueError, UnsupportedAlgorithm):
        return None
    return base64.b64encode(der).decode("ascii")
