"""CAR v1 encoding and decoding (refuge.formats.car) against bytes worked out by hand from
the CARv1 and DAG-CBOR specifications, and against blocks a real node (js-ipfs 0.66.1)
made; the real node's own CAR is compared in tests/mirror/publish/test_car.py."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refuge.formats.car import (
    BadBlock,
    CarError,
    check_block,
    cid_text,
    dag_pb_links,
    encode_header,
    read_sections,
    section_head,
)

HELLO = b"hello world\n"
# What a node gives HELLO added with --cid-version=1 --raw-leaves (docs/testing notes, and Kubo).
HELLO_CID_TEXT = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
HELLO_CID = b"\x01\x55\x12\x20" + hashlib.sha256(HELLO).digest()  # CIDv1, raw, sha2-256, 32 bytes

# The whole CAR of that one block, by hand from the specifications:
KNOWN_CAR = bytes.fromhex(
    "3a"                          # header length: 58
    "a2"                          # CBOR map of 2 (DAG-CBOR: shorter key first)
    "65" "726f6f7473"             # text(5) "roots"
    "81"                          # array of 1
    "d82a"                        # tag 42 (CID)
    "5825" "00"                   # bytes(37): the multibase identity prefix,
    "01551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"  # then the CID
    "67" "76657273696f6e"         # text(7) "version"
    "01"                          # 1
    "30"                          # section length: 36-byte CID + 12 bytes
    "01551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
    "68656c6c6f20776f726c640a"    # "hello world\n"
)

# A directory block js-ipfs made (`index.html` = "hello\n" raw, `sub` = a folder), its CID and links.
DIR_BLOCK = bytes.fromhex(
    "12340a24015512205891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03120a696e6465782e68746d6c"
    "1806122f0a2401701220be7f29eb64f173357cda9451f2d3ff395e312e5fdb1c54578e8e9e5dfb57e860120373756218d9d1240a"
    "020801")
DIR_CID = "bafybeiajai7b6lxtivcv2baopyv4uwez4cdpy2xbmztr7lf3xqqkziz2em"
DIR_LINKS = ["bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am",
             "bafybeif6p4u6wzhrom2xzwuukhznh7zzlyys4x63drkfpduotzo7wv7ima"]


def _binary(text: str) -> bytes:
    body = text[1:].upper()
    return base64.b32decode(body + "=" * (-len(body) % 8))


def test_a_one_block_car_is_byte_for_byte_the_one_worked_out_from_the_specification() -> None:
    assert cid_text(HELLO_CID) == HELLO_CID_TEXT
    car = encode_header(HELLO_CID) + section_head(HELLO_CID, len(HELLO)) + HELLO
    assert car == KNOWN_CAR


def test_the_known_car_reads_back_as_its_one_block_from_pieces_of_any_size() -> None:
    for size in (1, 2, 7, len(KNOWN_CAR)):
        pieces = [KNOWN_CAR[i:i + size] for i in range(0, len(KNOWN_CAR), size)]
        assert list(read_sections(pieces, 1024)) == [(HELLO_CID, HELLO)]


def test_a_block_is_checked_against_its_cid_and_a_wrong_one_is_named() -> None:
    assert check_block(HELLO_CID, HELLO).codec == 0x55
    with pytest.raises(BadBlock, match=HELLO_CID_TEXT) as caught:
        check_block(HELLO_CID, b"hello world!")
    assert caught.value.cid == HELLO_CID and "\n" not in str(caught.value)


def test_the_links_of_a_directory_js_ipfs_made_are_read_in_order() -> None:
    check_block(_binary(DIR_CID), DIR_BLOCK)  # the block is what its CID says
    assert [cid_text(c) for c in dag_pb_links(DIR_BLOCK)] == DIR_LINKS


def test_a_cidv0_and_its_cidv1_are_one_block() -> None:
    digest = hashlib.sha256(DIR_BLOCK).digest()
    v0 = b"\x12\x20" + digest
    assert cid_text(v0) == DIR_CID
    check_block(v0, DIR_BLOCK)


def test_a_section_claiming_more_than_the_limit_is_refused_before_anything_is_buffered() -> None:
    header = encode_header(HELLO_CID)
    huge = bytes.fromhex("80808080 10")  # a varint of 4 GiB, and nothing after it
    with pytest.raises(CarError, match="over the limit of 1024"):
        list(read_sections([header, huge], 1024))


@pytest.mark.parametrize("cut", [1, 30, 58, 60, 70, len(KNOWN_CAR) - 1])  # 59: a header and no block, which is whole
def test_a_stream_that_stops_early_is_an_error(cut: int) -> None:
    with pytest.raises(CarError):
        list(read_sections([KNOWN_CAR[:cut]], 1024))


@pytest.mark.parametrize("block", [b"\x12\x05abc", b"\x0a\x02\x08", b"\x13", b"\x12\x02\x0a\x00"])
def test_malformed_dag_pb_is_a_one_line_error(block: bytes) -> None:
    with pytest.raises(CarError):
        dag_pb_links(block)


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6), st.integers(1, 64))
def test_sections_read_back_whatever_the_pieces(blocks: list[bytes], piece: int) -> None:
    cids = [b"\x01\x55\x12\x20" + hashlib.sha256(b).digest() for b in blocks]
    car = encode_header(cids[0]) + b"".join(section_head(c, len(b)) + b for c, b in zip(cids, blocks))
    got = list(read_sections((car[i:i + piece] for i in range(0, len(car), piece)), 1024))
    assert got == list(zip(cids, blocks))
