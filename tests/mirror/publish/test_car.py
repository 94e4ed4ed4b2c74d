"""CAR bundles: a small site captured and published to the real IPFS node (js-ipfs), its
mirror written as a CAR, and that CAR imported into a second, fresh node that then serves
every exported file by the original CID through its gateway. The order and checking of
blocks are also tested on a made-up DAG whose "node" misbehaves (wrong bytes, another
order, an export that stops early)."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import tiny_site
from server_procs import StoreServerUnavailable
from servers import free_port, unavailable
from store_servers import INSTALL, start_ipfs_node

from refuge.archiver.capture import run_capture
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.config.store_settings import IpfsSettings
from refuge.config.targets import make_target
from refuge.formats.car import BadBlock, CarError, cid_text, encode_varint, read_sections
from refuge.mirror.publish.car import MAX_BLOCK, CarBundle, dag_blocks, write_car
from refuge.mirror.publish.publisher import export_dir, publish
from refuge.storage import catalog
from refuge.storage.stores.cid import bytes_cid, cid_bytes
from refuge.storage.stores.interface import StoreError, StoreUnavailable
from refuge.storage.stores.ipfs import IpfsStore

KM_PAGE = "<!doctype html><html lang='km'><head><meta charset='utf-8'><title>ព័ត៌មាន</title>" \
          "<link rel='stylesheet' href='/a.css'></head><body><h1>ទំព័រដើម</h1><img src='/photo.jpg' alt=''>" \
          "<a href='/km/a.html'>អត្ថបទ</a> <a href='/en/b.html'>English</a></body></html>"
ARTICLE = "<!doctype html><html lang='km'><head><meta charset='utf-8'><title>អត្ថបទ</title>" \
          "<link rel='stylesheet' href='/b.css'></head><body><p>ដីធ្លី និងជម្លោះ</p></body></html>"
CSS = b"body { font-family: sans-serif; }\n"  # twice, under two names: one block in the CAR


@pytest.fixture(scope="module")
def published(tmp_path_factory, ipfs_node) -> Iterator[dict]:
    """A four-page site with a photo of several IPFS chunks, captured and published to IPFS."""
    root = tmp_path_factory.mktemp("car")
    # The API as a multiaddr here (as in refuge.toml by default), as an http URL in the unreachable case.
    ipfs = IpfsSettings(api=ipfs_node.api_multiaddr, gateways=(ipfs_node.gateway_url,), subdomain_gateways=(),
                        mfs_root=f"/refuge-car-{uuid.uuid4().hex[:8]}", timeout=30.0)
    settings = Settings(data=root / "data", allow_private_networks=True, backoff=0.05, timeout=5.0, ipfs=ipfs)
    settings.data.mkdir()
    photo = random.Random(7).randbytes(700_000)  # three 256 KiB leaves under one file node
    routes = {
        "/": tiny_site.Route(KM_PAGE.encode()),
        "/km/a.html": tiny_site.Route(ARTICLE.encode()),
        "/en/b.html": tiny_site.Route(b"<!doctype html><title>English</title><p>Land dispute</p>"),
        "/a.css": tiny_site.Route(CSS, content_type="text/css"),
        "/b.css": tiny_site.Route(CSS, content_type="text/css"),
        "/photo.jpg": tiny_site.Route(photo, content_type="image/jpeg"),
    }
    engine = catalog.connect(settings.catalog_url)
    with tiny_site.serve(routes) as site:
        catalog.save_target(engine, make_target(site.url("/"), name="news", scope="host"))
        capture = run_capture(settings, engine, "news")
    report = publish(settings, engine, "news")
    assert report.ok, [c.error for c in report.channels]
    cid = report.channels[0].content
    yield {"settings": settings, "engine": engine, "cid": cid, "capture": capture["id"], "root": root,
           "export": export_dir(settings, "news"), "node": ipfs_node}


@pytest.fixture(scope="module")
def second_node(tmp_path_factory):
    """Another js-ipfs node with its own empty repository: it has never seen the mirror."""
    try:
        node = start_ipfs_node(tmp_path_factory.mktemp("ipfs-second"))
    except StoreServerUnavailable as exc:
        unavailable("IPFS node (js-ipfs)", str(exc), INSTALL)
        raise
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def bundle(published) -> CarBundle:
    return write_car(published["settings"], published["engine"], "news", published["root"] / "usb" / "news.car")


def _exported(published) -> dict[str, bytes]:
    root: Path = published["export"]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_car_has_the_published_cid_as_its_one_root_and_is_what_the_node_itself_exports(published,
                                                                                             bundle) -> None:
    data = bundle.path.read_bytes()
    root = cid_bytes(published["cid"])
    # The header by hand: varint(58), {"roots": [CID], "version": 1} in DAG-CBOR.
    assert data[0] == 58 and data[1:59] == (b"\xa2\x65roots\x81\xd8\x2a\x58\x25\x00" + root + b"\x67version\x01")
    assert bundle.root_cid == published["cid"] and bundle.capture_id == published["capture"]
    assert bundle.size == len(data) and bundle.sha256 == hashlib.sha256(data).hexdigest()
    sections = list(read_sections([data], MAX_BLOCK + 128))
    assert sections[0][0] == root and bundle.blocks == len(sections) == len({c for c, _ in sections})
    assert bundle.blocks >= len(_exported(published)) + 3  # the photo is a file node over several leaves
    # js-ipfs writes the same DAG depth-first too (with its own CAR encoder): the very same bytes.
    node = requests.post(f"{published['node'].api_url}/api/v0/dag/export", params={"arg": published["cid"]},
                         timeout=30)
    assert node.status_code == 200 and node.content == data
    assert [p.name for p in bundle.path.parent.iterdir()] == ["news.car"]  # no temporary file left
    assert bundle.as_dict()["path"] == str(bundle.path)


def test_a_fresh_node_imports_the_car_and_serves_every_page_by_the_original_cid(published, bundle,
                                                                                 second_node) -> None:
    cid = published["cid"]
    with open(bundle.path, "rb") as f:
        answer = requests.post(f"{second_node.api_url}/api/v0/dag/import", params={"pin-roots": "true"},
                               files={"file": ("news.car", f, "application/vnd.ipld.car")}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Root"] == {"Cid": {"/": cid}, "PinErrorMsg": ""}
    files = _exported(published)
    assert {"index.html", "a.css", "b.css", "photo.jpg"} <= {p.rsplit("/", 1)[-1] for p in files}
    for path, body in files.items():
        served = requests.get(f"{second_node.gateway_url}/ipfs/{cid}/{quote(path)}", timeout=30)
        assert served.status_code == 200, path
        assert served.content == body, path
    front = requests.get(f"{second_node.gateway_url}/ipfs/{cid}/index.html", timeout=30)
    assert front.content == files["index.html"]


def test_block_by_block_from_the_node_gives_the_same_blocks(published, bundle) -> None:
    """The path taken when a node's export does not come depth-first: block/get for each block."""
    store = IpfsStore(published["settings"].ipfs)
    fetched = list(dag_blocks(cid_bytes(published["cid"]), iter(()),
                              lambda cid: store.get_block(cid_text(cid), MAX_BLOCK)))
    assert fetched == list(read_sections([bundle.path.read_bytes()], MAX_BLOCK + 128))


def test_the_capture_asked_for_gives_its_mirror(published, tmp_path) -> None:
    again = write_car(published["settings"], published["engine"], "news", tmp_path / "c.CAR", published["capture"])
    assert again.root_cid == published["cid"] and again.capture_id == published["capture"]


def test_no_ipfs_mirror_is_a_one_line_error_that_says_to_publish(published, tmp_path) -> None:
    settings, engine = published["settings"], published["engine"]
    with pytest.raises(BadInput, match=r"capture 'nope' of target 'news': no mirror published to IPFS; "
                                       r"run `refuge publish news --capture nope`"):
        write_car(settings, engine, "news", tmp_path / "x.car", "nope")
    catalog.save_target(engine, make_target("http://127.0.0.1:9/", name="never", scope="host"))
    with pytest.raises(BadInput, match=r"target 'never': no mirror published to IPFS; run `refuge publish never`"):
        write_car(settings, engine, "never", tmp_path / "x.car")
    with pytest.raises(BadInput, match="no such target"):
        write_car(settings, engine, "ghost", tmp_path / "x.car")
    with pytest.raises(BadInput, match=r"must end in \.car"):
        write_car(settings, engine, "news", tmp_path / "x.zip")
    with pytest.raises(BadInput, match="no \\[ipfs\\] store is configured"):
        write_car(settings.replace(ipfs=None), engine, "news", tmp_path / "x.car")
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_node_is_named_without_its_credentials(published, tmp_path) -> None:
    settings = published["settings"]
    gone = IpfsSettings(api=f"http://admin:s3cret@127.0.0.1:{free_port()}", gateways=(), subdomain_gateways=(),
                        timeout=5.0)
    with pytest.raises(StoreUnavailable) as caught:
        write_car(settings.replace(ipfs=gone), published["engine"], "news", tmp_path / "x.car")
    message = str(caught.value)
    assert "cannot reach" in message and "127.0.0.1" in message and "s3cret" not in message
    assert "\n" not in message and list(tmp_path.iterdir()) == []


def test_a_mirror_the_node_no_longer_pins_is_refused_and_the_old_file_stays(published, tmp_path) -> None:
    out = tmp_path / "keep.car"
    out.write_bytes(b"the copy made last week")
    api, cid = published["node"].api_url, published["cid"]
    assert requests.post(f"{api}/api/v0/pin/rm", params={"arg": cid}, timeout=30).status_code == 200
    try:
        with pytest.raises(StoreError, match=f"mirror {cid} of news .* is not pinned"):
            write_car(published["settings"], published["engine"], "news", out)
    finally:
        assert requests.post(f"{api}/api/v0/pin/add", params={"arg": cid}, timeout=30).status_code == 200
    assert out.read_bytes() == b"the copy made last week" and [p.name for p in tmp_path.iterdir()] == ["keep.car"]


def test_a_node_that_serves_a_damaged_block_fails_the_bundle_naming_that_block(published, tmp_path) -> None:
    """The node's own disk damaged under it (js-ipfs serves a block file as it finds it)."""
    page = next(body for path, body in _exported(published).items() if path.endswith("en/b.html"))
    stored = next(p for p in (published["node"].repo / "blocks").rglob("*.data") if p.read_bytes() == page)
    try:
        stored.write_bytes(page.replace(b"Land dispute", b"Land dispute!"))
        with pytest.raises(StoreError) as caught:
            write_car(published["settings"], published["engine"], "news", tmp_path / "news.car")
    finally:
        stored.write_bytes(page)
    message = str(caught.value)
    assert f"block {bytes_cid(page)}: its bytes do not hash to its CID" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


# -- the order and the checks, on a made-up DAG (the "node" here is a dict that may lie) --------

def _raw(data: bytes) -> tuple[bytes, bytes]:
    return b"\x01\x55\x12\x20" + hashlib.sha256(data).digest(), data


def _dir(*children: bytes) -> tuple[bytes, bytes]:
    """A dag-pb node linking to CHILDREN in order (PBLink: Hash, Name; then Data: a UnixFS folder)."""
    def field(n: int, payload: bytes) -> bytes:
        return encode_varint(n << 3 | 2) + encode_varint(len(payload)) + payload
    block = b"".join(field(2, field(1, c) + field(2, f"n{i}".encode())) for i, c in enumerate(children))
    block += field(1, b"\x08\x01")
    return b"\x01\x70\x12\x20" + hashlib.sha256(block).digest(), block


LEAF_A, LEAF_B = _raw(b"a" * 10), _raw(b"b" * 10)
FOLDER = _dir(LEAF_A[0], LEAF_B[0], LEAF_A[0])  # the same file twice, under two names
ROOT = _dir(FOLDER[0], LEAF_B[0])
DEPTH_FIRST = [ROOT, FOLDER, LEAF_A, LEAF_B]
NODE = dict(DEPTH_FIRST)


class Fetch:
    def __init__(self, blocks: dict[bytes, bytes]) -> None:
        self.blocks, self.asked = blocks, []

    def __call__(self, cid: bytes) -> bytes:
        self.asked.append(cid)
        return self.blocks[cid]


@pytest.mark.parametrize("exported", [DEPTH_FIRST, [ROOT, FOLDER, LEAF_A, LEAF_A, LEAF_B, LEAF_A]],
                         ids=["depth-first", "with-repeats"])
def test_an_export_in_depth_first_order_passes_straight_through_each_block_once(exported) -> None:
    fetch = Fetch(NODE)
    assert list(dag_blocks(ROOT[0], iter(exported), fetch)) == DEPTH_FIRST
    assert fetch.asked == []


@pytest.mark.parametrize(("exported", "fetched"), [
    ([ROOT, LEAF_B, FOLDER, LEAF_A], [FOLDER, LEAF_A, LEAF_B]),
    ([ROOT, FOLDER], [LEAF_A, LEAF_B]),
    ([], DEPTH_FIRST),
], ids=["another-order", "stops-early", "nothing"])
def test_otherwise_the_rest_comes_block_by_block_and_the_file_is_the_same(exported, fetched) -> None:
    fetch = Fetch(NODE)
    assert list(dag_blocks(ROOT[0], iter(exported), fetch)) == DEPTH_FIRST
    assert fetch.asked == [c for c, _ in fetched]


def test_a_block_whose_bytes_do_not_match_its_cid_fails_naming_it() -> None:
    lying = [ROOT, FOLDER, (LEAF_A[0], b"a" * 9 + b"!"), LEAF_B]
    with pytest.raises(BadBlock, match=cid_text(LEAF_A[0])):
        list(dag_blocks(ROOT[0], iter(lying), Fetch(NODE)))
    with pytest.raises(BadBlock, match=cid_text(FOLDER[0])):
        list(dag_blocks(ROOT[0], iter([ROOT]), Fetch({**NODE, FOLDER[0]: ROOT[1]})))


def test_a_block_over_the_limit_is_refused() -> None:
    big = _raw(b"x" * (MAX_BLOCK + 1))
    with pytest.raises(CarError, match="over the limit"):
        list(dag_blocks(big[0], iter([big]), Fetch({})))
