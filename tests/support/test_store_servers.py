"""The object-store test servers are real: signatures checked, bytes on disk, restarts survive."""

from __future__ import annotations

import os

import ipfshttpclient
import pytest
import requests
from botocore.exceptions import ClientError
from store_servers import IpfsNode, S3Server

HELLO = b"hello world\n"
HELLO_CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"  # CIDv1, raw leaf


def ipfs_add(node: IpfsNode, data: bytes) -> str:
    # js-ipfs answers CIDv1 in base58 unless asked for base32 (Kubo's default).
    r = requests.post(f"{node.api_url}/api/v0/add", timeout=10,
                      params={"cid-version": "1", "raw-leaves": "true", "cid-base": "base32"},
                      files={"file": ("file", data, "application/octet-stream")})
    r.raise_for_status()
    return r.json()["Hash"]


# -- S3 -----------------------------------------------------------------------------------


def test_s3_round_trip_and_signature_check(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="a/b.txt", Body=b"payload")
    assert client.get_object(Bucket=s3_bucket, Key="a/b.txt")["Body"].read() == b"payload"
    listed = client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["a/b.txt"]

    wrong = s3_server.client(aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as refused:
        wrong.get_object(Bucket=s3_bucket, Key="a/b.txt")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    # Needs the Content-MD5 the client adds; boto3 alone sends a CRC32 Swift rejects.
    deleted = client.delete_objects(Bucket=s3_bucket, Delete={"Objects": [{"Key": "a/b.txt"}]})
    assert [d["Key"] for d in deleted["Deleted"]] == ["a/b.txt"]
    assert client.list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 0


def test_s3_public_url_after_make_public(s3_server: S3Server, s3_bucket: str) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="site/index.html", Body=b"<p>hi</p>")
    url = s3_server.public_url(s3_bucket, "site/index.html")
    assert requests.get(url, timeout=10).status_code == 401
    s3_server.make_public(s3_bucket)
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"<p>hi</p>"


def test_s3_object_data_file_holds_the_bytes(s3_server: S3Server, s3_bucket: str) -> None:
    body = os.urandom(5000)
    s3_server.client().put_object(Bucket=s3_bucket, Key="dir/blob with space.bin", Body=body)
    path = s3_server.object_data_file(s3_bucket, "dir/blob with space.bin")
    assert path.is_relative_to(s3_server.root) and path.suffix == ".data"
    assert path.read_bytes() == body


def test_s3_down_and_up(s3_server: S3Server, s3_bucket: str) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="kept", Body=b"still here")
    with s3_server.down(), pytest.raises(requests.ConnectionError):
        requests.get(f"{s3_server.endpoint_url}/healthcheck", timeout=5)
    kept = s3_server.client().get_object(Bucket=s3_bucket, Key="kept")
    assert kept["Body"].read() == b"still here"


# -- IPFS ---------------------------------------------------------------------------------


def test_ipfs_add_gives_the_kubo_cid_and_the_gateway_serves_it(ipfs_node: IpfsNode) -> None:
    assert ipfs_node.version
    assert ipfs_add(ipfs_node, HELLO) == HELLO_CID
    r = requests.get(f"{ipfs_node.gateway_url}/ipfs/{HELLO_CID}", timeout=10)
    assert r.status_code == 200 and r.content == HELLO


def test_ipfshttpclient_talks_to_the_node(ipfs_node: IpfsNode) -> None:
    # Client(), not connect(): connect() refuses any daemon newer than 0.8.
    client = ipfshttpclient.Client(ipfs_node.api_multiaddr, timeout=10)
    try:
        assert client.version()["Version"] == ipfs_node.version
        cid = client.add_bytes(b"through ipfshttpclient")
        assert client.cat(cid) == b"through ipfshttpclient"
    finally:
        client.close()


def test_ipfs_down_and_up(ipfs_node: IpfsNode) -> None:
    cid = ipfs_add(ipfs_node, b"survives a restart")
    with ipfs_node.down(), pytest.raises(requests.ConnectionError):
        requests.post(f"{ipfs_node.api_url}/api/v0/version", timeout=5)
    r = requests.post(f"{ipfs_node.api_url}/api/v0/cat", params={"arg": cid}, timeout=10)
    assert r.status_code == 200 and r.content == b"survives a restart"
