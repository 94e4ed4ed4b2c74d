"""The mirror list's minisign-format signatures, checked against the real `minisign` both ways.

Our signatures must verify with `minisign -V` (and `-V -H`, prehashed only), a changed
byte must fail it, and our verify() must accept what `minisign -S` makes. The key pair
lives under the data directory, owner-only, and is created once even by racing processes.
"""

from __future__ import annotations

import base64
import hashlib
import multiprocessing
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from servers import INSTALL_HINT, unavailable

from refuge.config.errors import BadInput, Failure
from refuge.mirror.publish import signing
from refuge.mirror.publish.signing import BadSignature, SigningKey, verify
from refuge.mirror.publish.signing_key import load_or_create_key

MIRRORS = b'{"mirrors": [{"url": "https://mirror.example/", "kind": "https"}]}\n'
COMMENT = "timestamp:1700000000\tfile:mirrors.json\thashed"


@pytest.fixture
def minisign() -> str:
    path = shutil.which("minisign")
    if path is None:
        unavailable("minisign", "not on PATH", f"{INSTALL_HINT}; it does `apt-get install -y minisign`")
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=False, cwd=cwd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def signed_files(tmp_path: Path, key: SigningKey, data: bytes, comment: str = COMMENT) -> Path:
    (tmp_path / "mirrors.json").write_bytes(data)
    (tmp_path / "mirrors.json.minisig").write_text(key.sign(data, comment), encoding="utf-8", newline="")
    (tmp_path / "refuge.pub").write_text(key.public_key_file(), encoding="ascii", newline="")
    return tmp_path / "mirrors.json"


# -- our signatures, minisign verifies ---------------------------------------------------

@pytest.mark.parametrize("data", [MIRRORS, b"", os.urandom(200_000)], ids=["json", "empty", "200k"])
def test_minisign_verifies_our_signature(tmp_path, minisign, data) -> None:
    key = load_or_create_key(tmp_path / "data")
    signed_files(tmp_path, key, data)
    with_file = run(minisign, "-Vm", "mirrors.json", "-p", "refuge.pub", cwd=tmp_path)
    assert with_file.returncode == 0, with_file.stderr
    assert f"Trusted comment: {COMMENT}" in with_file.stdout
    # -H: prehashed signatures only; -P: the base64 line alone; -Q: print only the comment.
    inline = run(minisign, "-V", "-H", "-Q", "-m", "mirrors.json", "-P", key.public_key_b64(), cwd=tmp_path)
    assert inline.returncode == 0, inline.stderr
    assert inline.stdout == COMMENT + "\n"
    assert verify(key.public_key_file(), data, (tmp_path / "mirrors.json.minisig").read_text()) == COMMENT


def test_minisign_rejects_a_flipped_byte(tmp_path, minisign) -> None:
    key = load_or_create_key(tmp_path / "data")
    path = signed_files(tmp_path, key, MIRRORS)
    for i in (0, len(MIRRORS) // 2, len(MIRRORS) - 1):
        flipped = bytearray(MIRRORS)
        flipped[i] ^= 0x01
        path.write_bytes(bytes(flipped))
        result = run(minisign, "-Vm", "mirrors.json", "-p", "refuge.pub", cwd=tmp_path)
        assert result.returncode != 0
        assert "Signature verification failed" in result.stderr
        with pytest.raises(BadSignature, match="^bad signature"):
            verify(key.public_key_file(), bytes(flipped), (tmp_path / "mirrors.json.minisig").read_text())


def test_minisign_rejects_an_edited_trusted_comment(tmp_path, minisign) -> None:
    key = load_or_create_key(tmp_path / "data")
    signed_files(tmp_path, key, MIRRORS)
    sig = tmp_path / "mirrors.json.minisig"
    edited = sig.read_text().replace("timestamp:1700000000", "timestamp:1900000000")
    sig.write_text(edited)
    result = run(minisign, "-Vm", "mirrors.json", "-p", "refuge.pub", cwd=tmp_path)
    assert result.returncode != 0 and "Comment signature verification failed" in result.stderr
    with pytest.raises(BadSignature, match="^bad global signature"):
        verify(key.public_key_file(), MIRRORS, edited)
    # The untrusted comment is free to change, for both.
    lines = key.sign(MIRRORS, COMMENT).split("\n")
    lines[0] = "untrusted comment: anything at all"
    sig.write_text("\n".join(lines))
    assert run(minisign, "-Vm", "mirrors.json", "-p", "refuge.pub", cwd=tmp_path).returncode == 0
    assert verify(key.public_key_file(), MIRRORS, "\n".join(lines)) == COMMENT


def test_key_id_as_minisign_prints_it(tmp_path, minisign) -> None:
    """Our key id display matches minisign's (the 8 bytes little-endian, %016X)."""
    key = SigningKey(key_id=bytes.fromhex("0102030405060708"), seed=bytes(32))
    assert key.key_id_hex == "0807060504030201"
    assert key.public_key_file().split("\n")[0] == "untrusted comment: minisign public key 0807060504030201"
    other = SigningKey.generate()
    signed_files(tmp_path, key, MIRRORS)
    (tmp_path / "other.pub").write_text(other.public_key_file())
    result = run(minisign, "-Vm", "mirrors.json", "-p", "other.pub", cwd=tmp_path)
    assert result.returncode != 0
    # minisign 0.11 prints these with %PRIX64 (no zero padding); later versions with %016.
    printed = re.search(r"key id in mirrors.json.minisig is ([0-9A-F]+)\nbut the key id in the public key "
                        r"is ([0-9A-F]+)", result.stderr)
    assert printed, result.stderr
    assert int(printed[1], 16) == int(key.key_id_hex, 16)
    assert int(printed[2], 16) == int(other.key_id_hex, 16)
    with pytest.raises(BadSignature, match=f"^wrong key id: signed by key {key.key_id_hex}, "
                                           f"the public key is {other.key_id_hex}$"):
        verify(other.public_key_file(), MIRRORS, key.sign(MIRRORS, COMMENT))


def test_longest_and_non_ascii_trusted_comments(tmp_path, minisign) -> None:
    key = load_or_create_key(tmp_path / "data")
    for comment in ["កញ្ចក់ mirrors ✓", "x" * signing.TRUSTED_COMMENT_MAX, ""]:
        signed_files(tmp_path, key, MIRRORS, comment)
        result = subprocess.run([minisign, "-VQm", "mirrors.json", "-p", "refuge.pub"], check=False, cwd=tmp_path,
                                capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode("utf-8") == comment + "\n"
        assert verify(key.public_key_file(), MIRRORS, (tmp_path / "mirrors.json.minisig").read_text()) == comment
    with pytest.raises(BadInput, match="^trusted comment: .* over minisign's limit"):
        key.sign(MIRRORS, "x" * (signing.TRUSTED_COMMENT_MAX + 1))
    for bad in ["two\nlines", "cr\rhere", "nul\0"]:
        with pytest.raises(BadInput, match="^trusted comment .*must be one line"):
            key.sign(MIRRORS, bad)


def as_minisign_secret_key(key: SigningKey) -> str:
    """``key`` as an unencrypted minisign secret key file (test only: refuge never writes one).

    "Ed" || kdf "\\0\\0" (none) || "B2" || salt[32] || opslimit[8] || memlimit[8] ||
    key id[8] || seed+public key[64] || BLAKE2b-256("Ed" || key id || seed+public key).
    """
    sk = key.seed + key.public_key
    chk = hashlib.blake2b(b"Ed" + key.key_id + sk, digest_size=32).digest()
    blob = b"Ed" + b"\0\0" + b"B2" + bytes(32 + 8 + 8) + key.key_id + sk + chk
    return "untrusted comment: test key\n" + base64.b64encode(blob).decode("ascii") + "\n"


def test_minisign_with_our_key_signs_byte_for_byte_as_we_do(tmp_path, minisign) -> None:
    """Same key, data and trusted comment: minisign -S writes exactly our two signature lines,
    and minisign -R recreates exactly our public key line."""
    key = SigningKey(key_id=bytes.fromhex("0102030405060708"), seed=bytes(range(32)))
    (tmp_path / "k.key").write_text(as_minisign_secret_key(key))
    os.chmod(tmp_path / "k.key", 0o600)
    recreated = run(minisign, "-R", "-s", "k.key", "-p", "k.pub", cwd=tmp_path)
    assert recreated.returncode == 0, recreated.stderr
    assert (tmp_path / "k.pub").read_text().split("\n")[1] == key.public_key_b64()
    for data in (MIRRORS, b"", os.urandom(100_000)):
        (tmp_path / "f").write_bytes(data)
        signed = run(minisign, "-S", "-s", "k.key", "-m", "f", "-t", COMMENT, cwd=tmp_path)
        assert signed.returncode == 0, signed.stderr
        theirs = (tmp_path / "f.minisig").read_text().split("\n")
        ours = key.sign(data, COMMENT).split("\n")
        assert theirs[1:] == ours[1:]


# -- minisign's signatures, we verify ----------------------------------------------------

@pytest.fixture
def minisign_key(tmp_path, minisign) -> tuple[Path, Path]:
    """An unencrypted key pair made by `minisign -G -W` (no password prompt)."""
    made = run(minisign, "-G", "-W", "-p", "m.pub", "-s", "m.key", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    return tmp_path / "m.pub", tmp_path / "m.key"


def test_we_verify_what_minisign_signs(tmp_path, minisign, minisign_key) -> None:
    pub, sec = minisign_key
    for data in (MIRRORS, b"", os.urandom(150_000)):
        (tmp_path / "f").write_bytes(data)
        signed = run(minisign, "-S", "-s", str(sec), "-m", "f", "-t", "from minisign", cwd=tmp_path)
        assert signed.returncode == 0, signed.stderr
        minisig = (tmp_path / "f.minisig").read_text()
        assert verify(pub.read_text(), data, minisig) == "from minisign"
        assert verify(pub.read_text().split("\n")[1], data, minisig) == "from minisign"  # base64 line alone
        with pytest.raises(BadSignature, match="^bad signature"):
            verify(pub.read_text(), data + b"!", minisig)
    # minisign's default trusted comment: timestamp, file name, "hashed".
    assert run(minisign, "-S", "-s", str(sec), "-m", "f", cwd=tmp_path).returncode == 0
    comment = verify(pub.read_text(), (tmp_path / "f").read_bytes(), (tmp_path / "f.minisig").read_text())
    assert re.fullmatch(r"timestamp:\d+\tfile:f\thashed", comment)


def test_legacy_signature_refused(tmp_path, minisign, minisign_key) -> None:
    pub, sec = minisign_key
    (tmp_path / "f").write_bytes(MIRRORS)
    assert run(minisign, "-S", "-l", "-s", str(sec), "-m", "f", "-t", "old", cwd=tmp_path).returncode == 0
    minisig = (tmp_path / "f.minisig").read_text()
    assert run(minisign, "-Vm", "f", "-p", str(pub), cwd=tmp_path).returncode == 0  # minisign allows it without -H
    assert run(minisign, "-VHm", "f", "-p", str(pub), cwd=tmp_path).returncode != 0
    with pytest.raises(BadSignature, match="^legacy"):
        verify(pub.read_text(), MIRRORS, minisig)


# -- verify(): malformed input -----------------------------------------------------------

def test_malformed_signatures_are_one_line_bad_signatures() -> None:
    key = SigningKey.generate()
    good = key.sign(MIRRORS, COMMENT)
    lines = good.split("\n")
    cases = {
        "": "fewer than four lines",
        "\n".join(lines[:3]): "fewer than four lines",
        good + "extra\n": "text after",
        "\n".join(["comment: x", *lines[1:]]): "first line",
        "\n".join([lines[0], lines[1][:-4], *lines[2:]]): "second line",
        "\n".join([lines[0], "!!!", *lines[2:]]): "second line",
        "\n".join([*lines[:2], "comment: x", *lines[3:]]): "third line",
        "\n".join([*lines[:3], lines[3][:-4], ""]): "fourth line",
    }
    for text, reason in cases.items():
        with pytest.raises(BadSignature) as caught:
            verify(key.public_key_file(), MIRRORS, text)
        message = str(caught.value)
        assert message.startswith("malformed signature") and reason in message and "\n" not in message
    assert issubclass(BadSignature, Failure)
    assert verify(key.public_key_file(), MIRRORS, good.replace("\n", "\r\n")) == COMMENT  # CRLF as minisign trims it


def test_malformed_public_key_is_bad_input() -> None:
    key = SigningKey.generate()
    sig = key.sign(MIRRORS, COMMENT)
    for text in ["", "not base64!", key.public_key_b64()[:-4], "a\nb\nc",
                 key.public_key_file().replace("RW", "RX", 1)]:
        with pytest.raises(BadInput, match="^public key") as caught:
            verify(text, MIRRORS, sig)
        assert "\n" not in str(caught.value)


def test_signing_is_deterministic_and_repr_hides_the_seed() -> None:
    key = SigningKey.generate()
    assert key.sign(MIRRORS, COMMENT) == key.sign(MIRRORS, COMMENT)
    assert key.sign(MIRRORS, COMMENT) != key.sign(MIRRORS + b" ", COMMENT)
    assert key.seed.hex() not in repr(key) and signing.b64(key.seed) not in repr(key)
    assert SigningKey(key.key_id, key.seed) == key


# -- the key pair under the data directory -----------------------------------------------

def test_key_created_owner_only_and_reused(tmp_path) -> None:
    data = tmp_path / "data"
    key = load_or_create_key(data)
    keys = data / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "mirrors.key").stat().st_mode) == 0o600
    assert (keys / "mirrors.pub").read_text() == key.public_key_file()
    assert sorted(p.name for p in keys.iterdir()) == ["mirrors.key", "mirrors.pub"]  # no temp files left
    text = (keys / "mirrors.key").read_text()
    assert "Not a minisign secret key file" in text and signing.b64(key.seed) in text
    assert load_or_create_key(data) == key
    # A missing or altered public key file is rewritten from the key.
    (keys / "mirrors.pub").unlink()
    assert load_or_create_key(data) == key and (keys / "mirrors.pub").read_text() == key.public_key_file()
    (keys / "mirrors.pub").write_text("junk")
    assert load_or_create_key(data) == key and (keys / "mirrors.pub").read_text() == key.public_key_file()


def test_key_created_under_a_restrictive_or_lax_umask(tmp_path) -> None:
    old = os.umask(0o000)
    try:
        load_or_create_key(tmp_path / "lax")
    finally:
        os.umask(old)
    keys = tmp_path / "lax" / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "mirrors.key").stat().st_mode) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620])
def test_key_open_to_others_is_refused(tmp_path, mode) -> None:
    load_or_create_key(tmp_path)
    key_file = tmp_path / "keys" / "mirrors.key"
    os.chmod(key_file, mode)
    with pytest.raises(BadInput) as caught:
        load_or_create_key(tmp_path)
    message = str(caught.value)
    assert message.startswith(str(key_file)) and "group or others" in message and "\n" not in message


@pytest.mark.parametrize("damage", ["truncate", "seed", "garbage", "binary", "directory", "swap-public"])
def test_corrupt_or_unreadable_key_is_refused(tmp_path, damage) -> None:
    key = load_or_create_key(tmp_path)
    key_file = tmp_path / "keys" / "mirrors.key"
    text = key_file.read_text()
    if damage == "truncate":
        key_file.write_text(text[: len(text) // 2])
    elif damage == "seed":
        key_file.write_text(text.replace(signing.b64(key.seed), signing.b64(bytes(32))))
    elif damage == "garbage":
        key_file.write_text("hello\n")
    elif damage == "binary":
        key_file.write_bytes(b"\xff\xfe" * 10)
    elif damage == "directory":  # unreadable as a file even for root
        key_file.unlink()
        key_file.mkdir()
    elif damage == "swap-public":
        key_file.write_text(text.replace(key.public_key_b64(), SigningKey.generate().public_key_b64()))
    with pytest.raises(BadInput) as caught:
        load_or_create_key(tmp_path)
    message = str(caught.value)
    assert message.startswith(str(key_file)) and "\n" not in message
    assert ("corrupt" in message) or ("cannot read" in message)


def _race_worker(args: tuple[str, object]) -> str:
    data_dir, barrier = args
    barrier.wait()
    return load_or_create_key(Path(data_dir)).public_key_b64()


def test_racing_processes_agree_on_one_key(tmp_path) -> None:
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    workers = 8
    for round_ in range(5):
        data = tmp_path / f"round{round_}"
        with ctx.Manager() as manager:
            barrier = manager.Barrier(workers)
            with ctx.Pool(workers) as pool:
                keys = pool.map(_race_worker, [(str(data), barrier)] * workers)
        assert len(set(keys)) == 1
        assert load_or_create_key(data).public_key_b64() == keys[0]
        assert sorted(p.name for p in (data / "keys").iterdir()) == ["mirrors.key", "mirrors.pub"]
