"""Publishing a static mirror tree to a real S3 service (Swift + s3api) and a real IPFS node
(js-ipfs): what a reader of the mirror and the operator who publishes it see."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from refuge.config.store_settings import IpfsSettings, S3Settings
from refuge.mirror.publish import upload_s3
from refuge.mirror.publish.tree import (
    LONG_CACHE,
    SHORT_CACHE,
    TreeFile,
    cache_control_for,
    content_type_for,
    tree_files,
)
from refuge.mirror.publish.upload_ipfs import add_tree_to_ipfs, ipfs_mirror_urls, ipfs_pinned
from refuge.mirror.publish.upload_s3 import public_read_problem, s3_index_url, s3_mirror_url, sync_to_s3
from refuge.storage.stores.cid import as_cidv1, same_cid
from refuge.storage.stores.interface import StoreError, StoreUnavailable
from replica_helpers import iter_keys, use_credentials

PREFIX = "archive/mirrors/site/"
KHMER_PAGE = "km/ទំព័រដើម.html"
SPACED = "docs/a file.txt"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x1f\x15\xc4\x89" * 8


def _tree(root: Path) -> Path:
    files = {
        "index.html": '<html lang="km"><link href="style.css" rel="stylesheet"><a href="km/">ព័ត៌មាន</a></html>',
        "style.css": "body { font-family: 'Noto Sans Khmer'; }",
        "img/logo.png": PNG,
        KHMER_PAGE: "<p>សួស្តី ពិភពលោក</p>",
        SPACED: "plain text",
        "km/index.html": '<a href="ទំព័រដើម.html">ទំព័រដើម</a>',
        "mirrors.json": '{"mirrors": []}',
    }
    for path, body in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        (root / path).write_bytes(data)
    return root


@pytest.fixture
def s3(s3_server, s3_bucket, monkeypatch, tmp_path) -> S3Settings:
    use_credentials(monkeypatch, s3_server, tmp_path)
    return S3Settings(bucket=s3_bucket, endpoint_url=s3_server.endpoint_url, prefix="archive/",
                      region=s3_server.region, timeout=10.0,
                      public_base_url=f"{s3_server.endpoint_url}/v1/AUTH_test/{s3_bucket}")


@pytest.fixture
def ipfs(ipfs_node) -> IpfsSettings:
    return IpfsSettings(api=ipfs_node.api_multiaddr, gateways=(), mfs_root="/unused", timeout=30.0)


def _with(settings: Any, **changes: Any) -> Any:
    return settings.__class__(**{**settings.__dict__, **changes})


# -- S3 ------------------------------------------------------------------------------------


def test_sync_puts_every_file_with_its_headers_then_uploads_only_what_changed(
        s3, s3_server, s3_bucket, tmp_path, monkeypatch) -> None:
    root = _tree(tmp_path / "tree")
    files = tree_files(root)
    client = s3_server.client()
    # Neighbours that a sync of PREFIX must never touch.
    for key in ("archive/mirrors/site-2/index.html", "archive/news/c1/a.warc.gz", "other/x"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"keep")

    order: list[str] = []  # paths, in the order their uploads began

    class Recording(upload_s3.S3Store):
        def put_bytes(self, key: str, data: bytes, extra: dict[str, Any]) -> None:
            order.append(key.removeprefix(PREFIX))
            super().put_bytes(key, data, extra)

        def put_file(self, key: str, source: Path, extra: dict[str, Any], **kwargs: Any) -> None:
            order.append(key.removeprefix(PREFIX))
            super().put_file(key, source, extra, **kwargs)

    monkeypatch.setattr(upload_s3, "S3Store", Recording)
    first = sync_to_s3(s3, files, PREFIX)
    assert first.uploaded == sorted(f.path for f in files) and first.unchanged == [] and first.deleted == []
    assert first.bytes_uploaded == sum(f.size for f in files)
    # Assets before pages, pages before index pages, the front page last.
    assert set(order[:4]) == {"style.css", "img/logo.png", SPACED, "mirrors.json"}
    assert order[4:] == [KHMER_PAGE, "km/index.html", "index.html"]

    for f in files:
        obj = client.get_object(Bucket=s3_bucket, Key=PREFIX + f.path)
        body = obj["Body"].read()
        assert body == (root / f.path).read_bytes(), f.path
        assert obj["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest() == f.sha256
        assert obj["ContentType"] == f.content_type and obj["CacheControl"] == f.cache_control
    heads = {f.path: client.head_object(Bucket=s3_bucket, Key=PREFIX + f.path) for f in files}
    assert heads["index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert heads[KHMER_PAGE]["CacheControl"] == SHORT_CACHE == heads["mirrors.json"]["CacheControl"]
    assert heads["img/logo.png"]["ContentType"] == "image/png" and heads["img/logo.png"]["CacheControl"] == LONG_CACHE
    assert heads["style.css"]["ContentType"] == "text/css; charset=utf-8"

    before = {o["Key"]: o["LastModified"] for o in iter_keys(client, s3_bucket, "")}
    again = sync_to_s3(s3, tree_files(root), PREFIX)
    assert again.uploaded == [] and again.deleted == [] and again.bytes_uploaded == 0
    assert again.unchanged == sorted(f.path for f in files)
    assert {o["Key"]: o["LastModified"] for o in iter_keys(client, s3_bucket, "")} == before

    (root / "style.css").write_text("body { color: #333; }")
    (root / SPACED).unlink()
    third = sync_to_s3(s3, tree_files(root), PREFIX)
    assert third.uploaded == ["style.css"] and third.deleted == [PREFIX + SPACED]
    assert third.bytes_uploaded == (root / "style.css").stat().st_size
    keys = {o["Key"] for o in iter_keys(client, s3_bucket, "")}
    assert keys == ({PREFIX + f.path for f in files} - {PREFIX + SPACED}) | {
        "archive/mirrors/site-2/index.html", "archive/news/c1/a.warc.gz", "other/x"}
    body = client.get_object(Bucket=s3_bucket, Key=PREFIX + "style.css")["Body"].read()
    assert body == b"body { color: #333; }"


def test_header_changes_need_recheck_and_big_files_go_up_in_parts(s3, s3_server, s3_bucket, tmp_path) -> None:
    root = _tree(tmp_path / "tree")
    (root / "video.bin").write_bytes(hashlib.sha256(b"x").digest() * (5 * 1024 * 1024 // 32 + 1))
    settings = _with(s3, part_size=5 * 1024 * 1024, concurrency=2)
    files = tree_files(root)
    assert sync_to_s3(settings, files, PREFIX).uploaded == sorted(f.path for f in files)
    client = s3_server.client()
    head = client.head_object(Bucket=s3_bucket, Key=PREFIX + "video.bin")
    assert "-" in head["ETag"] and head["Metadata"]["sha256"] == hashlib.sha256(
        (root / "video.bin").read_bytes()).hexdigest()
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    # A multipart ETag is no MD5: the sha256 metadata says it is the same file.
    assert sync_to_s3(settings, files, PREFIX).uploaded == []

    retyped = [TreeFile(f.path, f.source, f.sha256, f.size, "text/plain; charset=utf-8", f.cache_control)
               if f.path == "mirrors.json" else f for f in files]
    assert sync_to_s3(settings, retyped, PREFIX).uploaded == []  # the cheap listing cannot see headers
    report = sync_to_s3(settings, retyped, PREFIX, recheck_headers=True)
    assert report.uploaded == ["mirrors.json"] and len(report.unchanged) == len(files) - 1
    assert client.head_object(Bucket=s3_bucket, Key=PREFIX + "mirrors.json")["ContentType"] == "text/plain; charset=utf-8"


def test_public_read_mirror_is_served_to_anyone_once_the_bucket_is_public(s3, s3_server, s3_bucket, tmp_path) -> None:
    root = _tree(tmp_path / "tree")
    settings = _with(s3, public_read=True)
    report = sync_to_s3(settings, tree_files(root), PREFIX)  # Swift's s3api takes ACL=public-read...
    assert len(report.uploaded) == 7
    index = s3_index_url(settings, PREFIX)
    assert index == s3_server.public_url(s3_bucket, PREFIX + "index.html")
    # ...and ignores it: Swift has no object ACLs, only the container's.
    assert requests.get(index, timeout=10).status_code in (401, 403)
    problem = public_read_problem(settings, PREFIX)
    assert problem and "without credentials" in problem and "\n" not in problem

    s3_server.make_public(s3_bucket)
    assert public_read_problem(settings, PREFIX) is None
    for path, kind in (("index.html", "text/html; charset=utf-8"), (KHMER_PAGE, "text/html; charset=utf-8"),
                       ("img/logo.png", "image/png")):
        answer = requests.get(s3_mirror_url(settings, PREFIX) + requests.utils.quote(path), timeout=10)
        assert answer.status_code == 200 and answer.content == (root / path).read_bytes(), path
        assert answer.headers["Content-Type"] == kind and answer.headers["Cache-Control"] == cache_control_for(path)


@pytest.mark.parametrize("code, message", [
    ("AccessControlListNotSupported",
     "refuses public-read objects (AccessControlListNotSupported): set s3.public_read = false"),
    ("AccessDenied", "refused the credentials (AccessDenied)"),
])
def test_a_bucket_refusing_public_acls_is_named_and_left_clean(s3, s3_server, s3_bucket, tmp_path,
                                                               monkeypatch, code, message) -> None:
    """AWS buckets with ACLs disabled answer AccessControlListNotSupported to ACL=public-read;
    with Block Public Access on, AccessDenied (which wrong credentials give too)."""
    from botocore.exceptions import ClientError

    class NoAcls(upload_s3.S3Store):
        @property
        def client(self) -> Any:
            real = super().client

            class Proxy:
                def __getattr__(self, name: str) -> Any:
                    return getattr(real, name)

                def put_object(self, **kwargs: Any) -> Any:
                    if "ACL" in kwargs:
                        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "PutObject")
                    return real.put_object(**kwargs)
            return Proxy()

    monkeypatch.setattr(upload_s3, "S3Store", NoAcls)
    with pytest.raises(StoreError) as err:
        sync_to_s3(_with(s3, public_read=True, concurrency=1), tree_files(_tree(tmp_path / "tree")), PREFIX)
    assert message in str(err.value) and "s3.public_read = false" in str(err.value) and "\n" not in str(err.value)
    assert list(iter_keys(s3_server.client(), s3_bucket, PREFIX)) == []


def test_bad_settings_and_credentials_give_one_line_naming_the_fix(s3, s3_server, tmp_path, monkeypatch) -> None:
    files = tree_files(_tree(tmp_path / "tree"))

    def error(settings: S3Settings, prefix: str = PREFIX, tree: list[TreeFile] = files) -> str:
        with pytest.raises(StoreError) as err:
            sync_to_s3(settings, tree, prefix)
        assert "\n" not in str(err.value)
        return str(err.value)

    assert "bucket 'no-such-bucket' does not exist" in error(_with(s3, bucket="no-such-bucket"))
    assert "cannot reach s3.endpoint_url = http://127.0.0.1:9" in error(_with(s3, endpoint_url="http://127.0.0.1:9"))
    assert "outside s3.prefix = 'archive/'" in error(s3, "mirrors/site/")
    assert "must be a folder" in error(s3, "archive/mirrors/site")
    assert "empty tree" in error(s3, tree=[])
    assert "bad or repeated path" in error(s3, tree=files + files[:1])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    assert "refused the credentials" in error(s3)
    use_credentials(monkeypatch, None, tmp_path)
    with pytest.raises(StoreUnavailable, match="s3: no credentials: set AWS_ACCESS_KEY_ID"):
        sync_to_s3(s3, files, PREFIX)


def test_a_file_changed_after_listing_is_not_published(s3, s3_server, s3_bucket, tmp_path) -> None:
    root = _tree(tmp_path / "tree")
    files = tree_files(root)
    (root / "style.css").write_text("tampered")
    with pytest.raises(StoreError, match="style.css changed since the tree was listed"):
        sync_to_s3(s3, files, PREFIX)
    assert PREFIX + "style.css" not in {o["Key"] for o in iter_keys(s3_server.client(), s3_bucket, PREFIX)}
    assert PREFIX + "index.html" not in {o["Key"] for o in iter_keys(s3_server.client(), s3_bucket, PREFIX)}


def test_many_uploads_at_once_keep_their_connections(s3, s3_server, s3_bucket, tmp_path, caplog) -> None:
    # boto3 keeps 10 connections unless told otherwise: with s3.concurrency above that, each
    # upload past the tenth opened a connection of its own and threw it away, with a warning.
    root = tmp_path / "many"
    for i in range(64):
        (root / f"p{i:02d}.html").parent.mkdir(parents=True, exist_ok=True)
        (root / f"p{i:02d}.html").write_text(f"<p>{i}</p>")
    caplog.set_level("WARNING", logger="urllib3.connectionpool")
    sync_to_s3(_with(s3, concurrency=16), tree_files(root), PREFIX)
    keys = {o["Key"] for o in iter_keys(s3_server.client(), s3_bucket, PREFIX)}
    assert {PREFIX + f"p{i:02d}.html" for i in range(64)} <= keys
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]


# -- IPFS ----------------------------------------------------------------------------------


def _ipfs(ipfs_node, command: str, **params: Any) -> Any:
    answer = requests.post(f"{ipfs_node.api_url}/api/v0/{command}", params=params, timeout=30)
    return answer.json()


def test_tree_is_added_as_one_pinned_directory_served_by_the_gateway(ipfs, ipfs_node, tmp_path) -> None:
    root = _tree(tmp_path / "tree")
    mfs = f"/refuge-test-{uuid.uuid4().hex[:8]}/mirrors/site"
    cid = add_tree_to_ipfs(ipfs, root, mfs)
    assert cid.startswith("bafy") and as_cidv1(cid) == cid
    assert ipfs_pinned(ipfs, cid)
    assert same_cid(_ipfs(ipfs_node, "files/stat", arg=mfs)["Hash"], cid)
    for path in ("index.html", "img/logo.png", KHMER_PAGE, SPACED):
        answer = requests.get(f"{ipfs_node.gateway_url}/ipfs/{cid}/{requests.utils.quote(path)}", timeout=30)
        assert answer.status_code == 200 and answer.content == (root / path).read_bytes(), path
    front = requests.get(f"{ipfs_node.gateway_url}/ipfs/{cid}/", timeout=30)
    assert front.content == (root / "index.html").read_bytes()

    copy = tmp_path / "elsewhere" / "other-name"
    copy.parent.mkdir()
    (root).rename(copy)  # same files, another folder name: the same CID
    assert add_tree_to_ipfs(ipfs, copy, mfs) == cid
    assert ipfs_pinned(ipfs, cid)

    (copy / "style.css").write_text("body { color: red; }")
    changed = add_tree_to_ipfs(ipfs, copy, mfs + "/")
    assert changed != cid and ipfs_pinned(ipfs, changed)
    assert same_cid(_ipfs(ipfs_node, "files/stat", arg=mfs)["Hash"], changed)
    assert not ipfs_pinned(ipfs, cid), "the replaced version of the same mirror is unpinned"

    # A version still wanted elsewhere (keep_pinned) stays pinned when replaced.
    back = add_tree_to_ipfs(ipfs, _tree(tmp_path / "again"), mfs, keep_pinned=[changed])
    assert back == cid and ipfs_pinned(ipfs, changed) and ipfs_pinned(ipfs, cid)


def test_ipfs_errors_are_one_line(ipfs, tmp_path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot reach ipfs.api = /ip4/127.0.0.1/tcp/9/http"):
        add_tree_to_ipfs(_with(ipfs, api="/ip4/127.0.0.1/tcp/9/http", timeout=5.0), _tree(tmp_path / "t"), "/m/s")
    with pytest.raises(StoreError, match="is not a folder"):
        add_tree_to_ipfs(ipfs, tmp_path / "missing", "/m/s")
    with pytest.raises(StoreError, match="must be an absolute path"):
        add_tree_to_ipfs(ipfs, tmp_path / "t", "m/s")


# -- pure helpers --------------------------------------------------------------------------

CID = "bafybeihszclsd4i5ovukkj7q4o6w2b5bu7seq6oszx4zaznepf27nwbgzy"


def test_ipfs_mirror_urls() -> None:
    base58 = "zdj7Wmmd9NCUFCj4xMjhp2SB1vDMr7P5h91QuWrtsLxSSbD73"  # the same CID as js-ipfs writes it
    assert ipfs_mirror_urls(["https://ipfs.io/", "http://127.0.0.1:8080", "dweb.link", "https://ipfs.io"],
                            ["https://dweb.link", "http://LOCALHOST:8080/"], base58) == [
        ("path", f"https://ipfs.io/ipfs/{CID}/"),
        ("path", f"http://127.0.0.1:8080/ipfs/{CID}/"),
        ("path", f"https://dweb.link/ipfs/{CID}/"),
        ("subdomain", f"https://{CID}.ipfs.dweb.link/"),
        ("subdomain", f"http://{CID}.ipfs.localhost:8080/"),
    ]
    assert ipfs_mirror_urls([], [], CID) == []
    with pytest.raises(ValueError):
        ipfs_mirror_urls(["https://ipfs.io"], [], "not-a-cid")


def test_s3_mirror_urls() -> None:
    s = S3Settings(bucket="b", prefix="archive/", public_base_url="https://cdn.example.org/b/")
    assert s3_mirror_url(s, "archive/mirrors/ខ្មែរ news/") == (
        "https://cdn.example.org/b/archive/mirrors/%E1%9E%81%E1%9F%92%E1%9E%98%E1%9F%82%E1%9E%9A%20news/")
    assert s3_index_url(s, "archive/mirrors/site/") == "https://cdn.example.org/b/archive/mirrors/site/index.html"
    assert s3_mirror_url(S3Settings(bucket="b"), "mirrors/site/") is None
    assert s3_index_url(S3Settings(bucket="b"), "mirrors/site/") is None
    assert public_read_problem(S3Settings(bucket="b"), "mirrors/site/") is None


def test_cache_and_content_types() -> None:
    for path in ("index.html", "a/b/page.html", "x.htm", "mirrors.json", "mirrors.json.minisig", "mirrors.html",
                 "refuge.pub", "sub/INDEX.HTML"):
        assert cache_control_for(path) == SHORT_CACHE, path
    for path in ("style.css", "img/logo.png", "app.js", "data/other.json", "font.woff2", "noext"):
        assert cache_control_for(path) == LONG_CACHE, path
    assert content_type_for("a/ទំព័រ.html") == "text/html; charset=utf-8"
    assert content_type_for("s.css") == "text/css; charset=utf-8"
    assert content_type_for("app.js") == "text/javascript; charset=utf-8"
    assert content_type_for("m.json") == "application/json; charset=utf-8"
    assert content_type_for("i.svg") == "image/svg+xml; charset=utf-8"
    assert content_type_for("p.png") == "image/png"
    assert content_type_for("noext") == "application/octet-stream"


def test_tree_files_lists_hashes_and_types(tmp_path) -> None:
    root = _tree(tmp_path / "tree")
    (root / ".well-known").mkdir()
    (root / ".well-known" / "x.txt").write_text("dot")
    (root / "link.html").symlink_to(root / "index.html")
    files = {f.path: f for f in tree_files(root)}
    assert set(files) == {"index.html", "style.css", "img/logo.png", KHMER_PAGE, SPACED, "km/index.html",
                          "mirrors.json", ".well-known/x.txt"}
    f = files["img/logo.png"]
    assert (f.source, f.size, f.sha256) == (root / "img/logo.png", len(PNG), hashlib.sha256(PNG).hexdigest())
    assert (f.content_type, f.cache_control) == ("image/png", LONG_CACHE)
