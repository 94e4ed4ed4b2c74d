"""One HTTP exchange, fetched politely and kept exactly as received.

A fetch never follows redirects (the crawler records each hop), streams the body to
a spool file while hashing it, stops at the size limit, and retries connection
errors, 5xx and 429 with backoff, honouring Retry-After. crawler_session() is the
session it is made with: net's guarded session, refusing non-public addresses unless
the operator allowed private networks.
"""

from __future__ import annotations

import email.utils
import hashlib
import random
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from refuge.config.addresses import PrivateAddressRefused
from refuge.config.errors import first_line
from refuge.net.session import guarded_session, refusing_private

CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504, 507, 520, 521, 522, 523, 524})
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                   urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


# OpenSSL's verify codes for a chain that ends at a CA not trusted (self-signed, issuer
# unknown), which ca_file can mend; an expired or misnamed certificate it cannot.
_UNKNOWN_ISSUER = frozenset({18, 19, 20, 21})

STOPPED = "capture stopped"  # the reason a fetch gives when the capture's stop cut it short
# Responses that never end by design (server-sent events): refused at their head, since
# reading one would hold a fetch until max_response_bytes, a trickle at a time.
ENDLESS_TYPES = frozenset({"text/event-stream"})


class FetchError(Exception):
    """No usable response: the reason is for the capture's failure list."""


class TooLarge(FetchError):
    pass


@dataclass
class Exchange:
    url: str
    started: datetime
    request_line: str
    request_headers: list[tuple[str, str]]
    status: int
    reason: str
    protocol: str
    headers: list[tuple[str, str]]  # as received, except Transfer-Encoding removed and Content-Length made true
    body: IO[bytes]  # the payload as received (content-encoding kept), positioned at 0
    length: int
    payload_digest: str  # 'sha256:<hex>'
    ip: str | None = None
    block_digest: str | None = None  # of head + payload as recorded, when known while downloading
    attempts: int = 1
    gave_up: str | None = None  # why a retryable answer was kept without retrying

    def header(self, name: str) -> str | None:
        """The first value of a response header, by case-insensitive name."""
        first = self.__dict__.get("_first")
        if first is None:
            first = {}
            for k, v in self.headers:
                first.setdefault(k.lower(), v)
            self.__dict__["_first"] = first
        return first.get(name.lower())

    @property
    def media_type(self) -> str:
        return (self.header("Content-Type") or "").split(";", 1)[0].strip().lower() or "unk"

    def close(self) -> None:
        self.body.close()


def crawler_session(user_agent: str, allow_private: bool, allowed: Sequence[str] = (),
                    ca_file: str = "") -> requests.Session:
    """A session for one crawl worker thread: non-public addresses outside the ALLOWED
    networks refused unless ALLOW_PRIVATE, TLS verified against CA_FILE if one is given."""
    session = guarded_session(None if allow_private else refusing_private(allowed), headers={
        "User-Agent": user_agent,
        # Only encodings we can decode to find links; the bytes are stored as received.
        "Accept-Encoding": "gzip, deflate",
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "km,en;q=0.8,*;q=0.5",
    })
    if ca_file:
        session.verify = ca_file
    return session


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float
    retries: int
    backoff: float
    max_retry_after: float
    max_bytes: int
    spool_dir: Path | None = None


def fetch(session: requests.Session, url: str, policy: FetchPolicy,
          stop: threading.Event | None = None, *, deadline: float | None = None,
          cancel: threading.Event | None = None) -> Exchange:
    """GET url once, retrying transient failures. Raises FetchError when there is no response to keep.

    DEADLINE (a time.monotonic() value) bounds the whole fetch, retries and body included,
    and CANCEL set gives the body up: both are checked as each piece of the body arrives
    (each read is bounded by policy.timeout), so a response that trickles forever ends."""
    stop = stop or threading.Event()
    attempt = 0
    while True:
        attempt += 1
        _check(deadline, cancel)
        try:
            exchange = _fetch_once(session, url, policy,
                                   None if deadline is None and cancel is None else lambda: _check(deadline, cancel))
        except (TooLarge, PrivateAddressRefused) as exc:
            raise FetchError(str(exc)) from None
        except _NETWORK_ERRORS as exc:
            untrusted = _certificate_error(exc)
            if untrusted is not None:  # the same certificate comes back on every retry
                hint = " (ca_file names the CAs a capture trusts)" if untrusted.verify_code in _UNKNOWN_ISSUER else ""
                raise FetchError(f"TLS certificate not accepted: {untrusted.verify_message or untrusted}{hint}") from None
            if attempt > policy.retries:
                raise FetchError(f"network error after {attempt} attempts: {first_line(exc)}") from None
            if stop.wait(_backoff(policy, attempt)):
                raise FetchError(STOPPED) from None
            continue
        exchange.attempts = attempt
        if exchange.status not in _RETRY_STATUS or attempt > policy.retries:
            return exchange
        wait = _backoff(policy, attempt)
        retry_after = _retry_after(exchange.header("Retry-After"))
        if retry_after is not None:
            if retry_after > policy.max_retry_after:
                exchange.gave_up = (f"HTTP {exchange.status} with Retry-After {retry_after:.0f}s, longer than "
                                    f"max_retry_after ({policy.max_retry_after:.0f}s)")
                return exchange
            wait = max(wait, retry_after)
        exchange.close()
        if stop.wait(wait):
            raise FetchError(STOPPED) from None


def _check(deadline: float | None, cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise FetchError(STOPPED)
    if deadline is not None and time.monotonic() >= deadline:
        raise FetchError("no whole response within the time the page had")


def _fetch_once(session: requests.Session, url: str, policy: FetchPolicy,
                check: Callable[[], None] | None = None) -> Exchange:
    started = datetime.now(timezone.utc).replace(microsecond=0)
    resp = session.send(_prepare(session, url), stream=True, allow_redirects=False, timeout=policy.timeout)
    try:
        raw = resp.raw
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > policy.max_bytes:
            raise TooLarge(f"response of {int(declared)} bytes exceeds max_response_bytes ({policy.max_bytes})")
        kind = (resp.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind in ENDLESS_TYPES:
            raise FetchError(f"{kind}: a stream that never ends is not captured")
        ip = _peer_ip(raw)
        status, reason, protocol = raw.status, raw.reason or "", _protocol(raw.version)
        headers = _recorded_headers(raw)
        # Unless the body is chunked (its true Content-Length is known only at the end),
        # the recorded head is final now: hash it with the body for the WARC block digest,
        # sparing the writer a second pass over the payload.
        block = None if _chunked(headers) else hashlib.sha256(response_head(protocol, status, reason, headers))
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=policy.spool_dir)
        digest = hashlib.sha256()
        length = 0
        try:
            for chunk in _pieces(raw, check):
                length += len(chunk)
                if length > policy.max_bytes:
                    raise TooLarge(f"response exceeds max_response_bytes ({policy.max_bytes}) after {length} bytes")
                digest.update(chunk)
                if block is not None:
                    block.update(chunk)
                body.write(chunk)
        except BaseException:
            body.close()
            raise
        body.seek(0)
        if block is None:
            headers = _dechunked(headers, length)
        request_line, request_headers = _request_head(resp.request)
        return Exchange(
            url=url, started=started, request_line=request_line, request_headers=request_headers,
            status=status, reason=reason, protocol=protocol, headers=headers, body=body, length=length,
            payload_digest="sha256:" + digest.hexdigest(), ip=ip,
            block_digest="sha256:" + block.hexdigest() if block is not None else None,
        )
    finally:
        resp.close()


def _pieces(raw: urllib3.HTTPResponse, check: Callable[[], None] | None) -> Iterator[bytes]:
    """The body as received. With CHECK, piece by piece as it arrives (read1), CHECK called
    before each read: a full-size read would wait for a whole chunk of a slow trickle."""
    if check is None:
        yield from raw.stream(CHUNK, decode_content=False)
        return
    while True:
        check()
        piece = raw.read1(CHUNK, decode_content=False)
        if not piece:
            return
        yield piece


def _prepare(session: requests.Session, url: str) -> requests.PreparedRequest:
    """A GET for url with the session's headers and cookies.

    Session.request() would also merge proxies, auth, hooks and environment settings
    the crawler never uses; at crawl rates that is a fifth of the fetch's CPU.
    """
    prepared = requests.PreparedRequest()
    prepared.method = "GET"
    prepared.prepare_url(url, None)  # IDNA hosts, percent-encoded paths
    prepared.headers = requests.structures.CaseInsensitiveDict(session.headers)
    prepared.prepare_cookies(session.cookies)
    prepared.body = None
    prepared.hooks = {"response": []}
    return prepared


def response_head(protocol: str, status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    """The HTTP response head as recorded in a WARC response record (header bytes as
    received: http.client decodes them as Latin-1)."""
    lines = [f"{protocol} {status} {reason}".rstrip()] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def _recorded_headers(raw: urllib3.HTTPResponse) -> list[tuple[str, str]]:
    """The response headers in wire order, duplicates kept."""
    original = getattr(raw, "_original_response", None)
    return list(original.msg.items()) if original is not None else list(raw.headers.items())


def _chunked(headers: list[tuple[str, str]]) -> bool:
    return any(k.lower() == "transfer-encoding" for k, _ in headers)


def _dechunked(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    """The framing made to match the stored body: chunked transfer is decoded, so its
    header goes and a true Content-Length is set (else WARC readers would try to
    de-chunk plain bytes)."""
    out = [(k, v) for k, v in headers if k.lower() not in ("transfer-encoding", "content-length")]
    out.append(("Content-Length", str(length)))
    return out


def _request_head(prepared: requests.PreparedRequest) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(prepared.url)
    headers = [("Host", parts.netloc)] + [(k, v) for k, v in prepared.headers.items() if k.lower() != "host"]
    return f"{prepared.method} {prepared.path_url} HTTP/1.1", headers


def _peer_ip(raw: urllib3.HTTPResponse) -> str | None:
    try:
        return raw.connection.sock.getpeername()[0]  # type: ignore[union-attr]
    except (AttributeError, OSError, TypeError):
        return None


def _protocol(version: int) -> str:
    return {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(version, "HTTP/1.1")


def _backoff(policy: FetchPolicy, attempt: int) -> float:
    base = policy.backoff * (2 ** (attempt - 1))
    return base * (1 + random.random() * 0.25)  # jitter: workers hit by one outage don't return in step


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure under EXC, which requests and urllib3 wrap
    (as cause, context or a MaxRetryError's reason), if that is what it is."""
    todo: list[object] = [exc]
    seen: set[int] = set()
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
    return None
