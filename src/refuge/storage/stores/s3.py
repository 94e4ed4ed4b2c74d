"""The S3 store, through boto3, for AWS or any S3-compatible endpoint.

Keys are `PREFIX<target>/<capture>/<file>`. Every object carries its SHA-256 as
metadata (`x-amz-meta-sha256`, always) and as an S3 checksum where the service
takes one. Uploads go up in parts with bounded memory (part_size x concurrency).
Credentials come only from boto3's own chain. Besides the Store interface, a few
operations by whole key (list, head, put, delete) serve publishing static mirrors.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from refuge.config.errors import first_line, redact
from refuge.config.store_settings import S3Settings
from refuge.storage.stores.interface import READ_CHUNK, FileRef, Missing, StoreError, StoreUnavailable, file_digest

log = logging.getLogger(__name__)

SHA256_META = "sha256"  # object metadata key; S3 sends it as x-amz-meta-sha256
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


class S3Store:
    name = "s3"

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._client_pid = 0
        self._client_lock = threading.Lock()
        self._checksums = True  # until the service shows it does not keep them
        self._checksums_probed = False

    # -- the Store interface ------------------------------------------------------------

    def location(self, f: FileRef) -> str:
        return f"{self.settings.prefix}{f.relative}"

    def has(self, f: FileRef) -> bool:
        head = self.head(self.location(f))
        return (head is not None and head["ContentLength"] == f.size
                and head.get("Metadata", {}).get(SHA256_META) == f.sha256)

    def put(self, f: FileRef, source: Path) -> str:
        key = self.location(f)
        if f.size > self.settings.part_size:  # a smaller file goes up in one PUT: no parts to leave behind
            self.abort_unfinished(key)
        extra: dict[str, Any] = {"ContentType": f.content_type, "Metadata": {SHA256_META: f.sha256}}
        if self._checksums:
            extra["ChecksumAlgorithm"] = "SHA256"
        # The file is hashed again while it goes up (a second read, from the page cache):
        # a file damaged since it was sealed must not reach the bucket under its good hash.
        with ThreadPoolExecutor(1) as pool:
            rehash = pool.submit(file_digest, source)
            self._upload(source, key, extra)
            now = rehash.result()[0]
        if now != f.sha256:
            self.delete(key)
            raise StoreError(f"s3: not uploaded: {source} no longer has the SHA-256 it was sealed with "
                             f"(now {now}); run `refuge verify {f.capture} --repair`")
        self._probe_checksums(key)
        return key

    def _upload(self, source: Path, key: str, extra: dict[str, Any]) -> None:
        try:
            self.put_file(key, source, extra, in_parallel=True)
        except StoreError as exc:
            if not self._checksums or not _refuses_checksums(exc):
                raise
            # An older S3-compatible service (Swift's s3api before 2.33, say): the
            # SHA-256 still travels as metadata, which every service keeps.
            log.info("s3: the service takes no S3 checksums; keeping the SHA-256 in metadata only")
            self._checksums = False
            extra.pop("ChecksumAlgorithm")
            self.put_file(key, source, extra, in_parallel=True)

    def _probe_checksums(self, key: str) -> None:
        """After the first upload: does the service keep S3 checksums? Swift's s3api before
        2.33 takes the header and drops it; computing SHA-256 per part for it costs about
        CPU on every part for nothing (the metadata copy of the hash stays)."""
        if not self._checksums or self._checksums_probed:
            return
        self._checksums_probed = True
        head = self._call(self.client.head_object, Bucket=self.settings.bucket, Key=key, ChecksumMode="ENABLED")
        if not any(k.startswith("Checksum") for k in head):
            log.info("s3: the service keeps no S3 checksums; the SHA-256 travels as metadata only")
            self._checksums = False

    def read(self, f: FileRef) -> Iterator[bytes]:
        key = self.location(f)
        try:
            response = self._call(self.client.get_object, Bucket=self.settings.bucket, Key=key)
        except StoreError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise Missing(f"s3: no object s3://{self.settings.bucket}/{key}") from None
            raise
        return _chunks(response["Body"])

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"store": "s3", "where": self._where(), "reachable": False,
                               "version": None, "free_bytes": None, "error": None}
        try:
            response = self._call(self.client.head_bucket, Bucket=self.settings.bucket)
        except StoreError as exc:
            doc["error"] = str(exc)
            return doc
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        # S3 reports no free space: buckets have no size limit to report.
        doc.update(reachable=True, version=headers.get("server") or "unknown")
        return doc

    def describe(self, f: FileRef) -> dict[str, Any]:
        doc = {"bucket": self.settings.bucket, "key": self.location(f),
               "uri": f"s3://{self.settings.bucket}/{self.location(f)}"}
        if self.settings.endpoint_url:
            doc["endpoint"] = self.settings.endpoint_url
        return doc

    # -- objects by key (what publishing a mirror needs) ---------------------------------
    # Each call turns boto3's errors into one-line StoreErrors (see _call); none of them
    # adds s3.prefix: KEY is the whole key.

    def list_objects(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every object whose key starts with PREFIX: key -> its listing entry (Size, ETag,
        LastModified...)."""
        bucket = self.settings.bucket
        pages = self._call(lambda: list(self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix)))
        return {obj["Key"]: obj for page in pages for obj in page.get("Contents", [])}

    def head(self, key: str) -> dict[str, Any] | None:
        """KEY's headers (ContentLength, ContentType, CacheControl, Metadata...), or None
        when there is no such object."""
        try:
            return self._call(self.client.head_object, Bucket=self.settings.bucket, Key=key)
        except StoreError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes START to END (inclusive) of KEY, streamed in bounded chunks: one ranged GET.
        Raises Missing when there is no such object."""
        try:
            response = self._call(self.client.get_object, Bucket=self.settings.bucket, Key=key,
                                  Range=f"bytes={start}-{end}")
        except StoreError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise Missing(f"s3: no object s3://{self.settings.bucket}/{key}") from None
            raise
        return _chunks(response["Body"])

    def put_file(self, key: str, source: Path, extra: dict[str, Any], *, in_parallel: bool = False) -> None:
        """Upload the file SOURCE to KEY: in parts of s3.part_size when it is bigger, then
        s3.concurrency parts at a time with IN_PARALLEL, else one after another in the
        calling thread. EXTRA is boto3's ExtraArgs (ContentType, Metadata, ACL...)."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=self.settings.part_size,
                                multipart_chunksize=self.settings.part_size,
                                max_concurrency=self.settings.concurrency, use_threads=in_parallel)
        self._call(self.client.upload_file, str(source), self.settings.bucket, key, ExtraArgs=extra, Config=config)

    def put_bytes(self, key: str, data: bytes, extra: dict[str, Any]) -> None:
        """Put DATA at KEY in one request, with its Content-MD5 (the service refuses bytes
        damaged on the way). EXTRA as for :meth:`put_file`."""
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        self._call(self.client.put_object, Bucket=self.settings.bucket, Key=key, Body=data, ContentMD5=md5, **extra)

    def delete(self, key: str) -> None:
        """Delete KEY (no error when there is no such object)."""
        self._call(self.client.delete_object, Bucket=self.settings.bucket, Key=key)

    def delete_keys(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """Delete KEYS, DELETE_BATCH to a request. Returns the objects the service would not
        delete (each with Key, Code, Message) from the first request that had any, and then
        sends no more; [] when every key went."""
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i:i + DELETE_BATCH]
            answer = self._call(self.client.delete_objects, Bucket=self.settings.bucket,
                                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            if errors := answer.get("Errors"):
                return list(errors)
        return []

    def abort_unfinished(self, key: str) -> None:
        """Parts left by an upload that was killed midway are invisible but billed: drop them
        before starting again, so one key never has two half-uploads."""
        try:
            listing = self._call(self.client.list_multipart_uploads, Bucket=self.settings.bucket, Prefix=key)
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            return  # listing uploads is optional; some services refuse it
        for upload in listing.get("Uploads", []):
            if upload.get("Key") == key:
                try:
                    self._call(self.client.abort_multipart_upload, Bucket=self.settings.bucket, Key=key,
                               UploadId=upload["UploadId"])
                except StoreError as exc:
                    log.warning("s3: could not abort an unfinished upload of %s: %s", key, exc)

    # -- boto3 --------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        # A forked process (an export's workers) makes its own: a client's pooled
        # connections must not be shared with the parent.
        with self._client_lock:  # replay threads may ask for it first at the same moment
            if self._client is None or self._client_pid != os.getpid():
                self._client = self._new_client()
                self._client_pid = os.getpid()
            return self._client

    def _new_client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=self.settings.region,
            s3={"addressing_style": self.settings.addressing_style},
            connect_timeout=min(self.settings.timeout, 10.0), read_timeout=self.settings.timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            # One connection per upload running at once (botocore keeps 10 by default).
            max_pool_connections=max(10, self.settings.concurrency),
            # Checksums are asked for explicitly in put(); botocore's default CRC32 on
            # every request is refused by some S3-compatible services.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = boto3.session.Session().client("s3", endpoint_url=self.settings.endpoint_url or None, config=config)
        # DeleteObjects requires Content-MD5 on several services; botocore stopped sending it.
        client.meta.events.register("before-call.s3.DeleteObjects", _add_content_md5)
        return client

    def _where(self) -> str:
        return f"s3://{self.settings.bucket}/{self.settings.prefix} at {redact(self.settings.endpoint_url) or 'AWS'}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call boto3, turning its errors into one-line messages that name the setting to fix."""
        from boto3.exceptions import S3UploadFailedError
        from botocore import exceptions as bx

        endpoint = self.settings.endpoint_url or "AWS"
        try:
            return fn(*args, **kwargs)
        except bx.NoCredentialsError:
            raise StoreUnavailable(
                "s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) "
                "in the environment; refuge.toml never holds secrets") from None
        except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
                bx.ConnectionClosedError) as exc:
            raise StoreUnavailable(f"s3: cannot reach s3.endpoint_url = {endpoint}: {first_line(exc)}") from None
        except bx.ClientError as exc:
            raise _client_error(exc, self.settings.bucket, endpoint) from None
        except S3UploadFailedError as exc:
            raise _upload_error(exc, self.settings.bucket, endpoint) from None
        except (bx.BotoCoreError, ValueError) as exc:
            raise StoreError(f"s3: {first_line(exc)}") from None


_REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken",
            "ExpiredToken"}


def _client_error(exc: Any, bucket: str, endpoint: str) -> StoreError:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    message = exc.response.get("Error", {}).get("Message") or code
    if code in ("NoSuchBucket",) or (code == "404" and exc.operation_name == "HeadBucket"):
        err: StoreError = StoreUnavailable(f"s3: bucket {bucket!r} does not exist at {endpoint} (setting s3.bucket)")
    elif code in _REFUSED:
        shown = f"HTTP {code}" if code.isdigit() else code
        err = StoreUnavailable(f"s3: {endpoint} refused the credentials ({shown}): check AWS_ACCESS_KEY_ID "
                               f"and AWS_SECRET_ACCESS_KEY, and access to bucket {bucket!r}")
    elif code == "PermanentRedirect" or code == "AuthorizationHeaderMalformed":
        err = StoreUnavailable(f"s3: bucket {bucket!r} is in another region ({message}); set s3.region")
    else:
        err = StoreError(f"s3: {exc.operation_name} failed: {code}: {first_line(message)}")
    err.code = code  # type: ignore[attr-defined]
    return err


def _upload_error(exc: Exception, bucket: str, endpoint: str) -> StoreError:
    # upload_file wraps the real ClientError in text; recover the interesting part.
    text = first_line(exc)
    for code in sorted(_REFUSED):
        if code in text:
            err: StoreError = StoreUnavailable(
                f"s3: {endpoint} refused the credentials ({code}): check AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY, and access to bucket {bucket!r}")
            err.code = code  # type: ignore[attr-defined]
            return err
    if "NoSuchBucket" in text:
        return StoreUnavailable(f"s3: bucket {bucket!r} does not exist at {endpoint} (setting s3.bucket)")
    err = StoreError(f"s3: upload failed: {text}")
    err.code = "upload"  # type: ignore[attr-defined]
    return err


def _code(exc: Exception) -> str:
    return getattr(exc, "code", "")


def _refuses_checksums(exc: Exception) -> bool:
    text = str(exc).lower()
    return _code(exc) in ("NotImplemented", "InvalidRequest", "InvalidArgument", "upload") and (
        "checksum" in text or "not implemented" in text or "notimplemented" in text)


def _add_content_md5(params: dict[str, Any], **_: Any) -> None:
    body = params.get("body", b"")
    if isinstance(body, bytes) and "Content-MD5" not in params["headers"]:
        params["headers"]["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


def _chunks(body: Any) -> Iterator[bytes]:
    from botocore.exceptions import BotoCoreError
    from urllib3.exceptions import HTTPError

    try:
        yield from body.iter_chunks(READ_CHUNK)
    except (BotoCoreError, HTTPError, OSError) as exc:
        # The connection broke mid-object: that says nothing about the copy's bytes.
        raise StoreUnavailable(f"s3: reading stopped midway: {first_line(exc)}") from None
    finally:
        body.close()
